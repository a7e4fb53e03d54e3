"""Queue entrypoints of the peer-review service: each consumed event type handed to its use case."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.peer_review.bootstrap import process_dependencies
from services.peer_review.settings import SERVICE
from services.peer_review.usecases import intake
from shared.consumer import Handler, Received, consume
from shared.contracts.events import EventType


def _in_context(use_case: Callable[..., object]) -> Handler:
    def handle(received: Sequence[Received]) -> object:
        return use_case(received, context=process_dependencies().context())

    return handle


_challenges = _in_context(intake.receive_challenges)
_submissions = _in_context(intake.receive_submissions)
_revisions = _in_context(intake.receive_revisions)

# One use case per kind of news (the registry routes exactly these types here); types sharing a use case
# reach it in one batch, challenges first so a close is known before the submissions of the same batch.
HANDLERS: Mapping[str, Handler] = {
    EventType.CHALLENGE_PUBLISHED: _challenges,
    EventType.CHALLENGE_CLOSED: _challenges,
    EventType.SUBMISSION_SUBMITTED: _submissions,
    EventType.SUBMISSION_REVISED: _submissions,
    EventType.SUBMISSION_WITHDRAWN: _submissions,
    EventType.RESOURCE_REVISION_PROPOSED: _revisions,
    EventType.RESOURCE_REVISION_ACCEPTED: _revisions,
    EventType.RESOURCE_REVISION_REJECTED: _revisions,
}


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `peer_review` queue."""
    return consume(envelopes, service=SERVICE, handlers=HANDLERS)
