"""Queue entrypoints of the challenges service: validate the payload, call a use case."""

from __future__ import annotations

from typing import Any

from services.challenges.settings import SERVICE
from shared.consumer import consume

# Event types this service consumes; grades (`target.graded`) arrive with the peer-review flow.
HANDLED_TYPES: frozenset[str] = frozenset()


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `challenges` queue."""
    return consume(envelopes, service=SERVICE, accepts=HANDLED_TYPES)
