"""The service's MongoDB database: ids, lazily created indexes, and what reads never return."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database

from shared.outbox import OUTBOX_FIELD, OUTBOX_SINCE_FIELD

# Reads never return the events waiting in a document's outbox.
PUBLIC_PROJECTION = {OUTBOX_FIELD: 0, OUTBOX_SINCE_FIELD: 0}

IndexCreator = Callable[[Database[Any]], None]


def new_id() -> str:
    """Return a new object id: 24 hex digits, roughly ordered by creation time."""
    return str(ObjectId())


class Store:
    """Creates this service's indexes once per process, before the first use of any collection."""

    def __init__(self, database: Callable[[], Database[Any]], index_creators: Sequence[IndexCreator]) -> None:
        self._database = database
        self._index_creators = tuple(index_creators)
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
                    self._ready = True
        return self._database()[name]


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
    total = collection.count_documents(filters)
    cursor = collection.find(filters, projection).sort(list(sort)).skip(offset).limit(limit)
    return list(cursor), total
