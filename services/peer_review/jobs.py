"""Queue entrypoints of the peer-review service: validate the payload, call a use case."""

from __future__ import annotations

from typing import Any

from services.peer_review.settings import SERVICE
from shared.consumer import consume

# Event types this service consumes; submissions and revision proposals arrive with the review flow.
HANDLED_TYPES: frozenset[str] = frozenset()


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `peer_review` queue."""
    return consume(envelopes, service=SERVICE, accepts=HANDLED_TYPES)
