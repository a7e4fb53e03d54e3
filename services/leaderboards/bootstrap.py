"""Builds the leaderboards service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache, partial

from services.leaderboards import usecases
from services.leaderboards.boards import BoardStore
from services.leaderboards.repository import LedgerRepository
from services.leaderboards.settings import load_settings
from shared.mongo import MongoProvider
from shared.redisconn import RedisProvider
from shared.settings import Settings
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the leaderboards service talks to."""

    settings: Settings
    mongo: MongoProvider
    redis: RedisProvider
    context: usecases.Context


def build(settings: Settings) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    mongo = MongoProvider(settings.mongo_url, settings.database_name, app_name=settings.service)
    redis = RedisProvider(settings.redis_url)
    context = usecases.Context(
        ledger=LedgerRepository(lambda: mongo.database),
        boards=BoardStore(lambda: redis.connection, settings.zone),
    )
    return Dependencies(settings=settings, mongo=mongo, redis=redis, context=context)


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs: putting entries a crash left behind on the boards."""
    settings = dependencies.settings
    repair = partial(
        usecases.repair_boards,
        context=dependencies.context,
        grace=timedelta(seconds=settings.repair_interval_seconds),
    )
    return [PeriodicTask("board_repair", settings.repair_interval_seconds, repair)]
