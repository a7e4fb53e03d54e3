"""HTTP views of the challenges service: load, call one use case, dump."""

from __future__ import annotations

from typing import Any

from flask import current_app

from services.challenges.bootstrap import Dependencies
from services.challenges.usecases.context import Context
from shared.contracts.auth import Role
from shared.observability import current_request_id

# Path converter for object ids: anything else answers 404 before a view runs.
ID = "string(length=24)"
STAFF = (Role.TEACHER, Role.ADMIN)
MEMBERS = (Role.LEARNER, Role.TEACHER, Role.ADMIN)


def use_case_context() -> Context:
    """Return the use-case context of the current request."""
    dependencies: Dependencies = current_app.extensions["connective"].dependencies
    return Context(
        repositories=dependencies.repositories,
        outbox=dependencies.outbox,
        clock=dependencies.clock,
        request_id=current_request_id,
        freshness=dependencies.freshness,
    )


def page(items: list[Any], total: int) -> dict[str, Any]:
    """Return a list answer: `{items, total}`."""
    return {"items": items, "total": total}
