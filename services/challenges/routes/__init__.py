"""HTTP views of the challenges service: load, call one use case, dump."""

from __future__ import annotations

from typing import cast

from services.challenges.schemas import ChallengesProblemSchema
from services.challenges.usecases.context import Context
from shared.contracts.auth import Role
from shared.web import ErrorDocs, PathParameters
from shared.web import use_case_context as request_context

# Path converter for object ids: anything else answers 404 before a view runs.
ID = "objectid"
STAFF = (Role.TEACHER, Role.ADMIN)
MEMBERS = (Role.LEARNER, Role.TEACHER, Role.ADMIN)


# The problem+json answers of the service's views, documented with examples in its own words.
documents_errors = ErrorDocs(
    ChallengesProblemSchema,
    {
        403: {"detail": "Only the challenge's teacher or an admin may publish it"},
        404: {"detail": "No challenge with id 6b02e48625231e1d5301a2b7"},
        409: {
            "detail": "This challenge is closed; it does not accept contributions",
            "type": "https://connective.dev/problems/invalid-state",
        },
        422: {
            "errors": {"title": ["Shorter than minimum length 1."]},
            "detail": "The request has invalid fields: title",
        },
    },
)


def use_case_context() -> Context:
    """Return the use-case context of the current request."""
    return cast(Context, request_context())


# name -> (description, example); ids take their example from the objectid converter's schema.
path_parameters = PathParameters(
    {
        "challenge_id": ("The challenge's id", None),
        "submission_id": ("The submission's id", None),
        "resource_id": ("The resource's id", None),
        "revision_id": ("The proposed revision's id", None),
        "version": ("A version number of the submission (1 is the first)", 1),
    }
)
