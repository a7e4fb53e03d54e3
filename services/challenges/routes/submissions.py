"""HTTP views of learners' submissions."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.challenges.domain.submissions import SubmissionVersion, SubmissionView
from services.challenges.routes import ID, MEMBERS, documents_errors, path_parameters, use_case_context
from services.challenges.schemas.submissions import (
    CREATE_EXAMPLE,
    SUBMISSION_EXAMPLE,
    VERSION_EXAMPLE,
    OwnSubmissionListQuerySchema,
    SubmissionCreateSchema,
    SubmissionListQuerySchema,
    SubmissionPageSchema,
    SubmissionSchema,
    SubmissionVersionPageSchema,
    SubmissionVersionSchema,
    VersionListQuerySchema,
)
from services.challenges.usecases import submissions as usecases
from shared.auth import authenticate, requires
from shared.contracts.auth import Role
from shared.web import ServiceBlueprint, page

blp = ServiceBlueprint("submissions", __name__, description="Learners' submissions to challenges, with their versions")


@blp.route("/submissions")
class OwnSubmissions(MethodView):
    @requires(*MEMBERS)
    @blp.arguments(OwnSubmissionListQuerySchema, location="query")
    @blp.response(200, SubmissionPageSchema, example={"items": [SUBMISSION_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List my submissions across challenges, newest first.

        A learner sees the submissions they wrote; a teacher, the submissions to the challenges they
        own; an admin, every submission. Filter by `status` and `challenge_id`.
        """
        items, total = usecases.list_own_submissions(
            actor=authenticate(),
            context=use_case_context(),
            status=query["status"],
            challenge_id=query["challenge_id"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return page(items, total)


@blp.route(f"/challenges/<{ID}:challenge_id>/submissions", parameters=path_parameters("challenge_id"))
class ChallengeSubmissions(MethodView):
    @requires(Role.LEARNER)
    @blp.arguments(SubmissionCreateSchema, example=CREATE_EXAMPLE)
    @blp.response(201, SubmissionSchema, example=SUBMISSION_EXAMPLE)
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, fields: dict[str, Any], challenge_id: str) -> SubmissionView:
        """Submit work to a challenge (learners); emits `submission.submitted`.

        The challenge must be a submission challenge, open right now, and every prerequisite challenge
        needs a submission of yours that is not withdrawn (409 with `missing_prerequisites` otherwise).
        One submission per learner and challenge: a second answers 409 with `existing_id` (revise that
        one with PUT), except that a withdrawn submission is submitted again as its next version.
        `content` must hold more than spaces (422).
        """
        return usecases.submit(challenge_id, fields, actor=authenticate(), context=use_case_context())

    @requires(*MEMBERS)
    @blp.arguments(SubmissionListQuerySchema, location="query")
    @blp.response(200, SubmissionPageSchema, example={"items": [SUBMISSION_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], challenge_id: str) -> dict[str, Any]:
        """List a challenge's submissions, newest first, optionally by `status`.

        The challenge's teacher and admins see every submission; a learner sees their own (0 or 1);
        other teachers get 403.
        """
        items, total = usecases.list_submissions(
            challenge_id,
            actor=authenticate(),
            context=use_case_context(),
            status=query["status"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return page(items, total)


@blp.route(f"/submissions/<{ID}:submission_id>", parameters=path_parameters("submission_id"))
class SubmissionItem(MethodView):
    @requires(*MEMBERS, Role.SERVICE)
    @blp.response(200, SubmissionSchema, example=SUBMISSION_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, submission_id: str) -> SubmissionView:
        """Read a submission's current version.

        Its author, the challenge's teacher, admins, services and assigned reviewers may read it; to
        anyone else it does not exist (404). Reviewers do not see the grade, nor the author when the
        challenge's review is blind (`author_id` is null).
        """
        return usecases.read_submission(submission_id, actor=authenticate(), context=use_case_context())

    @requires(*MEMBERS)
    @blp.arguments(SubmissionCreateSchema, example=CREATE_EXAMPLE)
    @blp.response(200, SubmissionSchema, example={**SUBMISSION_EXAMPLE, "version": 2})
    @documents_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def put(self, fields: dict[str, Any], submission_id: str) -> SubmissionView:
        """Revise a submission (its author): the body becomes the next version; emits `submission.revised`.

        Past versions are kept. Refused (409) once the challenge has closed, when the submission is
        withdrawn (submit it again with POST), past 50 versions, or when another revision was saved
        meanwhile. Others who may read the submission get 403. `content` must hold more than spaces (422).
        """
        return usecases.revise_submission(submission_id, fields, actor=authenticate(), context=use_case_context())


@blp.route(f"/submissions/<{ID}:submission_id>/withdraw", parameters=path_parameters("submission_id"))
class SubmissionWithdrawal(MethodView):
    @requires(*MEMBERS)
    @blp.response(200, SubmissionSchema, example={**SUBMISSION_EXAMPLE, "status": "withdrawn"})
    @documents_errors(blp, 401, 403, 404, 409)
    def post(self, submission_id: str) -> SubmissionView:
        """Withdraw a submission (its author) while the challenge is open; emits `submission.withdrawn`.

        A withdrawn submission no longer counts as a prerequisite; POST to the challenge submits it again.
        Withdrawing twice, or after the challenge closed, answers 409.
        """
        return usecases.withdraw_submission(submission_id, actor=authenticate(), context=use_case_context())


@blp.route(f"/submissions/<{ID}:submission_id>/versions", parameters=path_parameters("submission_id"))
class SubmissionVersions(MethodView):
    @requires(*MEMBERS, Role.SERVICE)
    @blp.arguments(VersionListQuerySchema, location="query")
    @blp.response(200, SubmissionVersionPageSchema, example={"items": [VERSION_EXAMPLE], "total": 1})
    @documents_errors(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], submission_id: str) -> dict[str, Any]:
        """List a submission's versions, newest first.

        Its author, the challenge's teacher, admins and services may; reviewers see only the current
        version (GET /submissions/{id}) and, like everyone else, get 404 here.
        """
        items, total = usecases.list_versions(
            submission_id,
            actor=authenticate(),
            context=use_case_context(),
            limit=query["limit"],
            offset=query["offset"],
        )
        return page(items, total)


@blp.route(
    f"/submissions/<{ID}:submission_id>/versions/<int(min=1):version>",
    parameters=path_parameters("submission_id", "version"),
)
class SubmissionVersionItem(MethodView):
    @requires(*MEMBERS, Role.SERVICE)
    @blp.response(200, SubmissionVersionSchema, example=VERSION_EXAMPLE)
    @documents_errors(blp, 401, 403, 404)
    def get(self, submission_id: str, version: int) -> SubmissionVersion:
        """Read one version of a submission.

        The same callers as the version list may; a version the submission does not have answers 404.
        """
        return usecases.get_version(submission_id, version, actor=authenticate(), context=use_case_context())
