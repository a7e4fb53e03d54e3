"""The points ledger in MongoDB: append-only, one entry per (event, rule, user); the source of truth."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.leaderboards.domain.ledger import Category, LedgerEntry
from shared.store import Repository

LEDGER = "ledger"
# An entry is stored as its fields, keyed by its idempotency key.
_STORED_FIELDS = tuple(field.name for field in fields(LedgerEntry) if field.name != "key")


def _document(entry: LedgerEntry, day: date) -> dict[str, Any]:
    """Return an entry as a document: its key as `_id`, its fields, and its day."""
    document: dict[str, Any] = {"_id": entry.key, **{name: getattr(entry, name) for name in _STORED_FIELDS}}
    document["boards"] = list(entry.boards)
    document["category"] = entry.category.value
    # The entry's day in the deployment's time zone, which daily caps count by (for days past the counters).
    document["day"] = day.isoformat()
    return document


def _entry(document: dict[str, Any]) -> LedgerEntry:
    values: dict[str, Any] = {name: document.get(name) for name in _STORED_FIELDS}
    values["boards"] = tuple(values["boards"] or ())
    values["adjustments"] = tuple(values["adjustments"] or ())
    values["labels"] = tuple(values["labels"] or ())
    values["category"] = Category(values["category"] or Category.ACTIVITY)
    values["rule_version"] = values["rule_version"] or 1
    values["position"] = values["position"] or 0
    return LedgerEntry(key=document["_id"], **values)


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes the ledger is read by: a user's entries, their days, objects, events, its order."""
    ledger = database[LEDGER]
    ledger.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
    ledger.create_index([("user_id", ASCENDING), ("day", ASCENDING)])
    ledger.create_index([("user_id", ASCENDING), ("rule", ASCENDING), ("object_id", ASCENDING)])
    ledger.create_index([("event_id", ASCENDING)])
    ledger.create_index([("created_at", ASCENDING), ("position", ASCENDING)])


class LedgerRepository(Repository):
    """Reads and appends ledger entries."""

    collection_name = LEDGER

    def append(self, entries: Sequence[tuple[LedgerEntry, date]]) -> set[str]:
        """Insert entries (each with its local day) in one bulk write, skipping those recorded; return the new keys."""
        # Each entry keeps its place in the write (`position`, numbered by the caller): entries recorded together
        # (one `created_at`) are put on the boards in this order, live and by a rebuild.
        documents = [(_document(entry, day), ()) for entry, day in entries]
        return {str(key) for key in self._store.insert_many(LEDGER, documents)}

    def for_usage(
        self,
        *,
        user_ids: Sequence[str],
        days: Sequence[date],
        objects: Sequence[str],
        lifetime_rules: Sequence[str],
        excluding_events: Sequence[str],
    ) -> list[LedgerEntry]:
        """Return the entries that count against these users' caps: of these days, objects or rules."""
        if not user_ids:
            return []
        alternatives: list[dict[str, Any]] = [{"day": {"$in": [day.isoformat() for day in days]}}]
        if objects:
            alternatives.append({"object_id": {"$in": list(objects)}})
        if lifetime_rules:
            alternatives.append({"rule": {"$in": list(lifetime_rules)}})
        filters = {
            "user_id": {"$in": list(user_ids)},
            "event_id": {"$nin": list(excluding_events)},
            "$or": alternatives,
        }
        return [_entry(document) for document in self.documents.find(filters)]

    def get(self, key: str) -> LedgerEntry | None:
        """Return the entry with this key, if recorded."""
        document = self.documents.find_one({"_id": key})
        return _entry(document) if document else None

    def of_object(self, user_id: str, rule: str, object_id: str) -> list[LedgerEntry]:
        """Return a user's entries of a rule about an object, reversals included."""
        return [
            _entry(document)
            for document in self.documents.find({"user_id": user_id, "rule": rule, "object_id": object_id})
        ]

    def page_for(self, user_id: str, *, limit: int, offset: int) -> list[LedgerEntry]:
        """Return a page of a user's entries, newest first."""
        cursor = (
            self.documents.find({"user_id": user_id})
            # The newest write first and, within a write, its last entry first: the order they reached the
            # boards in, as the learner's newest entries kept in Redis list them.
            .sort([("created_at", DESCENDING), ("position", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_entry(document) for document in cursor]

    def everything(self, batch: int = 1000) -> Iterator[list[LedgerEntry]]:
        """Yield the whole ledger in batches, oldest first (for a rebuild)."""
        order = [("created_at", ASCENDING), ("position", ASCENDING), ("_id", ASCENDING)]
        cursor = self.documents.find({}).sort(order).batch_size(batch)
        chunk: list[LedgerEntry] = []
        for document in cursor:
            chunk.append(_entry(document))
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def count(self) -> int:
        """Return how many entries the ledger holds."""
        return self.documents.count_documents({})
