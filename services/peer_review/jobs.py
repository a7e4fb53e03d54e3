"""Queue entrypoints of the peer-review service: each consumed event type handed to its use case."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.peer_review.settings import SERVICE
from shared.consumer import Handler, consume

# None yet: submissions and revision proposals are routed here together with the review flow.
HANDLERS: Mapping[str, Handler] = {}


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `peer_review` queue."""
    return consume(envelopes, service=SERVICE, handlers=HANDLERS)
