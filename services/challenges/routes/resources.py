"""HTTP views of the knowledge commons: shared resources."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.challenges.domain.resources import Resource
from services.challenges.routes import ID, MEMBERS, page, use_case_context
from services.challenges.schemas.resources import (
    ResourceCreateSchema,
    ResourceListQuerySchema,
    ResourcePageSchema,
    ResourceSchema,
)
from services.challenges.usecases import resources as usecases
from shared.auth import authenticate, requires
from shared.web import documents_errors

blp = Blueprint("resources", __name__, description="The knowledge commons: shared learning resources")


@blp.route("/resources")
class ResourceCollection(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(ResourceCreateSchema)
    @blp.response(201, ResourceSchema)
    @documents_errors(blp, 401, 403, 404, 409, 413)
    def post(self, fields: dict[str, Any]) -> Resource:
        """Share a learning resource; emits `resource.shared`, which earns the sharer points.

        The same page shared again (after canonicalising the URL: scheme and host case, default ports,
        `www.`, fragments, tracking parameters, trailing slashes) answers 409 with `existing_id`:
        endorse or update that resource instead.
        """
        return usecases.share_resource(fields, actor=authenticate(), context=use_case_context())

    @requires(*MEMBERS)
    @blp.arguments(ResourceListQuerySchema, location="query")
    @blp.response(200, ResourcePageSchema)
    @documents_errors(blp, 401, 403)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List shared resources, newest first, optionally by tag."""
        items, total = usecases.list_resources(
            context=use_case_context(), tag=query["tag"], limit=query["limit"], offset=query["offset"]
        )
        return page(items, total)


@blp.route(f"/resources/<{ID}:resource_id>")
class ResourceItem(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, ResourceSchema)
    @documents_errors(blp, 401, 403, 404)
    def get(self, resource_id: str) -> Resource:
        """Read a shared resource."""
        return usecases.get_resource(resource_id, context=use_case_context())
