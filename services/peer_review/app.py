"""The peer-review service's Flask app."""

from __future__ import annotations

from flask import Flask

from services.peer_review.bootstrap import Dependencies, build, periodic_tasks
from services.peer_review.settings import load_settings
from shared.settings import Settings
from shared.web import ServiceApi, create_service_app

DESCRIPTION = """Peer review: review assignments, reviews with the challenge rubric, consensus grades and
verification of knowledge updates. Errors are `application/problem+json` (RFC 9457)."""


API = ServiceApi(
    title="Connective: peer review",
    description=DESCRIPTION,
    blueprints=(),
)


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the peer-review app; tests pass settings or ready-made dependencies."""
    dependencies = dependencies or build(settings or load_settings())
    return create_service_app(dependencies, API, periodic_tasks(dependencies))
