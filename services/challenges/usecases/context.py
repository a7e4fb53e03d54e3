"""What every use case of the challenges service needs: storage, the outbox, a clock, the request id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.challenges.domain.resources import FreshnessPolicy
from services.challenges.repository import Repositories
from shared.clock import utc_now
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType

PRODUCER = "challenges"


class Dispatcher(Protocol):
    """Publishes events already stored in a document's outbox."""

    def dispatch(self, collection: str, document_id: Any, events: Sequence[Event]) -> bool: ...


@dataclass
class Context:
    """What every use case needs: storage, the outbox, a clock and the current request id."""

    repositories: Repositories
    outbox: Dispatcher
    clock: Callable[[], datetime] = field(default=utc_now)
    request_id: Callable[[], str | None] = field(default=lambda: None)
    freshness: FreshnessPolicy = field(default_factory=FreshnessPolicy)

    def event(self, event_type: EventType, actor: Principal | None, data: dict[str, Any], now: datetime) -> Event:
        """Make an event of this service, stamped with the request id that caused it (None: the system)."""
        return Event(
            type=event_type,
            producer=PRODUCER,
            actor_id=actor.user_id if actor else None,
            data=data,
            occurred_at=now,
            request_id=self.request_id(),
        )
