"""Queue entrypoints of the challenges service: each consumed event type handed to its use case."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.challenges.bootstrap import process_dependencies
from services.challenges.settings import SERVICE
from services.challenges.usecases import revisions, submissions
from shared.consumer import Handler, Received, consume
from shared.contracts.events import EventType


def _in_context(use_case: Callable[..., object]) -> Handler:
    def handle(received: Sequence[Received]) -> object:
        return use_case(received, context=process_dependencies().context())

    return handle


# One use case per consumed type (the registry routes exactly these here): reviewers, grades, verdicts.
HANDLERS: Mapping[str, Handler] = {
    EventType.REVIEW_ASSIGNED: _in_context(submissions.record_assignments),
    EventType.REVIEW_DECLINED: _in_context(submissions.revoke_assignments),
    EventType.TARGET_GRADED: _in_context(submissions.record_grades),
    EventType.REVISION_VERIFIED: _in_context(revisions.apply_verifications),
}


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `challenges` queue."""
    return consume(envelopes, service=SERVICE, handlers=HANDLERS)
