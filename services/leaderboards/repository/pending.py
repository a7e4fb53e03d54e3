"""Redis storage of the batches on their way to the boards: what the repair sweep finishes after a crash.

A batch's entries are written here, in one key, before they go to the ledger, and the key is removed once
they are on the boards with their badges. A batch older than the repair's grace period is one a crash
interrupted. The batches live beside the boards they are on their way to: a Redis that lost them lost
those boards' updates too, and `connective leaderboards rebuild` puts both back from the ledger. (Keeping
them in MongoDB cost two writes a batch, a quarter of a batch's time on FerretDB; marking each ledger
entry instead would be a write per entry, and finding them again a query over the whole ledger.)

Keys: `lb:pending` (a sorted set of batch ids scored by when they were opened) and `lb:pending:<id>`
(the batch's entries as JSON); both change together, in one MULTI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis

from services.leaderboards.domain.ledger import Category, LedgerEntry, PendingBatch
from shared.clock import to_milliseconds

PENDING_KEY = "lb:pending"
# However many batches a crash loop left behind, a look at them reads this many at most.
MAX_PENDING_READ = 1000


def _batch_key(batch_id: str) -> str:
    return f"{PENDING_KEY}:{batch_id}"


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """Return an entry as JSON, its times to the millisecond as the ledger keeps them."""
    return {
        "key": entry.key,
        "user_id": entry.user_id,
        "points": entry.points,
        "rule": entry.rule,
        "reason": entry.reason,
        "event_id": entry.event_id,
        "event_type": entry.event_type,
        "boards": list(entry.boards),
        "occurred_at": to_milliseconds(entry.occurred_at).isoformat(),
        "created_at": to_milliseconds(entry.created_at).isoformat(),
        "rule_version": entry.rule_version,
        "object_id": entry.object_id,
        "category": entry.category.value,
        "reverses": entry.reverses,
        "actor_id": entry.actor_id,
        "adjustments": list(entry.adjustments),
        "labels": list(entry.labels),
    }


def entry_from_json(document: dict[str, Any]) -> LedgerEntry:
    """Return the entry `entry_json` wrote."""
    return LedgerEntry(
        **{
            **document,
            "boards": tuple(document["boards"]),
            "occurred_at": datetime.fromisoformat(document["occurred_at"]),
            "created_at": datetime.fromisoformat(document["created_at"]),
            "category": Category(document["category"]),
            "adjustments": tuple(document["adjustments"]),
            "labels": tuple(document["labels"]),
        }
    )


class PendingBatches:
    """Batches between the ledger and the boards; a handful at most, so reading them all is cheap."""

    def __init__(self, connection: Callable[[], redis.Redis]) -> None:
        self._connection = connection

    def open(self, batch_id: str, entries: Sequence[LedgerEntry], now: datetime) -> None:
        """Record a batch about to be written to the ledger and put on the boards."""
        body = json.dumps([entry_json(entry) for entry in entries], separators=(",", ":"))
        with self._connection().pipeline(transaction=True) as pipeline:
            pipeline.set(_batch_key(batch_id), body)
            pipeline.zadd(PENDING_KEY, {batch_id: now.timestamp()})
            pipeline.execute()

    def close(self, batch_id: str) -> None:
        """Forget a batch that is on the boards."""
        with self._connection().pipeline(transaction=True) as pipeline:
            pipeline.delete(_batch_key(batch_id))
            pipeline.zrem(PENDING_KEY, batch_id)
            pipeline.execute()

    def holding(self, keys: Sequence[str]) -> list[PendingBatch]:
        """Return the batches that hold any of these entries."""
        if not keys:
            return []
        wanted = set(keys)
        ids: Any = self._connection().zrange(PENDING_KEY, 0, MAX_PENDING_READ - 1)
        return [batch for batch in self._read(ids) if wanted & {entry.key for entry in batch.entries}]

    def stale(self, created_before: datetime, limit: int = 50) -> list[PendingBatch]:
        """Return batches opened before `created_before` and never closed (a crash interrupted them), oldest first."""
        ids: Any = self._connection().zrangebyscore(PENDING_KEY, "-inf", created_before.timestamp(), start=0, num=limit)
        return self._read(ids)

    def _read(self, ids: Sequence[bytes | str]) -> list[PendingBatch]:
        if not ids:
            return []
        names = [item.decode() if isinstance(item, bytes) else item for item in ids]
        bodies = self._connection().mget([_batch_key(name) for name in names])
        return [
            PendingBatch(name, [entry_from_json(item) for item in json.loads(body)])
            for name, body in zip(names, bodies, strict=True)
            if body is not None
        ]
