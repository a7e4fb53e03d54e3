"""Queue entrypoints of the leaderboards service: the whole batch applied at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.leaderboards import usecases
from services.leaderboards.bootstrap import process_dependencies
from services.leaderboards.domain import RULES
from services.leaderboards.settings import SERVICE
from shared.consumer import Handler, Received, consume


def _apply(received: Sequence[Received]) -> None:
    usecases.apply_events(received, context=process_dependencies().context())


# Every type a rule awards points for shares one handler, so a batch is one ledger write and one Redis trip.
HANDLERS: Mapping[str, Handler] = dict.fromkeys(RULES, _apply)


def handle_events(envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events from the `leaderboards` queue."""
    return consume(envelopes, service=SERVICE, handlers=HANDLERS)
