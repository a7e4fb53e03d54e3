"""Builds the peer-review service's dependencies once per process, for the web app and the worker alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from services.peer_review.repository import MongoRepositories
from services.peer_review.settings import load_review_policy, load_settings
from services.peer_review.usecases.assignments import expire_lapsed_claims
from services.peer_review.usecases.context import Context, ReviewPolicy
from services.peer_review.usecases.reviews import grade_complete_targets
from shared.runtime import Runtime, outbox_relay
from shared.settings import Settings
from shared.worker import PeriodicTask


@dataclass
class Dependencies:
    """Everything the peer-review service talks to."""

    runtime: Runtime
    repositories: MongoRepositories
    policy: ReviewPolicy = field(default_factory=ReviewPolicy)

    def context(self, request_id: Callable[[], str | None] = lambda: None) -> Context:
        """Return a use-case context; requests pass how to read their request id, jobs and timers need none."""
        repositories = self.repositories
        return self.runtime.context(
            Context,
            request_id,
            targets=repositories.targets,
            assignments=repositories.assignments,
            reviews=repositories.reviews,
            people=repositories.people,
            challenges=repositories.challenges,
            policy=self.policy,
        )


def build(settings: Settings, policy: ReviewPolicy | None = None) -> Dependencies:
    """Wire the service's dependencies from settings (clients connect lazily, after any fork)."""
    runtime = Runtime.from_settings(settings)
    return Dependencies(runtime=runtime, repositories=MongoRepositories(runtime), policy=policy or load_review_policy())


@cache
def process_dependencies() -> Dependencies:
    """Return this process's dependencies, built from the environment on first use (worker jobs)."""
    return build(load_settings())


def periodic_tasks(dependencies: Dependencies) -> list[PeriodicTask]:
    """Return the worker's timers: the outbox relay, lapsed claims back to the pool, grading what is complete."""
    settings = dependencies.runtime.settings
    return [
        *outbox_relay(dependencies.repositories.store, settings),
        PeriodicTask(
            "expire_lapsed_claims",
            settings.repair_interval_seconds,
            lambda: expire_lapsed_claims(context=dependencies.context()),
        ),
        PeriodicTask(
            "grade_complete_targets",
            settings.repair_interval_seconds,
            lambda: grade_complete_targets(context=dependencies.context()),
        ),
    ]
