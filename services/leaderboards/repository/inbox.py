"""MongoDB storage of the events the leaderboards received: what a replay under new rules works from.

Each event is kept once (by id) with its payload, in arrival order. Whether an event was processed is
kept in Redis beside the boards (a mark per event), so this collection is only ever appended to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from shared.consumer import Received
from shared.contracts.events import Event
from shared.store import Repository

INBOX = "inbox"


def create_indexes(database: Database[Any]) -> None:
    """A replay reads the inbox in arrival order."""
    database[INBOX].create_index([("received_at", ASCENDING), ("position", ASCENDING)])


class InboxRepository(Repository):
    """Received events, each once, in arrival order."""

    collection_name = INBOX

    def record(self, events: Sequence[Received], received_at: datetime) -> set[str]:
        """Keep these events in one bulk write (those kept before stay as they were); return the ids kept before."""
        if not events:
            return set()
        documents = [
            (
                {
                    "_id": event.id,
                    "type": event.type,
                    "producer": event.producer,
                    "actor_id": event.actor_id,
                    "occurred_at": event.occurred_at,
                    "data": dict(data),
                    "received_at": received_at,
                    "position": position,
                },
                (),
            )
            for position, (event, data) in enumerate(events)
        ]
        inserted = set(self._store.insert_many(INBOX, documents))
        return {event.id for event, _ in events if event.id not in inserted}

    def in_order(self, batch: int = 1000) -> Iterator[list[Received]]:
        """Yield every received event with its payload, in arrival order, in batches."""
        cursor = self.documents.find({}).sort([("received_at", ASCENDING), ("position", ASCENDING)]).batch_size(batch)
        chunk: list[Received] = []
        for document in cursor:
            chunk.append((_event(document), document.get("data", {})))
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def count(self) -> int:
        """Return how many events were received."""
        return self.documents.count_documents({})


def _event(document: Mapping[str, Any]) -> Event:
    return Event(
        type=document["type"],
        producer=document.get("producer", ""),
        actor_id=document.get("actor_id"),
        data=document.get("data", {}),
        id=document["_id"],
        occurred_at=document["occurred_at"],
    )
