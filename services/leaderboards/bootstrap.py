"""Builds the leaderboards service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, partial

from redis.lock import Lock

from services.leaderboards.repository import MongoRepositories
from services.leaderboards.repository.boards import KEY_PREFIX, RedisBoards
from services.leaderboards.settings import load_scoring, load_settings
from services.leaderboards.usecases.awarding import repair_boards
from services.leaderboards.usecases.context import Context, Scoring
from shared.runtime import Runtime
from shared.settings import Settings
from shared.worker import PeriodicTask

# Held while a batch is worked out and recorded, so caps are counted over a ledger nobody else is changing.
# A batch takes well under a second; a killed worker's lock expires after WRITER_LOCK_SECONDS, and the next
# writer waits at most WRITER_WAIT_SECONDS for it. (Were a batch ever slower than the lock, two writers could
# overlap: a cap might then be exceeded by an award or two, but no entry is ever recorded or counted twice.)
WRITER_LOCK_SECONDS = 10
WRITER_WAIT_SECONDS = 30


@dataclass
class Dependencies:
    """Everything the leaderboards service talks to."""

    runtime: Runtime
    repositories: MongoRepositories
    boards: RedisBoards
    scoring: Scoring

    def writer_lock(self) -> Lock:
        """Return the lock one writer of the ledger holds at a time, across processes."""
        return self.runtime.redis.connection.lock(
            f"{KEY_PREFIX}:writer", timeout=WRITER_LOCK_SECONDS, blocking_timeout=WRITER_WAIT_SECONDS
        )

    def context(self, request_id: Callable[[], str | None] = lambda: None) -> Context:
        """Return a use-case context; requests pass how to read their request id, jobs and timers need none."""
        repositories = self.repositories
        return self.runtime.context(
            Context,
            request_id,
            ledger=repositories.ledger,
            people=repositories.people,
            badges=repositories.badges,
            inbox=repositories.inbox,
            pending=repositories.pending,
            view_tokens=repositories.view_tokens,
            boards=self.boards,
            scoring=self.scoring,
            exclusive=self.writer_lock,
        )


def build(settings: Settings, scoring: Scoring | None = None) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    runtime = Runtime.from_settings(settings)
    scoring = scoring or load_scoring(settings.zone)
    boards = RedisBoards(
        lambda: runtime.redis.connection,
        settings.zone,
        periods_kept=scoring.periods_kept,
        level_thresholds=scoring.book.level_thresholds,
    )
    return Dependencies(runtime=runtime, repositories=MongoRepositories(runtime), boards=boards, scoring=scoring)


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs: putting entries a crash left behind on the boards."""
    settings = dependencies.runtime.settings
    repair = partial(
        repair_boards, context=dependencies.context(), grace=timedelta(seconds=settings.repair_interval_seconds)
    )
    return [PeriodicTask("board_repair", settings.repair_interval_seconds, repair)]
