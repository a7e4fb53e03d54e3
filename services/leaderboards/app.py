"""The leaderboards service's Flask app."""

from __future__ import annotations

from flask import Flask, Response

from services.leaderboards.bootstrap import Dependencies, build, periodic_tasks
from services.leaderboards.domain import InvalidBoard
from services.leaderboards.routes import leaderboards
from services.leaderboards.settings import load_settings
from services.leaderboards.usecases import Forbidden
from shared.errors import problem_document, problem_response
from shared.settings import Settings
from shared.web import create_service_app

DESCRIPTION = """Points, badges and leaderboards. The ledger is the source of truth: every point names the
rule and the event behind it. Boards are derived from it in Redis.

Every endpoint needs `Authorization: Bearer <JWT>`. Errors are `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the leaderboards app; tests pass settings or ready-made dependencies."""
    settings = settings or load_settings()
    dependencies = dependencies or build(settings)
    app = create_service_app(
        settings=settings,
        title="Connective: leaderboards",
        description=DESCRIPTION,
        blueprints=[leaderboards],
        dependencies=dependencies,
        mongo=dependencies.mongo,
        redis=dependencies.redis,
        periodic_tasks=periodic_tasks(dependencies),
    )

    @app.errorhandler(InvalidBoard)
    def _invalid_board(error: InvalidBoard) -> Response:
        return problem_response(problem_document(404, str(error), kind="not-found"))

    @app.errorhandler(Forbidden)
    def _forbidden(error: Forbidden) -> Response:
        return problem_response(problem_document(403, str(error), kind="forbidden"))

    return app
