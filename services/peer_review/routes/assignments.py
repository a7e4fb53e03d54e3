"""HTTP views of reviewers' assignments: mine, the pull queue, declining, and reviewing."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from services.peer_review.domain.reviews import Review
from services.peer_review.routes import ID, MEMBERS, documents_errors, path_parameters, use_case_context
from services.peer_review.schemas.assignments import (
    ASSIGNMENT_EXAMPLE,
    AssignmentListQuerySchema,
    AssignmentPageSchema,
    AssignmentSchema,
    DeclineCreateSchema,
    NextAssignmentCreateSchema,
)
from services.peer_review.schemas.reviews import REVIEW_EXAMPLE, ReviewCreateSchema, ReviewSchema
from services.peer_review.usecases import assignments as usecases
from services.peer_review.usecases import reviews
from shared.auth import authenticate, requires
from shared.web import ServiceBlueprint, page

blp = ServiceBlueprint("assignments", __name__, description="My review assignments, the review queue, and reviewing")


def assignment_view(view: usecases.AssignmentView, *, with_reviewer: bool = False) -> dict[str, Any]:
    """Return an assignment as its reviewer (or, with the reviewer named, its teacher) sees it."""
    assignment = view.assignment
    shown: dict[str, Any] = {
        "id": assignment.id,
        "kind": assignment.kind,
        "target_id": assignment.target_id,
        "challenge_id": assignment.challenge_id,
        "status": assignment.status,
        "mode": assignment.mode,
        "created_at": assignment.created_at,
        "due_at": assignment.due_at,
        "late": view.late,
        "ended_at": assignment.ended_at,
        "review_id": assignment.review_id,
        "resource_id": view.resource_id,
        "details": view.details,
    }
    if with_reviewer:
        shown["reviewer_id"] = assignment.reviewer_id
    return shown


@blp.route("/assignments")
class MyAssignments(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(AssignmentListQuerySchema, location="query")
    @blp.response(200, AssignmentPageSchema, example={"items": [ASSIGNMENT_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List my review assignments, newest first, each with its due time and whether it is late.

        Read a submission to review at the challenges service (`GET /submissions/{target_id}`); a
        revision's change comes with the assignment (`details`).
        """
        items, total = usecases.list_own(
            actor=authenticate(),
            context=use_case_context(),
            status=query["status"],
            kind=query["kind"],
            challenge_id=query["challenge_id"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return page([assignment_view(item) for item in items], total)


@blp.route("/assignments/next")
class NextAssignment(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(NextAssignmentCreateSchema, example={"challenge_id": "6b02e48625231e1d5301a2b7"})
    @blp.response(201, AssignmentSchema, example={**ASSIGNMENT_EXAMPLE, "mode": "pull"})
    @blp.alt_response(204, description="Nothing is waiting for a review from you right now")
    @documents_errors(blp, 400, 401, 403, 413, 422)
    def post(self, fields: dict[str, Any]) -> Any:
        """Claim something to review from the queue: the oldest eligible target with the fewest reviews.

        Send `{}` for anything, or `challenge_id` and/or `kind` (`submission`, `revision`). The claim lapses
        after the challenge's `due_hours` and the target returns to the queue. 204 when nothing is due.
        """
        claimed = usecases.next_assignment(
            actor=authenticate(), context=use_case_context(), challenge_id=fields["challenge_id"], kind=fields["kind"]
        )
        if claimed is None:
            return Response(status=204)
        return assignment_view(claimed)


@blp.route(f"/assignments/<{ID}:assignment_id>", parameters=path_parameters("assignment_id"))
class OneAssignment(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, AssignmentSchema, example=ASSIGNMENT_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, assignment_id: str) -> dict[str, Any]:
        """Read one of my assignments (other people's do not exist for me).

        With its status, due time and whether it is late; for a revision, the change to verify (`details`).
        Anyone else's assignment, or an unknown id, answers 404.
        """
        return assignment_view(usecases.get_own(assignment_id, actor=authenticate(), context=use_case_context()))


@blp.route(f"/assignments/<{ID}:assignment_id>/decline", parameters=path_parameters("assignment_id"))
class DeclineAssignment(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(DeclineCreateSchema, example={})
    @blp.response(200, AssignmentSchema, example={**ASSIGNMENT_EXAMPLE, "status": "declined"})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, _fields: dict[str, Any], assignment_id: str) -> dict[str, Any]:
        """Decline an open assignment; emits `review.declined`, and the target goes to someone else.

        You lose access to the target and are never given it again. Declining a reviewed or ended
        assignment answers 409.
        """
        return assignment_view(usecases.decline(assignment_id, actor=authenticate(), context=use_case_context()))


@blp.route(f"/assignments/<{ID}:assignment_id>/review", parameters=path_parameters("assignment_id"))
class ReviewAssignment(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(
        ReviewCreateSchema,
        example={"scores": {"Accuracy": 4}, "comment": "Clear explanation; cite where the sugar goes next."},
    )
    @blp.response(201, ReviewSchema, example=REVIEW_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], assignment_id: str) -> Review:
        """Review my assignment: a score for every rubric criterion, or for a revision a verdict; and a comment.

        On time or late (allowed, marked, earns less). Once per assignment (again: 409 with `existing_id`;
        edit with `PUT /reviews/{id}` until the target is graded). Emits `review.submitted`; the review that
        completes a target's reviews grades it (`target.graded`) or decides the revision (`revision.verified`).
        """
        return reviews.submit_review(assignment_id, fields, actor=authenticate(), context=use_case_context())
