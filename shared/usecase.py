"""What every service's use cases share: who produces their events, a clock, and the request that caused them.

A service's `Context` subclasses `UseCaseContext` and adds its repositories (typed by protocols, so unit
tests pass in-memory fakes). Requests build one per request through `Dependencies.context(request_id=...)`;
jobs and timers build one with no request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import utc_now
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType


def _no_request_id() -> str | None:
    return None


@dataclass
class UseCaseContext:
    """The producer of this service's events, its clock and the current request id."""

    producer: str
    clock: Callable[[], datetime] = field(default=utc_now)
    request_id: Callable[[], str | None] = field(default=_no_request_id)

    def event(self, event_type: EventType, actor: Principal | None, data: Mapping[str, Any], now: datetime) -> Event:
        """Make an event of this service, stamped with the request id that caused it (no actor: the system)."""
        return Event(
            type=event_type,
            producer=self.producer,
            actor_id=actor.user_id if actor else None,
            data=dict(data),
            occurred_at=now,
            request_id=self.request_id(),
        )
