"""HTTP views of the challenges service: load, call one use case, dump."""

from __future__ import annotations

from typing import Any

from flask import current_app

from services.challenges.bootstrap import Dependencies
from services.challenges.usecases.context import Context
from shared.contracts.auth import Role
from shared.observability import current_request_id

# Path converter for object ids: anything else answers 404 before a view runs.
ID = "objectid"
STAFF = (Role.TEACHER, Role.ADMIN)
MEMBERS = (Role.LEARNER, Role.TEACHER, Role.ADMIN)


def use_case_context() -> Context:
    """Return the use-case context of the current request."""
    dependencies: Dependencies = current_app.extensions["connective"].dependencies
    return dependencies.context(request_id=current_request_id)


def page(items: list[Any], total: int) -> dict[str, Any]:
    """Return a list answer: `{items, total}`."""
    return {"items": items, "total": total}


# name -> (description, example); ids take their example from the objectid converter's schema.
_PATH_PARAMETERS: dict[str, tuple[str, Any]] = {
    "challenge_id": ("The challenge's id", None),
    "submission_id": ("The submission's id", None),
    "resource_id": ("The resource's id", None),
    "revision_id": ("The proposed revision's id", None),
    "version": ("A version number of the submission (1 is the first)", 1),
}


def path_parameters(*names: str) -> list[dict[str, Any]]:
    """Return the OpenAPI description of these path parameters, for `Blueprint.route(parameters=...)`."""
    parameters = []
    for name in names:
        description, example = _PATH_PARAMETERS[name]
        parameter: dict[str, Any] = {"in": "path", "name": name, "description": description}
        if example is not None:
            parameter["example"] = example
        parameters.append(parameter)
    return parameters
