"""MongoDB storage of the batches on their way to the boards: what the repair sweep finishes after a crash.

A batch's entries are written here, in one document, before they go to the ledger, and the document is
removed once they are on the boards with their badges. A document older than the repair's grace period
names a batch a crash interrupted. (Marking each ledger entry instead would be a write per entry, and
finding them again a query over the whole ledger.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from services.leaderboards.domain.ledger import LedgerEntry, PendingBatch
from services.leaderboards.repository.ledger import entry_document, entry_from_document
from shared.store import Repository

PENDING = "pending"


def create_indexes(database: Database[Any]) -> None:
    """The sweep reads the oldest batches first."""
    database[PENDING].create_index([("created_at", ASCENDING)])


class PendingRepository(Repository):
    """Batches between the ledger and the boards; a handful at most, so any query here is cheap."""

    collection_name = PENDING

    def open(self, batch_id: str, entries: Sequence[LedgerEntry], now: datetime) -> None:
        """Record a batch about to be written to the ledger and put on the boards."""
        documents = [entry_document(entry) for entry in entries]
        self._store.insert(PENDING, {"_id": batch_id, "created_at": now, "entries": documents})

    def close(self, batch_id: str) -> None:
        """Forget a batch that is on the boards."""
        self.documents.delete_one({"_id": batch_id})

    def holding(self, keys: Sequence[str]) -> list[PendingBatch]:
        """Return the batches that hold any of these entries."""
        if not keys:
            return []
        cursor = self.documents.find({"entries._id": {"$in": list(keys)}})
        return [_batch(document) for document in cursor]

    def stale(self, created_before: datetime, limit: int = 50) -> list[PendingBatch]:
        """Return batches opened before `created_before` and never closed (a crash interrupted them)."""
        cursor = self.documents.find({"created_at": {"$lte": created_before}}).sort([("created_at", ASCENDING)])
        return [_batch(document) for document in cursor.limit(limit)]


def _batch(document: dict[str, Any]) -> PendingBatch:
    return PendingBatch(document["_id"], [entry_from_document(item) for item in document.get("entries", ())])
