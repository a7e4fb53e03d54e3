"""The consuming side of events: parse envelopes and payloads, drop malformed ones loudly, hand on batches.

A service's `jobs` module declares `HANDLERS`, a mapping from each event type it consumes to a function
taking a batch of `(event, payload)` pairs, and its queue entrypoint calls `consume`. Types that share one
handler reach it in one call, so a service may apply a whole batch at once (one bulk write per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog

from shared.contracts.events import Event, InvalidEvent
from shared.contracts.payloads import load_payload
from shared.observability import EVENTS_HANDLED

log = structlog.get_logger(__name__)

# An event with its validated payload, as use cases receive it.
Received = tuple[Event, Mapping[str, Any]]
Handler = Callable[[Sequence[Received]], object]


def parse_envelopes(envelopes: Iterable[Any], *, service: str, accepts: Iterable[str]) -> list[Received]:
    """Return the valid events this service handles with their payloads; log and count the rest (never retried)."""
    accepted = frozenset(accepts)
    received: list[Received] = []
    seen: set[str] = set()
    for envelope in envelopes:
        try:
            event = Event.from_dict(envelope)
        except InvalidEvent as error:
            # A malformed message will not get better by retrying; operators find it in the logs.
            EVENTS_HANDLED.labels(service, "unknown", "rejected").inc()
            log.error("event_rejected", error=str(error), envelope=str(envelope)[:500])
            continue
        if event.type not in accepted:
            EVENTS_HANDLED.labels(service, event.type, "ignored").inc()
            log.warning("event_ignored", event_id=event.id, type=event.type)
            continue
        if event.id in seen:
            continue
        try:
            payload = load_payload(event.type, event.data)
        except InvalidEvent as error:
            EVENTS_HANDLED.labels(service, event.type, "rejected").inc()
            log.error("event_rejected", event_id=event.id, type=event.type, error=str(error))
            continue
        seen.add(event.id)
        received.append((event, payload))
    return received


def _batches(received: Sequence[Received], handlers: Mapping[str, Handler]) -> list[tuple[Handler, list[Received]]]:
    """Group events by handler, in the order the handlers are declared, each batch in arrival order."""
    order: list[Handler] = []
    for handler in handlers.values():
        if handler not in order:
            order.append(handler)
    grouped: dict[int, list[Received]] = {id(handler): [] for handler in order}
    for pair in received:
        grouped[id(handlers[pair[0].type])].append(pair)
    return [(handler, grouped[id(handler)]) for handler in order if grouped[id(handler)]]


def consume(envelopes: Sequence[Any] | Any, *, service: str, handlers: Mapping[str, Handler]) -> int:
    """Apply a batch of envelopes with the service's handlers; return how many events were handed on.

    A service that consumes nothing yet passes no handlers: whatever arrives is logged as ignored.
    """
    if not isinstance(envelopes, list | tuple):
        envelopes = [envelopes]
    received = parse_envelopes(envelopes, service=service, accepts=handlers)
    if not received:
        return 0
    request_ids = sorted({event.request_id for event, _ in received if event.request_id})
    with structlog.contextvars.bound_contextvars(request_id=",".join(request_ids) or None):
        for handler, batch in _batches(received, handlers):
            handler(batch)
            for event, _ in batch:
                EVENTS_HANDLED.labels(service, event.type, "applied").inc()
        log.info("events_applied", count=len(received), event_ids=[event.id for event, _ in received])
    return len(received)
