"""HTTP views of teachers' allocations: allocate a challenge now, see it, reassign one assignment."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.peer_review.routes import ID, STAFF, documents_errors, path_parameters, use_case_context
from services.peer_review.routes.assignments import assignment_view
from services.peer_review.schemas.assignments import (
    ASSIGNMENT_EXAMPLE,
    AllocatedAssignmentSchema,
    AllocationCreateSchema,
    AllocationListQuerySchema,
    AllocationPageSchema,
    AllocationResultSchema,
    ReassignCreateSchema,
)
from services.peer_review.usecases import assignments as usecases
from services.peer_review.usecases import reviews
from shared.auth import authenticate, requires
from shared.web import ServiceBlueprint, page

blp = ServiceBlueprint("allocations", __name__, description="Teachers' view and adjustment of a challenge's allocation")

ALLOCATED_EXAMPLE = {**ASSIGNMENT_EXAMPLE, "reviewer_id": "bob"}


@blp.route("/allocations")
class Allocations(MethodView):
    @requires(*STAFF)
    @blp.arguments(AllocationCreateSchema, example={"challenge_id": "6b02e48625231e1d5301a2b7"})
    @blp.response(
        200,
        AllocationResultSchema,
        example={"challenge_id": "6b02e48625231e1d5301a2b7", "created": 1, "assignments": [ALLOCATED_EXAMPLE]},
    )
    @documents_errors(blp, 400, 401, 403, 404, 413, 422)
    def post(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Allocate a challenge's submissions now: every one still short gets its reviewers, over all submitters.

        The challenge's teacher or an admin. Safe to run again: it never duplicates an assignment and adds
        only what is missing (`created` may be 0). Emits `review.assigned` for each new assignment.
        """
        context = use_case_context()
        created = usecases.allocate_for_teacher(fields["challenge_id"], actor=authenticate(), context=context)
        return {
            "challenge_id": fields["challenge_id"],
            "created": len(created),
            "assignments": [assignment_view(view, with_reviewer=True) for view in usecases.views_of(created, context)],
        }

    @requires(*STAFF)
    @blp.arguments(AllocationListQuerySchema, location="query")
    @blp.response(
        200,
        AllocationPageSchema,
        example={
            "items": [
                {
                    "kind": "submission",
                    "target_id": "6b02e48625231e1d5301a2b9",
                    "author_id": "alice",
                    "status": "open",
                    "needed": 2,
                    "assignments": [ALLOCATED_EXAMPLE],
                }
            ],
            "total": 1,
            "suspected_collusion": [],
        },
    )
    @documents_errors(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """See a challenge's allocation: each submission, its reviewers and what it still needs.

        Also lists people suspected of trading favourable reviews (pairs or rings of three who review each
        other and score each other well above the consensus). The challenge's teacher or an admin.
        """
        context = use_case_context()
        items, total = usecases.challenge_allocation(
            query["challenge_id"], actor=authenticate(), context=context, limit=query["limit"], offset=query["offset"]
        )
        shown = [
            {
                "kind": item.target.kind,
                "target_id": item.target.target_id,
                "author_id": item.target.author_id,
                "status": item.target.status,
                "needed": item.needed,
                "assignments": [
                    assignment_view(view, with_reviewer=True) for view in usecases.views_of(item.assignments, context)
                ],
            }
            for item in items
        ]
        return {
            **page(shown, total),
            "suspected_collusion": reviews.suspected_collusion(query["challenge_id"], context),
        }


@blp.route(f"/allocations/<{ID}:assignment_id>/reassign", parameters=path_parameters("assignment_id"))
class Reassign(MethodView):
    @requires(*STAFF)
    @blp.arguments(ReassignCreateSchema, example={"reviewer_id": "dave"})
    @blp.response(201, AllocatedAssignmentSchema, example={**ALLOCATED_EXAMPLE, "reviewer_id": "dave"})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], assignment_id: str) -> dict[str, Any]:
        """Give an open assignment to someone else (the challenge's teacher or an admin).

        The first reviewer loses access (`review.declined`, reason `reassigned`); the new one gets a new
        assignment (`review.assigned`). Nobody reviews their own work, nor a target they are or were on (422).
        """
        context = use_case_context()
        created = usecases.reassign(assignment_id, fields["reviewer_id"], actor=authenticate(), context=context)
        return assignment_view(usecases.views_of([created], context)[0], with_reviewer=True)
