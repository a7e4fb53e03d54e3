"""HTTP views of the challenges service: load, call one use case, dump."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from services.challenges import usecases
from services.challenges.bootstrap import Dependencies
from services.challenges.domain import Challenge, Resource
from services.challenges.schemas import (
    ChallengeCreateSchema,
    ChallengeListQuerySchema,
    ChallengePageSchema,
    ChallengeSchema,
    ResourceCreateSchema,
    ResourceListQuerySchema,
    ResourcePageSchema,
    ResourceSchema,
)
from shared.auth import authenticate, requires
from shared.contracts.auth import Role
from shared.observability import current_request_id
from shared.web import documents_errors

challenges = Blueprint("challenges", __name__, description="Teachers' challenges")
resources = Blueprint("resources", __name__, description="The knowledge commons: shared learning resources")

ID = "string(length=24)"
STAFF = (Role.TEACHER, Role.ADMIN)
MEMBERS = (Role.LEARNER, Role.TEACHER, Role.ADMIN)


def _context() -> usecases.Context:
    dependencies: Dependencies = current_app.extensions["connective"].dependencies
    return usecases.Context(
        repositories=dependencies.repositories, outbox=dependencies.outbox, request_id=current_request_id
    )


def _page(items: list[Any], total: int) -> dict[str, Any]:
    return {"items": items, "total": total}


@challenges.route("/challenges")
class ChallengeCollection(MethodView):
    @requires(*STAFF)
    @challenges.arguments(ChallengeCreateSchema)
    @challenges.response(201, ChallengeSchema)
    @documents_errors(challenges, 401, 403, 413)
    def post(self, fields: dict[str, Any]) -> Challenge:
        """Create a challenge as a draft (teachers and admins).

        The challenge stays invisible to learners until it is published.
        """
        return usecases.create_challenge(fields, actor=authenticate(), context=_context())

    @requires(*MEMBERS)
    @challenges.arguments(ChallengeListQuerySchema, location="query")
    @challenges.response(200, ChallengePageSchema)
    @documents_errors(challenges, 401, 403)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List challenges, newest first.

        Teachers and admins see every challenge; learners see published and closed challenges open to
        one of their cohorts (or to everyone).
        """
        items, total = usecases.list_challenges(
            actor=authenticate(),
            context=_context(),
            status=query["status"],
            tag=query["tag"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return _page(items, total)


@challenges.route(f"/challenges/<{ID}:challenge_id>")
class ChallengeItem(MethodView):
    @requires(*MEMBERS)
    @challenges.response(200, ChallengeSchema)
    @documents_errors(challenges, 401, 403, 404)
    def get(self, challenge_id: str) -> Challenge:
        """Read a challenge (learners: only published ones open to them; drafts answer 404)."""
        return usecases.get_challenge(challenge_id, actor=authenticate(), context=_context())


@challenges.route(f"/challenges/<{ID}:challenge_id>/publish")
class ChallengePublication(MethodView):
    @requires(*STAFF)
    @challenges.response(200, ChallengeSchema)
    @documents_errors(challenges, 401, 403, 404, 409)
    def post(self, challenge_id: str) -> Challenge:
        """Publish a draft challenge (its teacher or an admin); emits `challenge.published`."""
        return usecases.publish_challenge(challenge_id, actor=authenticate(), context=_context())


@resources.route("/resources")
class ResourceCollection(MethodView):
    @requires(*MEMBERS)
    @resources.arguments(ResourceCreateSchema)
    @resources.response(201, ResourceSchema)
    @documents_errors(resources, 401, 403, 404, 409, 413)
    def post(self, fields: dict[str, Any]) -> Resource:
        """Share a learning resource; emits `resource.shared`, which earns the sharer points.

        The same page shared again (after canonicalising the URL: scheme and host case, default ports,
        `www.`, fragments, tracking parameters, trailing slashes) answers 409 with `existing_id`:
        endorse or update that resource instead.
        """
        return usecases.share_resource(fields, actor=authenticate(), context=_context())

    @requires(*MEMBERS)
    @resources.arguments(ResourceListQuerySchema, location="query")
    @resources.response(200, ResourcePageSchema)
    @documents_errors(resources, 401, 403)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List shared resources, newest first, optionally by tag."""
        items, total = usecases.list_resources(
            context=_context(), tag=query["tag"], limit=query["limit"], offset=query["offset"]
        )
        return _page(items, total)


@resources.route(f"/resources/<{ID}:resource_id>")
class ResourceItem(MethodView):
    @requires(*MEMBERS)
    @resources.response(200, ResourceSchema)
    @documents_errors(resources, 401, 403, 404)
    def get(self, resource_id: str) -> Resource:
        """Read a shared resource."""
        return usecases.get_resource(resource_id, context=_context())
