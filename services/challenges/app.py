"""The challenges service's Flask app."""

from __future__ import annotations

from flask import Flask, Response

from services.challenges.bootstrap import Dependencies, build, periodic_tasks
from services.challenges.domain import DomainError, DuplicateResource, Forbidden, InvalidState, InvalidUrl, NotFound
from services.challenges.routes import challenges, resources
from services.challenges.settings import load_settings
from shared.errors import Problem, problem_response
from shared.settings import Settings
from shared.web import create_service_app

DESCRIPTION = """Teachers create challenges; learners share learning resources with the knowledge commons.

Every endpoint needs `Authorization: Bearer <JWT>` with the claims `sub`, `roles` (learner, teacher,
admin, service), optional `cohorts`, and `exp`. Errors are `application/problem+json` (RFC 9457)."""


def _problem_for(error: DomainError) -> Problem:
    if isinstance(error, DuplicateResource):
        return Problem(409, str(error), kind="duplicate-resource", existing_id=error.existing_id)
    if isinstance(error, NotFound):
        return Problem(404, str(error), kind="not-found")
    if isinstance(error, Forbidden):
        return Problem(403, str(error), kind="forbidden")
    if isinstance(error, InvalidState):
        return Problem(409, str(error), kind="invalid-state")
    if isinstance(error, InvalidUrl):
        return Problem(422, str(error), kind="validation-error", errors={"url": [str(error)]})
    return Problem(422, str(error), kind="rule-violation")


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the challenges app; tests pass settings or ready-made dependencies."""
    settings = settings or load_settings()
    dependencies = dependencies or build(settings)
    app = create_service_app(
        settings=settings,
        title="Connective: challenges",
        description=DESCRIPTION,
        blueprints=[challenges, resources],
        dependencies=dependencies,
        mongo=dependencies.mongo,
        redis=dependencies.redis,
        periodic_tasks=periodic_tasks(dependencies),
    )

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        problem = _problem_for(error)
        return problem_response(problem.to_dict(), problem.headers)

    return app
