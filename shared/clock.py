"""The time as MongoDB stores it: UTC, to the millisecond (BSON dates hold milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Return now in UTC, cut to milliseconds so a value read back equals the value written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
