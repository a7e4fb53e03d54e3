"""HTTP views of teachers' challenges."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.challenges.domain.challenges import Challenge
from services.challenges.routes import ID, MEMBERS, STAFF, documents_errors, path_parameters, use_case_context
from services.challenges.schemas.challenges import (
    CHALLENGE_EXAMPLE,
    CREATE_EXAMPLE,
    ChallengeCreateSchema,
    ChallengeListQuerySchema,
    ChallengePageSchema,
    ChallengeSchema,
    ChallengeUpdateSchema,
)
from services.challenges.usecases import challenges as usecases
from shared.auth import authenticate, requires
from shared.web import ServiceBlueprint, page

blp = ServiceBlueprint(
    "challenges", __name__, description="Teachers' challenges: create, edit, publish, close, archive"
)


@blp.route("/challenges")
class ChallengeCollection(MethodView):
    @requires(*STAFF)
    @blp.arguments(ChallengeCreateSchema, example=CREATE_EXAMPLE)
    @blp.response(201, ChallengeSchema, example=CHALLENGE_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 413, 422)
    def post(self, fields: dict[str, Any]) -> Challenge:
        """Create a challenge as a draft (teachers and admins).

        The challenge stays invisible to learners until it is published. `prerequisites` name challenges
        a learner must have submitted to first. Rules beyond each field's own (422): `prerequisites` must
        name existing challenges, `ends_at` must come after `starts_at`, and rubric criteria must have
        different names.
        """
        return usecases.create_challenge(fields, actor=authenticate(), context=use_case_context())

    @requires(*MEMBERS)
    @blp.arguments(ChallengeListQuerySchema, location="query")
    @blp.response(200, ChallengePageSchema, example={"items": [CHALLENGE_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List challenges, newest first unless `sort` says otherwise.

        Teachers and admins see every challenge; learners see published and closed challenges open to
        one of their cohorts (or to everyone). `total` counts every match, not just this page.
        """
        items, total = usecases.list_challenges(
            actor=authenticate(),
            context=use_case_context(),
            status=query["status"],
            tag=query["tag"],
            kind=query["kind"],
            cohort=query["cohort"],
            owner_id=query["owner_id"],
            open_now=query["open"],
            sort=query["sort"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return page(items, total)


@blp.route(f"/challenges/<{ID}:challenge_id>", parameters=path_parameters("challenge_id"))
class ChallengeItem(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, ChallengeSchema, example=CHALLENGE_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, challenge_id: str) -> Challenge:
        """Read a challenge.

        Learners see published and closed challenges open to one of their cohorts (or to everyone);
        drafts, archived challenges and other cohorts' challenges answer 404. `status` is as of now: a
        published challenge past its `ends_at` reads as closed, and `open` says whether learners can
        take part right now.
        """
        return usecases.read_challenge(challenge_id, actor=authenticate(), context=use_case_context())

    @requires(*STAFF)
    @blp.arguments(ChallengeUpdateSchema, example={"title": "Explain photosynthesis in 200 words"})
    @blp.response(200, ChallengeSchema, example=CHALLENGE_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def patch(self, fields: dict[str, Any], challenge_id: str) -> Challenge:
        """Edit a challenge (its teacher or an admin); only the fields sent change.

        A draft may change anything. Once published, the title, description, tags and window may change
        (`ends_at` must stay in the future; `starts_at` only until the challenge starts); kind, cohorts,
        points, rubric, review settings and prerequisites are fixed (409). Closed and archived challenges
        cannot change (409).
        """
        return usecases.edit_challenge(challenge_id, fields, actor=authenticate(), context=use_case_context())


@blp.route(f"/challenges/<{ID}:challenge_id>/publish", parameters=path_parameters("challenge_id"))
class ChallengePublication(MethodView):
    @requires(*STAFF)
    @blp.response(200, ChallengeSchema, example=CHALLENGE_EXAMPLE)
    @documents_errors(blp, 401, 403, 404, 409)
    def post(self, challenge_id: str) -> Challenge:
        """Publish a draft challenge (its teacher or an admin); emits `challenge.published`.

        Learners of its cohorts see it from now on and can take part once `starts_at` is reached. A
        challenge that is not a draft, or whose `ends_at` has passed, answers 409.
        """
        return usecases.publish_challenge(challenge_id, actor=authenticate(), context=use_case_context())


@blp.route(f"/challenges/<{ID}:challenge_id>/close", parameters=path_parameters("challenge_id"))
class ChallengeClosing(MethodView):
    @requires(*STAFF)
    @blp.response(200, ChallengeSchema, example=CHALLENGE_EXAMPLE)
    @documents_errors(blp, 401, 403, 404, 409)
    def post(self, challenge_id: str) -> Challenge:
        """Close a published challenge now (its teacher or an admin); emits `challenge.closed`.

        A challenge also closes by itself at its `ends_at`.
        """
        return usecases.close_challenge(challenge_id, actor=authenticate(), context=use_case_context())


@blp.route(f"/challenges/<{ID}:challenge_id>/archive", parameters=path_parameters("challenge_id"))
class ChallengeArchiving(MethodView):
    @requires(*STAFF)
    @blp.response(200, ChallengeSchema, example=CHALLENGE_EXAMPLE)
    @documents_errors(blp, 401, 403, 404, 409)
    def post(self, challenge_id: str) -> Challenge:
        """Archive a draft or closed challenge (its teacher or an admin); learners no longer see it.

        A published challenge must be closed first (409).
        """
        return usecases.archive_challenge(challenge_id, actor=authenticate(), context=use_case_context())
