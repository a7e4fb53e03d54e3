"""The challenges service's Flask app."""

from __future__ import annotations

from flask import Flask

from services.challenges.bootstrap import Dependencies, build, periodic_tasks
from services.challenges.routes import challenges, resources, submissions
from services.challenges.schemas import ChallengesProblemSchema
from services.challenges.settings import load_settings
from shared.settings import Settings
from shared.web import create_service_app

DESCRIPTION = """Teachers create challenges; learners share learning resources with the knowledge commons.

Every endpoint needs `Authorization: Bearer <JWT>` with the claims `sub`, `roles` (learner, teacher,
admin, service), optional `cohorts`, and `exp`. Errors are `application/problem+json` (RFC 9457)."""


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
        periodic_tasks=periodic_tasks(dependencies),
        problem_schema=ChallengesProblemSchema,
    )
    return app
