"""Transactional outbox: events ride in the same atomic document write as the change they announce.

A write stores its events under `_outbox` in the document it changes (MongoDB writes are atomic per
document). The request then publishes them and removes them. If the process dies in between, the
relay, run periodically by the service's worker, finds documents whose events are older than a grace
period and publishes them again. Consumers are idempotent by event id, so a second delivery is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo.database import Database

from shared.contracts.events import Event, InvalidEvent
from shared.faults import crash_point

OUTBOX_FIELD = "_outbox"
OUTBOX_SINCE_FIELD = "_outbox_since"
# Events published per job when many documents are written at once (an allocation of a whole class).
DISPATCH_BATCH = 500

log = structlog.get_logger(__name__)


def outbox_fields(events: Sequence[Event], now: datetime) -> dict[str, Any]:
    """Return the fields that put `events` in the outbox of a document about to be inserted."""
    if not events:
        return {}
    return {OUTBOX_FIELD: {event.id: event.to_dict() for event in events}, OUTBOX_SINCE_FIELD: now}


def outbox_update(events: Sequence[Event], now: datetime) -> dict[str, dict[str, Any]]:
    """Return update operators that add `events` to an existing document's outbox."""
    if not events:
        return {}
    return {
        "$set": {f"{OUTBOX_FIELD}.{event.id}": event.to_dict() for event in events},
        "$min": {OUTBOX_SINCE_FIELD: now},
    }


def with_outbox(update: dict[str, Any], events: Sequence[Event], now: datetime) -> dict[str, Any]:
    """Return `update` (an update document) extended to add `events` to the document's outbox."""
    for operator, values in outbox_update(events, now).items():
        update.setdefault(operator, {}).update(values)
    return update


def ensure_outbox_index(database: Database[Any], collection: str) -> None:
    """Index the pending marker so the relay finds pending documents without a scan."""
    database[collection].create_index([(OUTBOX_SINCE_FIELD, 1)], sparse=True, name="outbox_pending")


class Outbox:
    """Publishes events stored in documents, and clears them once the queue has them."""

    def __init__(
        self,
        database: Callable[[], Database[Any]],
        publish: Callable[[Sequence[Event]], object],
        *,
        collections: Iterable[str],
        grace_seconds: float = 10.0,
    ) -> None:
        self._database = database
        self.publish = publish
        self.collections = tuple(collections)
        self.grace = timedelta(seconds=grace_seconds)

    def dispatch(self, collection: str, document_id: Any, events: Sequence[Event]) -> bool:
        """Publish events just written with a document; on failure leave them for the relay."""
        if not events:
            return True
        crash_point("outbox.before_publish")
        try:
            self.publish(events)
        except Exception as error:
            log.warning(
                "outbox_publish_deferred",
                collection=collection,
                document_id=str(document_id),
                error=str(error),
                event_ids=[event.id for event in events],
            )
            return False
        crash_point("outbox.after_publish")
        self._clear(collection, document_id, [event.id for event in events])
        return True

    def dispatch_many(self, collection: str, pending: Mapping[Any, Sequence[Event]]) -> bool:
        """Publish the events just written with many documents, a batch per job; on failure leave them for the relay.

        Publishing in batches of DISPATCH_BATCH events keeps each job (and the consumer's batch) bounded.
        """
        items = [(document_id, event) for document_id, events in pending.items() for event in events]
        for start in range(0, len(items), DISPATCH_BATCH):
            chunk = items[start : start + DISPATCH_BATCH]
            crash_point("outbox.before_publish")
            try:
                self.publish([event for _, event in chunk])
            except Exception as error:
                log.warning("outbox_publish_deferred", collection=collection, error=str(error), count=len(chunk))
                return False
            crash_point("outbox.after_publish")
            documents = self._database()[collection]
            document_ids = list({document_id for document_id, _ in chunk})
            documents.update_many(
                {"_id": {"$in": document_ids}}, {"$unset": {f"{OUTBOX_FIELD}.{event.id}": "" for _, event in chunk}}
            )
            documents.update_many(
                {"_id": {"$in": document_ids}, OUTBOX_FIELD: {}}, {"$unset": {OUTBOX_FIELD: "", OUTBOX_SINCE_FIELD: ""}}
            )
        return True

    def _clear(self, collection: str, document_id: Any, event_ids: Sequence[str]) -> None:
        documents = self._database()[collection]
        documents.update_one(
            {"_id": document_id}, {"$unset": {f"{OUTBOX_FIELD}.{event_id}": "" for event_id in event_ids}}
        )
        # Drop the pending marker only once nothing is left (another write may have added events since).
        documents.update_one(
            {"_id": document_id, OUTBOX_FIELD: {}}, {"$unset": {OUTBOX_FIELD: "", OUTBOX_SINCE_FIELD: ""}}
        )

    def relay_pending(self, now: datetime | None = None, limit: int = 200) -> int:
        """Publish events left behind by a crash or a broker outage; return how many were sent."""
        cutoff = (now or datetime.now(UTC)) - self.grace
        sent = 0
        for collection in self.collections:
            pending = self._database()[collection].find(
                {OUTBOX_SINCE_FIELD: {"$lte": cutoff}}, {OUTBOX_FIELD: 1}, limit=limit
            )
            for document in pending:
                envelopes = (document.get(OUTBOX_FIELD) or {}).values()
                events = []
                for envelope in envelopes:
                    try:
                        events.append(Event.from_dict(envelope))
                    except InvalidEvent as error:
                        log.error("outbox_event_invalid", collection=collection, error=str(error))
                if not events:
                    self._clear(collection, document["_id"], list((document.get(OUTBOX_FIELD) or {}).keys()))
                    continue
                if self.dispatch(collection, document["_id"], events):
                    sent += len(events)
                    log.info("outbox_relayed", collection=collection, count=len(events))
        return sent
