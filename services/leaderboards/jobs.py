"""Queue entrypoints of the leaderboards service: the whole batch applied at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.leaderboards.bootstrap import process_dependencies
from services.leaderboards.settings import SERVICE
from services.leaderboards.usecases.awarding import apply_events
from shared.consumer import Handler, Received, consume
from shared.registry import service


def _apply(received: Sequence[Received]) -> None:
    apply_events(received, context=process_dependencies().context())


# Every type delivered to this service's queue shares one handler, so a batch is one ledger write and one
# Redis round trip; the rules in force decide what each event earns (an event no rule uses earns nothing).
HANDLERS: Mapping[str, Handler] = dict.fromkeys(sorted(service(SERVICE).consumes), _apply)


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `leaderboards` queue."""
    return consume(envelopes, service=SERVICE, handlers=HANDLERS)
