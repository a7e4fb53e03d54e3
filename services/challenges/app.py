"""The challenges service's Flask app."""

from __future__ import annotations

from flask import Flask, Response

from services.challenges.bootstrap import Dependencies, build, periodic_tasks
from services.challenges.domain.errors import (
    DomainError,
    DuplicateResource,
    Forbidden,
    InvalidField,
    InvalidState,
    NotFound,
    TooLarge,
)
from services.challenges.domain.submissions import DuplicateSubmission
from services.challenges.routes import challenges, resources, submissions
from services.challenges.settings import load_settings
from shared.errors import Problem, problem_response
from shared.settings import Settings
from shared.web import create_service_app

DESCRIPTION = """Teachers create challenges; learners share learning resources with the knowledge commons.

Every endpoint needs `Authorization: Bearer <JWT>` with the claims `sub`, `roles` (learner, teacher,
admin, service), optional `cohorts`, and `exp`. Errors are `application/problem+json` (RFC 9457)."""


# The most specific class first: DuplicateResource is an InvalidState, InvalidUrl an InvalidField.
_PROBLEMS: tuple[tuple[type[DomainError], int, str], ...] = (
    (DuplicateResource, 409, "duplicate-resource"),
    (DuplicateSubmission, 409, "duplicate-submission"),
    (NotFound, 404, "not-found"),
    (Forbidden, 403, "forbidden"),
    (InvalidState, 409, "invalid-state"),
    (InvalidField, 422, "validation-error"),
    (TooLarge, 413, "too-large"),
)


def _problem_for(error: DomainError) -> Problem:
    extensions = dict(error.details)
    if isinstance(error, InvalidField):
        extensions["errors"] = {error.field: [str(error)]}
    for error_class, status, kind in _PROBLEMS:
        if isinstance(error, error_class):
            return Problem(status, str(error), kind=kind, **extensions)
    return Problem(422, str(error), kind="rule-violation", **extensions)


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the challenges app; tests pass settings or ready-made dependencies."""
    settings = settings or load_settings()
    dependencies = dependencies or build(settings)
    app = create_service_app(
        settings=settings,
        title="Connective: challenges",
        description=DESCRIPTION,
        blueprints=[challenges.blp, submissions.blp, resources.blp],
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
