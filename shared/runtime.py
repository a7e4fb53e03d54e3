"""What every service process is wired from: settings, MongoDB, Redis, the event publisher and a clock.

A service's `bootstrap.build(settings)` makes one `Runtime`, asks it for the service's `Store` (with an
outbox over the collections whose documents carry events), and builds its repositories on that store.
Clients connect lazily, in the process that uses them, after any fork.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from shared.clock import utc_now
from shared.mongo import MongoProvider
from shared.outbox import Outbox
from shared.queues import EventPublisher
from shared.redisconn import RedisProvider
from shared.settings import Settings
from shared.store import IndexCreator, Store
from shared.usecase import UseCaseContext
from shared.worker import PeriodicTask

C = TypeVar("C", bound=UseCaseContext)


@dataclass
class Runtime:
    """The process-wide plumbing of one service."""

    settings: Settings
    mongo: MongoProvider
    redis: RedisProvider
    publisher: EventPublisher
    # Tests replace the clock to move time without waiting.
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Wire the clients a service needs from its settings."""
        redis = RedisProvider(settings.redis_url)
        return cls(
            settings=settings,
            mongo=MongoProvider(settings.mongo_url, settings.database_name, app_name=settings.service),
            redis=redis,
            publisher=EventPublisher(redis, job_timeout=settings.job_timeout_seconds),
        )

    def context(self, context_class: type[C], request_id: Callable[[], str | None], **fields: Any) -> C:
        """Return a use-case context of this service (its events name it as producer) with its own fields."""
        return context_class(producer=self.settings.service, clock=self.now, request_id=request_id, **fields)

    def now(self) -> datetime:
        """Return the current time by this runtime's clock."""
        return self.clock()

    def store(self, index_creators: Sequence[IndexCreator] = (), *, outbox_collections: Iterable[str] = ()) -> Store:
        """Return the service's store; writes with events into `outbox_collections` are relayed if delivery fails."""
        collections = tuple(outbox_collections)
        outbox = (
            Outbox(
                lambda: self.mongo.database,
                self.publisher.publish,
                collections=collections,
                grace_seconds=self.settings.outbox_grace_seconds,
            )
            if collections
            else None
        )
        return Store(lambda: self.mongo.database, index_creators, outbox=outbox)


def outbox_relay(store: Store, settings: Settings) -> list[PeriodicTask]:
    """Return the timer that re-sends events a crash or a Redis outage left in documents (none without outbox)."""
    if store.outbox is None:
        return []
    return [PeriodicTask("outbox_relay", settings.outbox_interval_seconds, store.outbox.relay_pending)]
