"""The peer-review service's Flask app."""

from __future__ import annotations

from flask import Flask

from services.peer_review.bootstrap import Dependencies, build, periodic_tasks
from services.peer_review.routes import allocations, assignments, reviews
from services.peer_review.schemas import PeerReviewProblemSchema
from services.peer_review.settings import load_settings
from shared.settings import Settings
from shared.web import ServiceApi, create_service_app

DESCRIPTION = """Peer review: review assignments (pushed to reviewers, or pulled from a queue), blind reviews with
the challenge's rubric, consensus grades, reviewers' reliability, and peers' verification of knowledge updates.

Every endpoint needs `Authorization: Bearer <JWT>`. Errors are `application/problem+json` (RFC 9457)."""


API = ServiceApi(
    title="Connective: peer review",
    description=DESCRIPTION,
    blueprints=(assignments.blp, reviews.blp, allocations.blp),
    problem_schema=PeerReviewProblemSchema,
    operation_ids={
        ("GET", "/assignments"): "listAssignments",
        ("POST", "/assignments/next"): "requestAssignment",
        ("GET", "/assignments/{assignment_id}"): "getAssignment",
        ("POST", "/assignments/{assignment_id}/decline"): "declineAssignment",
        ("POST", "/assignments/{assignment_id}/review"): "submitReview",
        ("PUT", "/reviews/{review_id}"): "updateReview",
        ("POST", "/reviews/{review_id}/rating"): "rateReview",
        ("GET", "/targets/{kind}/{target_id}/reviews"): "listTargetReviews",
        ("POST", "/targets/{kind}/{target_id}/override"): "overrideGrade",
        ("GET", "/reviewers/{user_id}"): "getReviewer",
        ("GET", "/allocations"): "listAllocations",
        ("POST", "/allocations"): "allocateReviews",
        ("POST", "/allocations/{assignment_id}/reassign"): "reassignReview",
    },
)


def create_app(settings: Settings | None = None, dependencies: Dependencies | None = None) -> Flask:
    """Build the peer-review app; tests pass settings or ready-made dependencies."""
    dependencies = dependencies or build(settings or load_settings())
    return create_service_app(dependencies, API, periodic_tasks(dependencies))
