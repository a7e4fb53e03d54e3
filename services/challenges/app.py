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
    operation_ids={
        ("GET", "/challenges"): "listChallenges",
        ("POST", "/challenges"): "createChallenge",
        ("GET", "/challenges/{challenge_id}"): "getChallenge",
        ("PATCH", "/challenges/{challenge_id}"): "updateChallenge",
        ("POST", "/challenges/{challenge_id}/publish"): "publishChallenge",
        ("POST", "/challenges/{challenge_id}/close"): "closeChallenge",
        ("POST", "/challenges/{challenge_id}/archive"): "archiveChallenge",
        ("GET", "/submissions"): "listMySubmissions",
        ("GET", "/challenges/{challenge_id}/submissions"): "listChallengeSubmissions",
        ("POST", "/challenges/{challenge_id}/submissions"): "createSubmission",
        ("GET", "/submissions/{submission_id}"): "getSubmission",
        ("PUT", "/submissions/{submission_id}"): "reviseSubmission",
        ("POST", "/submissions/{submission_id}/withdraw"): "withdrawSubmission",
        ("GET", "/submissions/{submission_id}/versions"): "listSubmissionVersions",
        ("GET", "/submissions/{submission_id}/versions/{version}"): "getSubmissionVersion",
        ("GET", "/resources"): "listResources",
        ("POST", "/resources"): "shareResource",
        ("GET", "/resources/{resource_id}"): "getResource",
        ("POST", "/resources/{resource_id}/endorsements"): "endorseResource",
        ("POST", "/resources/{resource_id}/flags"): "flagResource",
        ("GET", "/resources/{resource_id}/revisions"): "listRevisions",
        ("POST", "/resources/{resource_id}/revisions"): "proposeRevision",
        ("GET", "/resources/{resource_id}/revisions/{revision_id}"): "getRevision",
        ("POST", "/resources/{resource_id}/revisions/{revision_id}/decision"): "decideRevision",
    },
)


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the challenges app; tests pass settings or ready-made dependencies."""
    dependencies = dependencies or build(settings or load_settings())
    return create_service_app(dependencies, API, periodic_tasks(dependencies))
