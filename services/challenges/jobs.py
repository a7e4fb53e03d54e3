"""Queue entrypoints of the challenges service: validate each payload, call a use case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from services.challenges.bootstrap import process_dependencies
from services.challenges.settings import SERVICE
from services.challenges.usecases import revisions, submissions
from shared.consumer import consume
from shared.contracts.events import Event, EventType, InvalidEvent
from shared.contracts.payloads import load_payload

log = structlog.get_logger(__name__)

# Event types this service consumes: reviewers' access to submissions, grades, and revision verdicts.
HANDLED_TYPES: frozenset[str] = frozenset(
    {EventType.REVIEW_ASSIGNED, EventType.TARGET_GRADED, EventType.REVISION_VERIFIED}
)


def apply_events(events: Sequence[Event]) -> None:
    """Validate each event's payload, then hand each kind of event to its use case."""
    of_type: dict[str, list[tuple[Event, Mapping[str, Any]]]] = {event_type: [] for event_type in HANDLED_TYPES}
    for event in events:
        try:
            of_type[event.type].append((event, load_payload(event.type, event.data)))
        except InvalidEvent as error:
            # A malformed payload will not get better by retrying; operators find it in the logs.
            log.error("event_rejected", event_id=event.id, type=event.type, error=str(error))
    context = process_dependencies().context()
    submissions.record_assignments(of_type[EventType.REVIEW_ASSIGNED], context=context)
    submissions.record_grades(of_type[EventType.TARGET_GRADED], context=context)
    revisions.apply_verifications(of_type[EventType.REVISION_VERIFIED], context=context)


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `challenges` queue."""
    return consume(envelopes, service=SERVICE, accepts=HANDLED_TYPES, apply=apply_events)
