"""The process topology of Connective: one source for `make run`, the compose file and the tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its package name, compose names, port variable and default port."""

    name: str
    port: int

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

    def api_command(self, host: str = "0.0.0.0", port: int | None = None) -> list[str]:
        """Return the command that serves this service's API under gunicorn."""
        return [
            "gunicorn",
            "--config",
            "python:shared.gunicorn_conf",
            "--bind",
            f"{host}:{port or self.port}",
            f"services.{self.name}.wsgi:app",
        ]

    def worker_command(self) -> list[str]:
        """Return the command that runs this service's queue worker."""
        return ["python", "-m", f"services.{self.name}.worker"]


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("challenges", 5001),
    ServiceSpec("peer_review", 5002),
    ServiceSpec("leaderboards", 5003),
)

GATEWAY_PORT = 8080

# Which service answers which first path segment behind the gateway (docs/architecture.md, Services).
GATEWAY_ROUTES: dict[str, tuple[str, ...]] = {
    "challenges": ("challenges", "resources", "submissions"),
    "peer_review": ("assignments", "allocations", "reviews", "targets"),
    "leaderboards": ("leaderboards", "users", "rules", "awards"),
}


def service(name: str) -> ServiceSpec:
    """Return the spec of the named service."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(name)
