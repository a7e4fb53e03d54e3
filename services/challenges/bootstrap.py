"""Builds the challenges service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from services.challenges.domain.resources import FreshnessPolicy
from services.challenges.repository import MongoRepositories
from services.challenges.settings import load_freshness_policy, load_settings
from services.challenges.usecases.challenges import close_due_challenges
from services.challenges.usecases.context import Context
from shared.runtime import Runtime, outbox_relay
from shared.settings import Settings
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the challenges service talks to."""

    runtime: Runtime
    repositories: MongoRepositories
    freshness: FreshnessPolicy = field(default_factory=FreshnessPolicy)

    def context(self, request_id: Callable[[], str | None] = lambda: None) -> Context:
        """Return a use-case context; requests pass how to read their request id, jobs and timers need none."""
        repositories = self.repositories
        return self.runtime.context(
            Context,
            request_id,
            challenges=repositories.challenges,
            submissions=repositories.submissions,
            resources=repositories.resources,
            revisions=repositories.revisions,
            freshness=self.freshness,
        )


def build(settings: Settings, freshness: FreshnessPolicy | None = None) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    runtime = Runtime.from_settings(settings)
    return Dependencies(
        runtime=runtime,
        repositories=MongoRepositories(runtime),
        freshness=freshness or load_freshness_policy(),
    )


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the housekeeping this service's worker runs on a timer: the outbox relay, closing due challenges."""
    settings = dependencies.runtime.settings
    return [
        *outbox_relay(dependencies.repositories.store, settings),
        PeriodicTask(
            "close_due_challenges",
            settings.repair_interval_seconds,
            lambda: close_due_challenges(context=dependencies.context()),
        ),
    ]
