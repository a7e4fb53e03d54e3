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
        422: {
            "detail": "The request has invalid fields: window",
            "errors": {"window": ["Must be one of: all, week, month."]},
        },
    }
)


def _context() -> usecases.Context:
    return cast(usecases.Context, use_case_context())


BOARD = {
    "in": "path",
    "name": "board",
    "description": "The board: `global`, `cohort:{id}`, `challenge:{id}` or `tag:{name}`",
    "example": "cohort:7b",
}
USER_ID = {
    "in": "path",
    "name": "user_id",
    "description": "The learner's user id (a token's `sub`)",
    "example": "alice",
}
BOARD_PAGE_EXAMPLE = {
    "board": "cohort:7b",
    "window": "week",
    "total": 3,
    "entries": [
        {"rank": 1, "user_id": "dave", "points": 25},
        {"rank": 2, "user_id": "alice", "points": 15},
        {"rank": 2, "user_id": "bob", "points": 15},
    ],
}
USER_POINTS_EXAMPLE = {
    "user_id": "alice",
    "total": 5,
    "count": 1,
    "entries": [
        {
            "points": 5,
            "rule": "resource.shared",
            "reason": "Shared a resource: Pluto (Wikipedia)",
            "event_id": "0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11",
            "created_at": "2026-12-01T09:30:00.000000+00:00",
        }
    ],
}


@leaderboards.route("/leaderboards/<string(maxlength=80):board>", parameters=[BOARD])
class Board(MethodView):
    @requires()
    @leaderboards.arguments(BoardQuerySchema, location="query")
    @leaderboards.response(200, BoardPageSchema, example=BOARD_PAGE_EXAMPLE)
    @documents_errors(leaderboards, 401, 404, 422)
    def get(self, query: dict[str, Any], board: str) -> BoardPage:
        """Read a page of a board: `global`, `cohort:{id}`, `challenge:{id}` or `tag:{name}`.

        Ranks are standard competition ranks (equal points share a rank: 1, 1, 3); within a tie, whoever
        reached the total first is listed first. `window` is all time, this week or this month (in the
        deployment's TIMEZONE).
        """
        return usecases.board_page(
            board, window=query["window"], limit=query["limit"], offset=query["offset"], context=_context()
        )


@leaderboards.route("/users/<string(maxlength=128):user_id>/points", parameters=[USER_ID])
class UserPoints(MethodView):
    @requires()
    @leaderboards.arguments(PageQuerySchema, location="query")
    @leaderboards.response(200, UserPointsSchema, example=USER_POINTS_EXAMPLE)
    @documents_errors(leaderboards, 401, 403, 422)
    def get(self, query: dict[str, Any], user_id: str) -> dict[str, Any]:
        """Read a learner's balance and ledger, newest first: every entry names its rule and event.

        Visible to the learner, teachers, admins and services.
        """
        total, entries, count = usecases.user_points(
            user_id, actor=authenticate(), limit=query["limit"], offset=query["offset"], context=_context()
        )
        return {"user_id": user_id, "total": total, "entries": entries, "count": count}
