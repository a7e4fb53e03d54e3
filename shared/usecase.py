"""What every service's use cases share: who produces their events, a clock, and the request that caused them.

A service's `Context` subclasses `UseCaseContext` and adds its repositories (typed by protocols, so unit
tests pass in-memory fakes). Requests build one per request through `Dependencies.context(request_id=...)`;
jobs and timers build one with no request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import utc_now
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType, fact_id


def _no_request_id() -> str | None:
    return None


@dataclass
class UseCaseContext:
    """The producer of this service's events, its clock and the current request id."""

    producer: str
    clock: Callable[[], datetime] = field(default=utc_now)
    request_id: Callable[[], str | None] = field(default=_no_request_id)

    def event(
        self,
        event_type: EventType,
        actor: Principal | None,
        data: Mapping[str, Any],
        now: datetime,
        *,
        fact: Sequence[object] | None = None,
    ) -> Event:
        """Make an event of this service, stamped with the request id that caused it (no actor: the system).

        An event announcing something that happens once names it as `fact` (`shared.contracts.events.fact_id`):
        its id is then the same however many writers announce it, and consumers take it once.
        """
        extra: dict[str, Any] = {"id": fact_id(event_type, *fact)} if fact is not None else {}
        return Event(
            type=event_type,
            producer=self.producer,
            actor_id=actor.user_id if actor else None,
            data=dict(data),
            occurred_at=now,
            request_id=self.request_id(),
            **extra,
        )
