"""Pure rules of the ledger: its entries, their keys, and reversals (corrections are entries, never edits)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

# The most points one staff award may give or take.
MAX_MANUAL_POINTS = 1000
# Stream messages' ids are derived from what they announce, so a message is recognisable when replayed.
_STREAM_NAMESPACE = uuid.UUID("6f1d2b8e-3c4a-4f5e-9a7b-1c2d3e4f5a6b")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class Category(StrEnum):
    """What kind of points an entry holds, for the daily cap on activity."""

    # Sharing, endorsements, updates, verifications, reviews: capped per day in all.
    ACTIVITY = "activity"
    # A challenge's points for graded work: not capped.
    CHALLENGE = "challenge"
    # Awarded or corrected by staff.
    MANUAL = "manual"


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the append-only ledger: who got how many points, by which rule, for which event, and why."""

    key: str
    user_id: str
    points: int
    rule: str
    reason: str
    event_id: str
    event_type: str
    boards: tuple[str, ...]
    occurred_at: datetime
    created_at: datetime
    rule_version: int = 1
    object_id: str | None = None
    category: Category = Category.ACTIVITY
    # A reversal names the entry it takes back; it holds the opposite points.
    reverses: str | None = None
    # Staff who made a manual award or a reversal.
    actor_id: str | None = None
    # The adjustments that applied (their fields, e.g. `late`), and labels the rule keeps (e.g. the reviewed
    # author's cohorts): what badges are worked out from besides counts.
    adjustments: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    # Its place among the entries recorded with it (one `created_at`), which the ledger's order follows.
    position: int = field(default=0, compare=False)


# The ledger's order as one number (ledger_order): milliseconds since the epoch times this, plus the place.
ORDER_PLACES = 1000


def ledger_order(entry: LedgerEntry) -> int:
    """Return an entry's place in the ledger's order (recorded when, then where in its write) as one number.

    What Redis keeps in this order beside the boards (a learner's newest entries, a badge's evidence) is then
    the same however the entries reached it: a batch a crash interrupted is put on the boards after batches
    recorded later, and a rebuild puts everything on in the ledger's order. Times count to the millisecond,
    as the ledger keeps them; a write's places beyond ORDER_PLACES share the last one (then Redis orders by
    the member). The number stays below 2^53, exact as a Redis score, until the year 2255.
    """
    millis = (entry.created_at - _EPOCH) // _MILLISECOND
    return millis * ORDER_PLACES + min(entry.position, ORDER_PLACES - 1)


def ledger_key(event_id: str, rule: str, user_id: str) -> str:
    """Return the entry's unique key: one award per event, rule and user, however often the event arrives."""
    return f"{event_id}:{rule}:{user_id}"


def reversal_key(entry_key: str) -> str:
    """Return the key of the reversal of an entry: an entry is reversed once."""
    return f"reversal:{entry_key}"


def reversal_of(
    entry: LedgerEntry,
    *,
    reason: str,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    now: datetime,
    actor_id: str | None,
) -> LedgerEntry:
    """Return the entry that takes `entry` back: the opposite points, on the same boards, saying why."""
    if entry.reverses is not None:
        raise ValueError("a reversal is itself never reversed; make a new award instead")
    return replace(
        entry,
        key=reversal_key(entry.key),
        points=-entry.points,
        rule=entry.rule,
        reason=reason,
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        created_at=now,
        reverses=entry.key,
        actor_id=actor_id,
    )


def stream_event_id(key: str) -> str:
    """Return the id of the stream event announcing `key` (the same every time it is worked out)."""
    return str(uuid.uuid5(_STREAM_NAMESPACE, key))


@dataclass(frozen=True)
class UserPoints:
    """A learner's kept balance, how many entries made it, and a page of them, newest first."""

    user_id: str
    total: int
    count: int
    entries: list[LedgerEntry]
    level: int
    next_level_at: int | None


@dataclass(frozen=True)
class PendingBatch:
    """Entries recorded together and not yet known to be on the boards."""

    batch_id: str
    entries: list[LedgerEntry]


# How many of a learner's newest entries are kept rendered beside the boards (the default page size), so
# the first page of `GET /users/{id}/points` needs no database.
RECENT_KEPT = 20


def _moment(value: datetime) -> str:
    # To the millisecond, as the ledger keeps times (BSON), so a kept entry reads as a stored one.
    return value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat()


def entry_view(entry: LedgerEntry) -> dict[str, Any]:
    """Return a ledger entry as `GET /users/{id}/points` shows it."""
    return {
        "actor_id": entry.actor_id,
        "boards": list(entry.boards),
        "category": str(entry.category),
        "created_at": _moment(entry.created_at),
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "key": entry.key,
        "object_id": entry.object_id,
        "occurred_at": _moment(entry.occurred_at),
        "points": entry.points,
        "reason": entry.reason,
        "reverses": entry.reverses,
        "rule": entry.rule,
        "rule_version": entry.rule_version,
        "user_id": entry.user_id,
    }


def render_entry(entry: LedgerEntry) -> bytes:
    """Return an entry's view as JSON, as kept among a learner's newest entries."""
    return json.dumps(entry_view(entry), separators=(",", ":"), sort_keys=True).encode()


def render_points(points: UserPoints, rendered_entries: list[bytes]) -> bytes:
    """Return the body of `GET /users/{id}/points` around entries already rendered (`render_entry`)."""
    head = {
        "count": points.count,
        "level": points.level,
        "next_level_at": points.next_level_at,
        "total": points.total,
        "user_id": points.user_id,
    }
    rest = json.dumps(head, separators=(",", ":"), sort_keys=True).encode()
    return rest[:-1] + b',"entries":[' + b",".join(rendered_entries) + b"]}"
