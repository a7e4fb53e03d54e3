"""Builds the leaderboards service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial

from services.leaderboards import repository, usecases
from services.leaderboards.boards import BoardStore
from services.leaderboards.domain import PointsConfig
from services.leaderboards.repository import LedgerRepository
from services.leaderboards.settings import load_settings
from shared.runtime import Runtime
from shared.settings import Settings
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the leaderboards service talks to."""

    runtime: Runtime
    ledger: LedgerRepository
    boards: BoardStore
    points: PointsConfig = field(default_factory=PointsConfig)

    def context(self, request_id: Callable[[], str | None] = lambda: None) -> usecases.Context:
        """Return a use-case context; requests pass how to read their request id, jobs and timers need none."""
        return self.runtime.context(
            usecases.Context, request_id, ledger=self.ledger, boards=self.boards, points=self.points
        )


def build(settings: Settings) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    runtime = Runtime.from_settings(settings)
    return Dependencies(
        runtime=runtime,
        ledger=LedgerRepository(runtime.store([repository.create_indexes])),
        boards=BoardStore(lambda: runtime.redis.connection, settings.zone),
    )


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs: putting entries a crash left behind on the boards."""
    settings = dependencies.runtime.settings
    repair = partial(
        usecases.repair_boards,
        context=dependencies.context(),
        grace=timedelta(seconds=settings.repair_interval_seconds),
    )
    return [PeriodicTask("board_repair", settings.repair_interval_seconds, repair)]
