"""The one registry of Connective's services: names, ports, databases, queues, routes and subscriptions.

Settings, event routing, `make run`, the end-to-end stack and the checks of the compose file and the
gateway are all derived from `SERVICES`. Adding a service is one entry here plus its own package under
`services/` (and its compose and gateway entries, which the deployment tests then demand).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.contracts.events import EventType


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its name (package, queue and producer name), default port, routes and subscriptions."""

    name: str
    port: int
    # First path segments the gateway sends to this service (`/challenges/...`).
    gateway_paths: tuple[str, ...] = ()
    # Event types delivered to this service's queue; its jobs module handles exactly these.
    consumes: frozenset[str] = frozenset()

    @property
    def env_prefix(self) -> str:
        """Return the prefix of this service's environment variables, e.g. PEER_REVIEW."""
        return self.name.upper()

    @property
    def port_variable(self) -> str:
        """Return the environment variable naming this service's port."""
        return f"{self.env_prefix}_PORT"

    @property
    def url_variable(self) -> str:
        """Return the environment variable other services use to reach this one."""
        return f"{self.env_prefix}_URL"

    @property
    def compose_name(self) -> str:
        """Return the stem of this service's compose names, e.g. peer-review."""
        return self.name.replace("_", "-")

    @property
    def queue(self) -> str:
        """Return the RQ queue this service consumes (queues are named after their consumer)."""
        return self.name

    @property
    def package(self) -> str:
        """Return the service's Python package."""
        return f"services.{self.name}"

    @property
    def consumer_entrypoint(self) -> str:
        """Return the dotted path producers enqueue for this service (never importing it)."""
        return f"{self.package}.jobs.handle_events"

    def database(self, prefix: str) -> str:
        """Return this service's own MongoDB database under a deployment's prefix."""
        return f"{prefix}{self.name}"

    def api_command(self, host: str = "0.0.0.0", port: int | None = None) -> list[str]:  # noqa: S104 - containers
        """Return the command that serves this service's API under gunicorn (compose runs the same)."""
        return [
            "gunicorn",
            "--config",
            "python:shared.gunicorn_conf",
            "--bind",
            f"{host}:{port or self.port}",
            f"{self.package}.wsgi:app",
        ]

    def worker_command(self) -> list[str]:
        """Return the command that runs this service's queue worker."""
        return ["python", "-m", f"{self.package}.worker"]


def _types(*event_types: EventType) -> frozenset[str]:
    return frozenset(str(event_type) for event_type in event_types)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "challenges",
        5001,
        gateway_paths=("challenges", "resources", "submissions"),
        # Reviewers' read access (given and taken away), consensus grades, peers' verdicts on knowledge updates.
        consumes=_types(
            EventType.REVIEW_ASSIGNED,
            EventType.REVIEW_DECLINED,
            EventType.TARGET_GRADED,
            EventType.REVISION_VERIFIED,
        ),
    ),
    ServiceSpec(
        "peer_review",
        5002,
        gateway_paths=("assignments", "allocations", "reviews", "reviewers", "targets"),
        # Challenges' rules and close, submissions to review, knowledge updates to verify (and their fate).
        consumes=_types(
            EventType.CHALLENGE_PUBLISHED,
            EventType.CHALLENGE_CLOSED,
            EventType.SUBMISSION_SUBMITTED,
            EventType.SUBMISSION_REVISED,
            EventType.SUBMISSION_WITHDRAWN,
            EventType.RESOURCE_REVISION_PROPOSED,
            EventType.RESOURCE_REVISION_ACCEPTED,
            EventType.RESOURCE_REVISION_REJECTED,
        ),
    ),
    ServiceSpec(
        "leaderboards",
        5003,
        gateway_paths=("leaderboards", "users", "rules", "awards"),
        # Every event a points rule may award for; the rules file may use any of these, and no other.
        consumes=_types(
            EventType.RESOURCE_SHARED,
            EventType.RESOURCE_ENDORSED,
            EventType.RESOURCE_REVISION_ACCEPTED,
            EventType.RESOURCE_REVISION_REJECTED,
            EventType.REVIEW_SUBMITTED,
            EventType.REVIEW_RATED,
            EventType.TARGET_GRADED,
        ),
    ),
)

SERVICE_NAMES: tuple[str, ...] = tuple(spec.name for spec in SERVICES)


def service(name: str) -> ServiceSpec:
    """Return the spec of the named service; KeyError names the unknown one."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def consumers_of(event_type: str, services: Iterable[ServiceSpec] = SERVICES) -> tuple[ServiceSpec, ...]:
    """Return the services whose queues receive events of this type."""
    return tuple(spec for spec in services if event_type in spec.consumes)
