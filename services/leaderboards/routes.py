"""HTTP views of the leaderboards service: load, call one use case, dump."""

from __future__ import annotations

from typing import Any, cast

from flask.views import MethodView
from flask_smorest import Blueprint

from services.leaderboards import usecases
from services.leaderboards.domain import BoardPage
from services.leaderboards.schemas import BoardPageSchema, BoardQuerySchema, UserPointsSchema
from shared.auth import authenticate, requires
from shared.schemas import PageQuerySchema
from shared.web import ErrorDocs, use_case_context

leaderboards = Blueprint("leaderboards", __name__, description="Leaderboards and learners' points")

# The problem+json answers of the service's views, documented with examples in its own words.
documents_errors = ErrorDocs(
    examples={
        403: {"detail": "Only the learner, teachers, admins and services may read a learner's ledger"},
        404: {"detail": "A board is global, cohort:{id}, challenge:{id} or tag:{name}"},
    }
)


def _context() -> usecases.Context:
    return cast(usecases.Context, use_case_context())


@leaderboards.route("/leaderboards/<string(maxlength=80):board>")
class Board(MethodView):
    @requires()
    @leaderboards.arguments(BoardQuerySchema, location="query")
    @leaderboards.response(200, BoardPageSchema)
    @documents_errors(leaderboards, 401, 404)
    def get(self, query: dict[str, Any], board: str) -> BoardPage:
        """Read a page of a board: `global`, `cohort:{id}`, `challenge:{id}` or `tag:{name}`.

        Ranks are standard competition ranks (equal points share a rank: 1, 1, 3); within a tie, whoever
        reached the total first is listed first. `window` is all time, this week or this month (in the
        deployment's TIMEZONE).
        """
        return usecases.board_page(
            board, window=query["window"], limit=query["limit"], offset=query["offset"], context=_context()
        )


@leaderboards.route("/users/<string(maxlength=128):user_id>/points")
class UserPoints(MethodView):
    @requires()
    @leaderboards.arguments(PageQuerySchema, location="query")
    @leaderboards.response(200, UserPointsSchema)
    @documents_errors(leaderboards, 401, 403)
    def get(self, query: dict[str, Any], user_id: str) -> dict[str, Any]:
        """Read a learner's balance and ledger, newest first: every entry names its rule and event.

        Visible to the learner, teachers, admins and services.
        """
        total, entries, count = usecases.user_points(
            user_id, actor=authenticate(), limit=query["limit"], offset=query["offset"], context=_context()
        )
        return {"user_id": user_id, "total": total, "entries": entries, "count": count}
