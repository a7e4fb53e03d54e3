"""Builds the challenges service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from services.challenges.domain.resources import FreshnessPolicy
from services.challenges.repository import OUTBOX_COLLECTIONS, Repositories
from services.challenges.settings import load_freshness_policy, load_settings
from services.challenges.usecases.challenges import close_due_challenges
from services.challenges.usecases.context import Context
from shared.clock import utc_now
from shared.mongo import MongoProvider
from shared.outbox import Outbox
from shared.queues import EventPublisher
from shared.redisconn import RedisProvider
from shared.settings import Settings
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the challenges service talks to."""

    settings: Settings
    mongo: MongoProvider
    redis: RedisProvider
    repositories: Repositories
    outbox: Outbox
    freshness: FreshnessPolicy = field(default_factory=FreshnessPolicy)
    # Tests replace the clock to move time past a challenge's end without waiting.
    clock: Callable[[], datetime] = field(default=utc_now)

    def context(self, request_id: Callable[[], str | None] = lambda: None) -> Context:
        """Return a use-case context; requests pass how to read their request id, jobs and timers need none."""
        return Context(
            repositories=self.repositories,
            outbox=self.outbox,
            clock=self.clock,
            request_id=request_id,
            freshness=self.freshness,
        )


def build(settings: Settings, freshness: FreshnessPolicy | None = None) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    mongo = MongoProvider(settings.mongo_url, settings.database_name, app_name=settings.service)
    redis = RedisProvider(settings.redis_url)
    publisher = EventPublisher(redis, job_timeout=settings.job_timeout_seconds)
    outbox = Outbox(
        lambda: mongo.database,
        publisher.publish,
        collections=OUTBOX_COLLECTIONS,
        grace_seconds=settings.outbox_grace_seconds,
    )
    return Dependencies(
        settings=settings,
        mongo=mongo,
        redis=redis,
        repositories=Repositories(lambda: mongo.database),
        outbox=outbox,
        freshness=freshness or load_freshness_policy(),
    )


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs on a timer: the outbox relay, closing due challenges."""
    settings = dependencies.settings
    return [
        PeriodicTask("outbox_relay", settings.outbox_interval_seconds, dependencies.outbox.relay_pending),
        PeriodicTask(
            "close_due_challenges",
            settings.repair_interval_seconds,
            lambda: close_due_challenges(context=dependencies.context()),
        ),
    ]
