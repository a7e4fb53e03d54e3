"""Queue entrypoints of the leaderboards service: validate each payload, apply the batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from services.leaderboards import usecases
from services.leaderboards.bootstrap import process_dependencies
from services.leaderboards.domain import RULES
from services.leaderboards.settings import SERVICE
from shared.consumer import consume
from shared.contracts.events import Event, InvalidEvent
from shared.contracts.payloads import load_payload

log = structlog.get_logger(__name__)

# Every event type a rule awards points for.
HANDLED_TYPES: frozenset[str] = frozenset(RULES)


def _apply(events: Sequence[Event]) -> None:
    valid: list[tuple[Event, Mapping[str, Any]]] = []
    for event in events:
        try:
            valid.append((event, load_payload(event.type, event.data)))
        except InvalidEvent as error:
            log.error("event_rejected", event_id=event.id, type=event.type, error=str(error))
    usecases.apply_events(valid, context=process_dependencies().context)


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `leaderboards` queue."""
    return consume(envelopes, service=SERVICE, accepts=HANDLED_TYPES, apply=_apply)
