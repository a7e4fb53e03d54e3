"""Builds the peer-review service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from services.peer_review.settings import load_settings
from shared.mongo import MongoProvider
from shared.redisconn import RedisProvider
from shared.settings import Settings
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the peer-review service talks to."""

    settings: Settings
    mongo: MongoProvider
    redis: RedisProvider


def build(settings: Settings) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    return Dependencies(
        settings=settings,
        mongo=MongoProvider(settings.mongo_url, settings.database_name, app_name=settings.service),
        redis=RedisProvider(settings.redis_url),
    )


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(_dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs on a timer (none until it writes events)."""
    return []
