"""The time as MongoDB stores it: UTC, to the millisecond (BSON dates hold milliseconds)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

# For tests only, like the crash points (shared.faults): a process started with this variable lives that many
# seconds ahead, so an end-to-end test can send a review after its due time without waiting for it. Never set
# it in production.
CLOCK_OFFSET_VARIABLE = "CONNECTIVE_CLOCK_OFFSET_SECONDS"
_OFFSET = timedelta(seconds=float(os.environ.get(CLOCK_OFFSET_VARIABLE, "").strip() or 0))


def to_milliseconds(moment: datetime) -> datetime:
    """Return the moment cut to milliseconds, as BSON stores it, so a value read back equals the one written."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """Return now in UTC, cut to milliseconds (ahead by CONNECTIVE_CLOCK_OFFSET_SECONDS in a test's process)."""
    return to_milliseconds(datetime.now(UTC) + _OFFSET)
