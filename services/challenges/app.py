"""The challenges service's Flask app."""

from __future__ import annotations

from flask import Flask

from services.challenges.bootstrap import Dependencies, build, periodic_tasks
from services.challenges.routes import challenges, resources, submissions
from services.challenges.schemas import ChallengesProblemSchema
from services.challenges.settings import load_settings
from shared.settings import Settings
from shared.web import ServiceApi, create_service_app

DESCRIPTION = """Teachers create challenges; learners share learning resources with the knowledge commons.

Every endpoint needs `Authorization: Bearer <JWT>` with the claims `sub`, `roles` (learner, teacher,
admin, service), optional `cohorts`, and `exp`. Errors are `application/problem+json` (RFC 9457)."""


API = ServiceApi(
    title="Connective: challenges",
    description=DESCRIPTION,
    blueprints=(challenges.blp, submissions.blp, resources.blp),
    problem_schema=ChallengesProblemSchema,
)


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the challenges app; tests pass settings or ready-made dependencies."""
    dependencies = dependencies or build(settings or load_settings())
    return create_service_app(dependencies, API, periodic_tasks(dependencies))
