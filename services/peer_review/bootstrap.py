"""Builds the peer-review service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from services.peer_review.settings import load_settings
from shared.runtime import Runtime
from shared.settings import Settings
from shared.usecase import UseCaseContext
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the peer-review service talks to."""

    runtime: Runtime

    def context(self, request_id: Callable[[], str | None] = lambda: None) -> UseCaseContext:
        """Return a use-case context; requests pass how to read their request id, jobs and timers need none."""
        return self.runtime.context(UseCaseContext, request_id)


def build(settings: Settings) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    return Dependencies(runtime=Runtime.from_settings(settings))


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(_dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs on a timer (none until it writes events)."""
    return []
