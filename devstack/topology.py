"""The process topology of Connective for `make run`, the compose file and the tests, read off the registry."""

from __future__ import annotations

from shared.registry import SERVICES, ServiceSpec, service

GATEWAY_PORT = 8080
# The secret make run signs with when JWT_SECRET is unset (announced at start), and `make demo` mints with.
DEV_JWT_SECRET = "connective-development-secret-change-me"  # noqa: S105 - a published development default

# Which service answers which first path segment behind the gateway (docs/architecture.md, Services).
GATEWAY_ROUTES: dict[str, tuple[str, ...]] = {spec.name: spec.gateway_paths for spec in SERVICES}

__all__ = ["DEV_JWT_SECRET", "GATEWAY_PORT", "GATEWAY_ROUTES", "SERVICES", "ServiceSpec", "service"]
