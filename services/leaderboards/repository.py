"""The points ledger in MongoDB: append-only, one entry per (event, rule, user); the source of truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.leaderboards.domain import LedgerEntry
from shared.store import Repository

LEDGER = "ledger"


# An entry is stored as its fields, keyed by its idempotency key.
_STORED_FIELDS = tuple(field.name for field in fields(LedgerEntry) if field.name != "key")


def _document(entry: LedgerEntry) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": entry.key, **{name: getattr(entry, name) for name in _STORED_FIELDS}}
    document["boards"] = list(entry.boards)
    # Cleared once the entry is on the Redis boards; the repair sweep finds entries a crash left behind.
    document["applied"] = False
    return document


def _entry(document: dict[str, Any]) -> LedgerEntry:
    values = {name: document[name] for name in _STORED_FIELDS}
    return LedgerEntry(key=document["_id"], **{**values, "boards": tuple(values["boards"])})


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes the ledger is read by: a user's entries, and entries not yet on the boards."""
    ledger = database[LEDGER]
    ledger.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
    ledger.create_index([("applied", ASCENDING), ("created_at", ASCENDING)])


class LedgerRepository(Repository):
    """Reads and appends ledger entries."""

    collection_name = LEDGER

    def append(self, entries: Sequence[LedgerEntry]) -> int:
        """Insert entries in one bulk write, skipping any already recorded; return how many were new."""
        return len(self._store.insert_many(LEDGER, [(_document(entry), ()) for entry in entries]))

    def get_many(self, keys: Sequence[str]) -> list[LedgerEntry]:
        """Return the stored entries with these keys (what was recorded first is what counts)."""
        if not keys:
            return []
        return [_entry(document) for document in self.documents.find({"_id": {"$in": list(keys)}})]

    def mark_applied(self, keys: Sequence[str]) -> None:
        """Record that these entries are on the boards."""
        if keys:
            self.documents.update_many({"_id": {"$in": list(keys)}}, {"$set": {"applied": True}})

    def unapplied(self, created_before: datetime, limit: int = 500) -> list[LedgerEntry]:
        """Return entries recorded before `created_before` that never reached the boards."""
        cursor = (
            self.documents.find({"applied": False, "created_at": {"$lte": created_before}})
            .sort([("created_at", ASCENDING)])
            .limit(limit)
        )
        return [_entry(document) for document in cursor]

    def for_user(self, user_id: str, *, limit: int, offset: int) -> tuple[list[LedgerEntry], int, int]:
        """Return a page of a user's entries (newest first), their count and the user's total points."""
        summary = list(
            self.documents.aggregate(
                [
                    {"$match": {"user_id": user_id}},
                    {"$group": {"_id": None, "points": {"$sum": "$points"}}},
                ]
            )
        )
        total_points = int(summary[0]["points"]) if summary else 0
        # FerretDB 1.24 answers {"$sum": 1} in $group with 0, so the count is asked for separately.
        count = self.documents.count_documents({"user_id": user_id})
        cursor = (
            self.documents.find({"user_id": user_id})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_entry(document) for document in cursor], count, total_points
