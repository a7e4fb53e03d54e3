"""HTTP views of the knowledge commons: shared resources, endorsements, flags and revisions."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.challenges.domain.resources import Flag, Resource
from services.challenges.domain.revisions import Revision
from services.challenges.routes import ID, MEMBERS, documents_errors, use_case_context
from services.challenges.schemas.resources import (
    DECISION_EXAMPLE,
    ENDORSEMENT_EXAMPLE,
    FLAG_EXAMPLE,
    PROPOSAL_EXAMPLE,
    RESOURCE_EXAMPLE,
    REVISION_EXAMPLE,
    SHARE_EXAMPLE,
    EndorsementCreateSchema,
    EndorsementSchema,
    FlagCreateSchema,
    FlagSchema,
    ResourceCreateSchema,
    ResourceListQuerySchema,
    ResourcePageSchema,
    ResourceSchema,
    RevisionCreateSchema,
    RevisionDecisionCreateSchema,
    RevisionListQuerySchema,
    RevisionPageSchema,
    RevisionSchema,
)
from services.challenges.usecases import resources as usecases
from services.challenges.usecases import revisions
from shared.auth import authenticate, requires
from shared.web import ServiceBlueprint, page

blp = ServiceBlueprint(
    "resources", __name__, description="The knowledge commons: shared resources, endorsements, flags and revisions"
)

# Path parameters, described once for every route that has them.
RESOURCE_ID = {"in": "path", "name": "resource_id", "description": "The resource's id"}
REVISION_ID = {"in": "path", "name": "revision_id", "description": "The revision's id"}


@blp.route("/resources")
class ResourceCollection(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(ResourceCreateSchema, example=SHARE_EXAMPLE)
    @blp.response(201, ResourceSchema, example=RESOURCE_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any]) -> Resource:
        """Share a learning resource; emits `resource.shared`, which earns the sharer points.

        The same page shared again (after canonicalising the URL: scheme and host case, default ports,
        `www.`, fragments, tracking parameters, trailing slashes) answers 409 with `existing_id`:
        endorse or update that resource instead. The resource is due for a check `review_interval_days`
        after it was shared (else the interval configured for its tags, else the deployment's default).
        """
        return usecases.share_resource(fields, actor=authenticate(), context=use_case_context())

    @requires(*MEMBERS)
    @blp.arguments(ResourceListQuerySchema, location="query")
    @blp.response(200, ResourcePageSchema, example={"items": [RESOURCE_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Search shared resources by tag, text, freshness and flags.

        Newest first unless `sort` says otherwise; `stale=true` lists resources due for a check, the work
        list of knowledge updates. `total` counts every match, not just this page.
        """
        items, total = usecases.list_resources(
            context=use_case_context(),
            tag=query["tag"],
            text=query["q"],
            stale=query["stale"],
            flagged=query["flagged"],
            flag=query["flag"],
            owner_id=query["owner_id"],
            challenge_id=query["challenge_id"],
            sort=query["sort"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return page(items, total)


@blp.route(f"/resources/<{ID}:resource_id>", parameters=[RESOURCE_ID])
class ResourceItem(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, ResourceSchema, example=RESOURCE_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, resource_id: str) -> Resource:
        """Read a shared resource: its current accepted version, open flags and freshness.

        Pending revisions do not show here; read them under `/resources/{resource_id}/revisions`.
        """
        return usecases.read_resource(resource_id, context=use_case_context())


@blp.route(f"/resources/<{ID}:resource_id>/endorsements", parameters=[RESOURCE_ID])
class ResourceEndorsements(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(EndorsementCreateSchema, example={})
    @blp.response(201, EndorsementSchema, example=ENDORSEMENT_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, _fields: dict[str, Any], resource_id: str) -> dict[str, Any]:
        """Endorse a resource you found useful; emits `resource.endorsed`, which earns its owner points.

        Send no body or `{}`. Each person endorses a resource once (again: 409), never their own (403).
        """
        return usecases.endorse_resource(resource_id, actor=authenticate(), context=use_case_context())


@blp.route(f"/resources/<{ID}:resource_id>/flags", parameters=[RESOURCE_ID])
class ResourceFlags(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(FlagCreateSchema, example=FLAG_EXAMPLE)
    @blp.response(201, FlagSchema, example={**FLAG_EXAMPLE, "id": "6b02e48625231e1d5301a2c0", "user_id": "bob"})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], resource_id: str) -> Flag:
        """Flag a resource as outdated, broken or inaccurate, saying what is wrong; emits `resource.flagged`.

        The flag stays open, shown with the resource, until an accepted revision resolves it. Flagging it
        again for the same reason while your flag is open answers 409, as does a resource holding 200 flags.
        """
        return usecases.flag_resource(resource_id, fields, actor=authenticate(), context=use_case_context())


@blp.route(f"/resources/<{ID}:resource_id>/revisions", parameters=[RESOURCE_ID])
class ResourceRevisions(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(RevisionCreateSchema, example=PROPOSAL_EXAMPLE)
    @blp.response(201, RevisionSchema, example={**REVISION_EXAMPLE, "status": "pending", "decision": None})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], resource_id: str) -> Revision:
        """Propose a knowledge update of a resource; emits `resource.revision_proposed`.

        Send new values for any of `title`, `summary`, `url` (each must differ from the current value,
        else 422) with a `note` saying what changed and why, and `sources`. The revision stays pending,
        and readers see the current version, until two peers verify it or the resource's owner, a teacher
        or an admin decides. A new `url` another resource has already answers 409 with `existing_id`, and
        so does a second proposal while the caller's earlier one for this resource is still pending.
        """
        return revisions.propose_revision(resource_id, fields, actor=authenticate(), context=use_case_context())

    @requires(*MEMBERS)
    @blp.arguments(RevisionListQuerySchema, location="query")
    @blp.response(200, RevisionPageSchema, example={"items": [REVISION_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], resource_id: str) -> dict[str, Any]:
        """List a resource's revisions, newest first, each with its diff and decision.

        Old revisions stay readable: this is the resource's history. Filter with `status`.
        """
        items, total = revisions.list_revisions(
            resource_id,
            context=use_case_context(),
            status=query["status"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return page(items, total)


@blp.route(f"/resources/<{ID}:resource_id>/revisions/<{ID}:revision_id>", parameters=[RESOURCE_ID, REVISION_ID])
class ResourceRevision(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, RevisionSchema, example=REVISION_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, resource_id: str, revision_id: str) -> Revision:
        """Read one revision of a resource: its diff, status and decision.

        A revision id under another resource answers 404.
        """
        return revisions.get_revision(resource_id, revision_id, context=use_case_context())


@blp.route(
    f"/resources/<{ID}:resource_id>/revisions/<{ID}:revision_id>/decision", parameters=[RESOURCE_ID, REVISION_ID]
)
class ResourceRevisionDecision(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(RevisionDecisionCreateSchema, example=DECISION_EXAMPLE)
    @blp.response(200, RevisionSchema, example=REVISION_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], resource_id: str, revision_id: str) -> Revision:
        """Accept or reject a pending revision with a binding decision; emits `resource.revision_accepted`/`_rejected`.

        The resource's owner, a teacher or an admin decides; never the proposer (403), nor another learner
        (403). Accepting makes the revision the current version, marks the resource verified now, and
        resolves its open `outdated` and `inaccurate` flags (and `broken` ones when the url changed). A
        decided revision answers 409; so does accepting one whose resource changed since it was proposed,
        which is then rejected as superseded.
        """
        return revisions.decide_revision(
            resource_id, revision_id, fields, actor=authenticate(), context=use_case_context()
        )
