"""The consuming side of events: parse envelopes, drop malformed ones loudly, hand the rest on in a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog

from shared.contracts.events import Event, InvalidEvent
from shared.observability import EVENTS_HANDLED

log = structlog.get_logger(__name__)


def parse_envelopes(envelopes: Iterable[Any], *, service: str, accepts: frozenset[str]) -> list[Event]:
    """Return the valid events this service handles; log and count the rest (never retried)."""
    events: list[Event] = []
    seen: set[str] = set()
    for envelope in envelopes:
        try:
            event = Event.from_dict(envelope)
        except InvalidEvent as error:
            # A malformed message will not get better by retrying; operators find it in the logs.
            EVENTS_HANDLED.labels(service, "unknown", "rejected").inc()
            log.error("event_rejected", error=str(error), envelope=str(envelope)[:500])
            continue
        if event.type not in accepts:
            EVENTS_HANDLED.labels(service, event.type, "ignored").inc()
            log.warning("event_ignored", event_id=event.id, type=event.type)
            continue
        if event.id in seen:
            continue
        seen.add(event.id)
        events.append(event)
    return events


def consume(
    envelopes: Sequence[Any],
    *,
    service: str,
    accepts: frozenset[str],
    apply: Callable[[Sequence[Event]], object] | None = None,
) -> int:
    """Apply a batch of events with the service's use case; return how many were handed on.

    A service that consumes no event type yet passes no `apply`: whatever arrives is logged as ignored.
    """
    if not isinstance(envelopes, list | tuple):
        envelopes = [envelopes]
    events = parse_envelopes(envelopes, service=service, accepts=accepts)
    if not events or apply is None:
        return 0
    request_ids = sorted({event.request_id for event in events if event.request_id})
    with structlog.contextvars.bound_contextvars(request_id=",".join(request_ids) or None):
        apply(events)
        for event in events:
            EVENTS_HANDLED.labels(service, event.type, "applied").inc()
        log.info("events_applied", count=len(events), event_ids=[event.id for event in events])
    return len(events)
