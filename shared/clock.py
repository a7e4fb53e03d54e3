"""The time as MongoDB stores it: UTC, to the millisecond (BSON dates hold milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def to_milliseconds(moment: datetime) -> datetime:
    """Return the moment cut to milliseconds, as BSON stores it, so a value read back equals the one written."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """Return now in UTC, cut to milliseconds."""
    return to_milliseconds(datetime.now(UTC))
