"""A service's MongoDB database as its repositories use it: ids, lazy indexes, pages, and writes with events.

Every write that announces something goes through `Store.insert` or `Store.update` with its events: the
events ride in the same document write (the transactional outbox, `shared.outbox`) and are dispatched to
their queues as soon as the write is made. Repositories therefore never call the outbox, and use cases
never name a collection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from shared.contracts.events import Event
from shared.outbox import OUTBOX_FIELD, OUTBOX_SINCE_FIELD, Outbox, ensure_outbox_index, outbox_fields, with_outbox

# The server's code for a write a unique index refuses.
DUPLICATE_KEY = 11000
# Reads never return the events waiting in a document's outbox.
PUBLIC_PROJECTION: Mapping[str, int] = {OUTBOX_FIELD: 0, OUTBOX_SINCE_FIELD: 0}

IndexCreator = Callable[[Database[Any]], None]


def is_duplicate_key(error: Exception) -> bool:
    """Return whether a write broke a unique index.

    FerretDB (SQLite) answers an *update* that breaks one with a generic error naming SQLite's constraint,
    not with the duplicate-key code MongoDB and mongomock give.
    """
    if isinstance(error, DuplicateKeyError):
        return True
    return isinstance(error, OperationFailure) and "UNIQUE constraint failed" in str(error)


class UnannouncedCollection(RuntimeError):
    """Events were written into a collection the outbox relay does not watch (a wiring mistake)."""


class Store:
    """One service's database: creates its indexes once per process, writes events with their documents."""

    def __init__(
        self,
        database: Callable[[], Database[Any]],
        index_creators: Sequence[IndexCreator] = (),
        *,
        outbox: Outbox | None = None,
    ) -> None:
        self._database = database
        self._index_creators = tuple(index_creators)
        self.outbox = outbox
        self._ready = False
        self._lock = threading.Lock()

    def collection(self, name: str) -> Collection[Any]:
        """Return a collection, creating every index of the service first if this process has not yet."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    database = self._database()
                    for create_indexes in self._index_creators:
                        create_indexes(database)
                    for watched in self.outbox.collections if self.outbox else ():
                        ensure_outbox_index(database, watched)
                    self._ready = True
        return self._database()[name]

    def _outbox_for(self, name: str, events: Sequence[Event]) -> Outbox | None:
        if not events:
            return None
        if self.outbox is None or name not in self.outbox.collections:
            raise UnannouncedCollection(f"events written to {name!r}, which the outbox relay does not watch")
        return self.outbox

    def insert(self, name: str, document: Mapping[str, Any], events: Sequence[Event] = ()) -> None:
        """Insert a document with the events announcing it, then dispatch them (DuplicateKeyError as pymongo)."""
        outbox = self._outbox_for(name, events)
        self.collection(name).insert_one({**document, **outbox_fields(events, _pending_since(events))})
        if outbox is not None:
            outbox.dispatch(name, document["_id"], events)

    def insert_many(self, name: str, items: Sequence[tuple[Mapping[str, Any], Sequence[Event]]]) -> list[Any]:
        """Insert documents with their events in one unordered bulk write; return the ids inserted.

        A document a unique index refuses is skipped with its events (it exists already); the events of the
        others are dispatched together, in batches.
        """
        if not items:
            return []
        outbox = self._outbox_for(name, [event for _, events in items for event in events])
        documents = [{**document, **outbox_fields(events, _pending_since(events))} for document, events in items]
        refused: set[int] = set()
        try:
            self.collection(name).insert_many(documents, ordered=False)
        except BulkWriteError as error:
            failures = error.details.get("writeErrors", [])
            if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
                raise
            refused = {failure["index"] for failure in failures}
        inserted = [(document, events) for index, (document, events) in enumerate(items) if index not in refused]
        if outbox is not None:
            outbox.dispatch_many(name, {document["_id"]: events for document, events in inserted if events})
        return [document["_id"] for document, _ in inserted]

    def update(
        self, name: str, filters: Mapping[str, Any], update: dict[str, Any], events: Sequence[Event] = ()
    ) -> bool:
        """Update the one document matching `filters` together with its events; return whether one matched."""
        outbox = self._outbox_for(name, events)
        if outbox is not None:
            with_outbox(update, events, _pending_since(events))
        result = self.collection(name).update_one(dict(filters), update)
        matched = result.matched_count == 1
        if matched and outbox is not None:
            outbox.dispatch(name, filters["_id"], events)
        return matched


class Repository:
    """A repository over one collection of its service's store: reads the documents, writes with events."""

    collection_name: ClassVar[str]

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def documents(self) -> Collection[Any]:
        """Return this repository's collection."""
        return self._store.collection(self.collection_name)

    def _insert(self, document: Mapping[str, Any], events: Sequence[Event] = ()) -> None:
        self._store.insert(self.collection_name, document, events)

    def _update(self, filters: Mapping[str, Any], update: dict[str, Any], events: Sequence[Event] = ()) -> bool:
        return self._store.update(self.collection_name, filters, update, events)


def _pending_since(events: Sequence[Event]) -> Any:
    """Return when a write's events became pending: the moment the earliest of them happened."""
    return min(event.occurred_at for event in events) if events else None


def find_page(
    collection: Collection[Any],
    filters: Mapping[str, Any],
    *,
    projection: Mapping[str, Any],
    sort: Sequence[tuple[str, int]],
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of matching documents in `sort` order, and how many match in all."""
    total = collection.count_documents(dict(filters))
    cursor = collection.find(dict(filters), dict(projection)).sort(list(sort)).skip(offset).limit(limit)
    return list(cursor), total
