"""HTTP views of the peer-review service: load, call one use case, dump."""

from __future__ import annotations

from typing import cast

from services.peer_review.schemas import PeerReviewProblemSchema
from services.peer_review.usecases.context import Context
from shared.contracts.auth import Role
from shared.web import ErrorDocs, PathParameters
from shared.web import use_case_context as request_context

# Path converter for object ids: anything else answers 404 before a view runs.
ID = "objectid"
MEMBERS = (Role.LEARNER, Role.TEACHER, Role.ADMIN)
STAFF = (Role.TEACHER, Role.ADMIN)

# The problem+json answers of the service's views, documented with examples in its own words.
documents_errors = ErrorDocs(
    PeerReviewProblemSchema,
    {
        403: {"detail": "This action needs one of these roles: teacher, admin"},
        404: {"detail": "No assignment with id 6b02e48625231e1d5301a2d1"},
        409: {
            "detail": "You reviewed this already: edit your review with PUT /reviews/{id}",
            "existing_id": "6b02e48625231e1d5301a2e1",
        },
        422: {"detail": "The request has invalid fields: scores", "errors": {"scores": ["Score every criterion"]}},
    },
)


def use_case_context() -> Context:
    """Return the use-case context of the current request."""
    return cast(Context, request_context())


# name -> (description, example); ids take their example from the objectid converter's schema.
path_parameters = PathParameters(
    {
        "assignment_id": ("The assignment's id", None),
        "review_id": ("The review's id", None),
        "target_id": ("The submission's or the revision's id", None),
        "kind": ("What is reviewed: `submission` or `revision`", "submission"),
        "user_id": ("The reviewer's user id (a token's `sub`)", "alice"),
    }
)
