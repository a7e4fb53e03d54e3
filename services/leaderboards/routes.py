"""HTTP views of the leaderboards service: load, call one use case, dump."""

from __future__ import annotations

import html
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

from flask import Response, current_app, request, stream_with_context
from flask.views import MethodView

from services.leaderboards.domain.boards import BoardPage, check_board
from services.leaderboards.domain.ledger import LedgerEntry
from services.leaderboards.domain.viewing import STREAM_HEARTBEAT_SECONDS, STREAM_SECONDS
from services.leaderboards.schemas import (
    AroundQuerySchema,
    AwardCreateSchema,
    BoardPageSchema,
    BoardQuerySchema,
    IdempotencyHeaderSchema,
    LedgerEntrySchema,
    MembersQuerySchema,
    MembersSchema,
    MemberViewSchema,
    ReversalCreateSchema,
    RulesSchema,
    UserBadgesSchema,
    UserPointsSchema,
    ViewTokenCreateSchema,
    ViewTokenSchema,
    WatchQuerySchema,
    member_view_document,
    user_points_document,
)
from services.leaderboards.usecases import awarding, reading, viewing
from services.leaderboards.usecases.context import Context, Scoring
from shared.auth import authenticate, requires, unauthorized
from shared.contracts.auth import Role
from shared.schemas import PageQuerySchema
from shared.web import ErrorDocs, ServiceBlueprint, use_case_context

leaderboards = ServiceBlueprint(
    "leaderboards", __name__, description="Leaderboards, learners' points and badges, the rules"
)

# The problem+json answers of the service's views, documented with examples in its own words.
documents_errors = ErrorDocs(
    examples={
        403: {"detail": "Only the learner, their teachers, admins and services may read a learner's ledger"},
        404: {"detail": "A board is global, cohort:{id}, challenge:{id} or tag:{name}"},
        409: {"detail": "This entry was reversed already"},
        422: {
            "detail": "The request has invalid fields: window",
            "errors": {"window": ["Must be one of: all, week, month."]},
        },
    }
)


def _context() -> Context:
    return cast(Context, use_case_context())


def _json(document: dict[str, Any]) -> Response:
    """Answer a document built without marshmallow's dump (the hot reads), as the app's JSON provider does."""
    return current_app.response_class(current_app.json.dumps(document), mimetype="application/json")


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
    "period": "2026-W49",
    "total": 3,
    "entries": [
        {"rank": 1, "user_id": "dave", "points": 25},
        {"rank": 2, "user_id": "alice", "points": 15},
        {"rank": 2, "user_id": "bob", "points": 15},
    ],
}
MEMBER_VIEW_EXAMPLE = {
    "board": "cohort:7b",
    "window": "all",
    "period": "all",
    "user_id": "alice",
    "rank": 2,
    "points": 15,
    "percentile": 66.7,
    "total": 3,
    "neighbors": [{"rank": 1, "user_id": "dave", "points": 25}, {"rank": 2, "user_id": "bob", "points": 15}],
}
ENTRY_EXAMPLE = {
    "key": "0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11:resource.shared:alice",
    "user_id": "alice",
    "points": 5,
    "rule": "resource.shared",
    "rule_version": 1,
    "reason": "Shared a resource: Pluto (Wikipedia)",
    "event_id": "0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11",
    "event_type": "resource.shared",
    "object_id": "6b02e48625231e1d5301a2b8",
    "boards": ["global", "cohort:7b", "tag:astronomy"],
    "category": "activity",
    "reverses": None,
    "actor_id": None,
    "occurred_at": "2026-12-01T09:30:00+00:00",
    "created_at": "2026-12-01T09:30:01.000000+00:00",
}
USER_POINTS_EXAMPLE = {
    "user_id": "alice",
    "total": 5,
    "level": 1,
    "next_level_at": 50,
    "count": 1,
    "entries": [ENTRY_EXAMPLE],
}

MEMBERS_EXAMPLE = {"items": [MEMBER_VIEW_EXAMPLE], "total": 1, "missing": ["erin"]}
USER_BADGES_EXAMPLE = {
    "user_id": "alice",
    "points": 180,
    "level": 3,
    "next_level_at": 300,
    "current_streak": 4,
    "longest_streak": 9,
    "badges": [
        {
            "name": "reviewer",
            "title": "Reviewer",
            "description": "Reviews of peers' work",
            "thresholds": [10, 25, 50],
            "value": 12,
            "next_threshold": 25,
            "earned": [
                {
                    "tier": 1,
                    "threshold": 10,
                    "earned_at": "2026-11-28T16:02:11+00:00",
                    "evidence": ["0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11:review.submitted:alice"],
                }
            ],
        }
    ],
}
RULES_EXAMPLE = {
    "version": 1,
    "daily_activity_cap": 200,
    "timezone": "Europe/Berlin",
    "rules": [
        {
            "name": "resource.shared",
            "event": "resource.shared",
            "beneficiary": "owner_id",
            "points": 5,
            "points_from": None,
            "scale": None,
            "reason": "Shared a resource: {title}",
            "category": "activity",
            "caps": {"per_day": 10},
            "adjustments": [],
            "when": [],
            "replaces": False,
        }
    ],
    "levels": [0, 50, 150, 300],
    "badges": [{"name": "first-share", "title": "First share", "rule": "resource.shared", "thresholds": [1]}],
}
AWARD_EXAMPLE = {
    "user_id": "alice",
    "points": 10,
    "reason": "Helped the class set up the telescope",
    "cohorts": ["7b"],
}
REVERSAL_EXAMPLE = {"entry_key": "award:6b02e48625231e1d5301a2d4", "reason": "Awarded to the wrong learner"}
REVERSAL_ENTRY_EXAMPLE = {
    **ENTRY_EXAMPLE,
    "key": "reversal:award:6b02e48625231e1d5301a2d4",
    "points": -10,
    "rule": "manual",
    "reason": "Awarded to the wrong learner",
    "event_id": "reversal:award:6b02e48625231e1d5301a2d4",
    "event_type": "manual",
    "category": "manual",
    "reverses": "award:6b02e48625231e1d5301a2d4",
    "actor_id": "teacher-1",
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
        deployment's TIMEZONE); `period` reads a past week or month that is still kept.
        """
        rendered = reading.rendered_board_page(
            board,
            window=query["window"],
            period=query["period"],
            limit=query["limit"],
            offset=query["offset"],
            context=_context(),
        )
        if rendered is not None:
            return Response(rendered, mimetype="application/json")  # type: ignore[return-value]
        return reading.board_page(
            board,
            window=query["window"],
            period=query["period"],
            limit=query["limit"],
            offset=query["offset"],
            context=_context(),
        )


@leaderboards.route(
    "/leaderboards/<string(maxlength=80):board>/users/<string(maxlength=128):user_id>", parameters=[BOARD, USER_ID]
)
class Member(MethodView):
    @requires()
    @leaderboards.arguments(AroundQuerySchema, location="query")
    @leaderboards.response(200, MemberViewSchema, example=MEMBER_VIEW_EXAMPLE)
    @documents_errors(leaderboards, 401, 404, 422)
    def get(self, query: dict[str, Any], board: str, user_id: str) -> Response:
        """Read a member's place on a board: rank, points, percentile and `around` neighbours either side.

        404 when the learner has no points on the board in this window and period.
        """
        view = reading.member_view(
            board,
            user_id,
            around=query["around"],
            window=query["window"],
            period=query["period"],
            context=_context(),
        )
        return _json(member_view_document(view))


@leaderboards.route("/leaderboards/<string(maxlength=80):board>/members", parameters=[BOARD])
class Members(MethodView):
    @requires()
    @leaderboards.arguments(MembersQuerySchema, location="query")
    @leaderboards.response(200, MembersSchema, example=MEMBERS_EXAMPLE)
    @documents_errors(leaderboards, 401, 404, 422)
    def get(self, query: dict[str, Any], board: str) -> dict[str, Any]:
        """Read several members' places on a board in one call (`user_id` repeated); one Redis round trip.

        Members without points on the board are listed in `missing`.
        """
        user_ids = list(dict.fromkeys(query["user_id"]))
        views = reading.member_views(
            board,
            user_ids,
            around=query["around"],
            window=query["window"],
            period=query["period"],
            context=_context(),
        )
        items = [view for view in views if view is not None]
        return {
            "items": items,
            "total": len(items),
            "missing": [user_id for user_id, view in zip(user_ids, views, strict=True) if view is None],
        }


@leaderboards.route("/users/<string(maxlength=128):user_id>/points", parameters=[USER_ID])
class UserPoints(MethodView):
    @requires()
    @leaderboards.arguments(PageQuerySchema, location="query")
    @leaderboards.response(200, UserPointsSchema, example=USER_POINTS_EXAMPLE)
    @documents_errors(leaderboards, 401, 403, 422)
    def get(self, query: dict[str, Any], user_id: str) -> Response:
        """Read a learner's balance, level and ledger, newest first: every entry names its rule and event.

        Visible to the learner, teachers of their cohorts, admins and services.
        """
        actor, context = authenticate(), _context()
        rendered = reading.rendered_user_points(
            user_id, actor=actor, limit=query["limit"], offset=query["offset"], context=context
        )
        if rendered is not None:
            return Response(rendered, mimetype="application/json")
        points = reading.user_points(
            user_id, actor=actor, limit=query["limit"], offset=query["offset"], context=context
        )
        return _json(user_points_document(points))


@leaderboards.route("/users/<string(maxlength=128):user_id>/badges", parameters=[USER_ID])
class UserBadges(MethodView):
    @requires()
    @leaderboards.response(200, UserBadgesSchema, example=USER_BADGES_EXAMPLE)
    @documents_errors(leaderboards, 401, 403)
    def get(self, user_id: str) -> dict[str, Any]:
        """Read a learner's badges with progress toward the next tier, their level and streaks.

        Every badge of the rules in force is listed, earned or not: `value` is the learner's count toward
        it, `earned` the tiers reached (each once, with the ledger entries, or for a streak the days, that
        earned it). Visible to the learner, teachers of their cohorts, admins and services.
        """
        badges = reading.user_badges(user_id, actor=authenticate(), context=_context())
        return {
            "user_id": badges.user_id,
            "points": badges.points,
            "level": badges.level,
            "next_level_at": badges.next_level_at,
            "current_streak": badges.current_streak,
            "longest_streak": badges.longest_streak,
            "badges": [
                {
                    "name": standing.definition.name,
                    "title": standing.definition.title,
                    "description": standing.definition.description,
                    "thresholds": list(standing.definition.thresholds),
                    "value": standing.progress.value,
                    "next_threshold": standing.progress.next_threshold,
                    "earned": standing.earned,
                }
                for standing in badges.badges
            ],
        }


@leaderboards.route("/rules")
class Rules(MethodView):
    @requires()
    @leaderboards.response(200, RulesSchema, example=RULES_EXAMPLE)
    @documents_errors(leaderboards, 401)
    def get(self) -> dict[str, Any]:
        """Read the points rules in force, their version, the daily cap, the level curve and the badges.

        Every ledger entry names the rule and version that made it. Caps count in the deployment's
        TIMEZONE; `activity` points count toward the daily cap, challenge points do not.
        """
        return rules_document(reading.rules_in_force(context=_context()))


@leaderboards.route("/awards")
class Awards(MethodView):
    @requires(Role.TEACHER, Role.ADMIN)
    @leaderboards.arguments(IdempotencyHeaderSchema, location="headers")
    @leaderboards.arguments(AwardCreateSchema, example=AWARD_EXAMPLE)
    @leaderboards.response(201, LedgerEntrySchema, example={**ENTRY_EXAMPLE, "rule": "manual"})
    @documents_errors(leaderboards, 401, 403, 409, 422)
    def post(self, headers: dict[str, Any], fields: dict[str, Any]) -> LedgerEntry:
        """Award (or deduct, with negative points) points by hand, with a reason; teachers and admins.

        A teacher awards learners of their own cohorts, placing the points on those cohorts' boards; an
        admin anyone. With an `Idempotency-Key` header (8-128 letters, digits or ._:- here), a retried
        request makes nothing twice and answers with the first entry; the same key with another award
        answers 422 while the first answer is kept (as on every POST), and 409 after that.
        """
        return awarding.award(
            fields, actor=authenticate(), context=_context(), idempotency_key=headers["idempotency_key"]
        )


@leaderboards.route("/awards/reversals")
class Reversals(MethodView):
    @requires(Role.TEACHER, Role.ADMIN)
    @leaderboards.arguments(ReversalCreateSchema, example=REVERSAL_EXAMPLE)
    @leaderboards.response(201, LedgerEntrySchema, example=REVERSAL_ENTRY_EXAMPLE)
    @documents_errors(leaderboards, 401, 403, 404, 409, 422)
    def post(self, fields: dict[str, Any]) -> LedgerEntry:
        """Take a ledger entry back with a reason: a reversal entry of the opposite points, on the same boards.

        Entries are never edited; an entry is reversed once. A teacher reverses entries on their cohorts'
        boards and awards they made; an admin any.
        """
        return awarding.reverse(fields["entry_key"], fields["reason"], actor=authenticate(), context=_context())


def rules_document(scoring: Scoring) -> dict[str, Any]:
    """Return the rules in force as `GET /rules` shows them."""
    book = scoring.book
    rules = []
    for rule in book.rules:
        caps = {name: value for name, value in asdict(rule.caps).items() if value is not None}
        rules.append(
            {
                **asdict(rule),
                "caps": caps,
                "category": rule.category.value,
                "adjustments": [asdict(adjustment) for adjustment in rule.adjustments],
                "when": [
                    {key: value for key, value in asdict(condition).items() if value is not None}
                    for condition in rule.when
                ],
            }
        )
    badges = [
        {key: value for key, value in asdict(badge).items() if value not in (None, False)} for badge in scoring.badges
    ]
    return {
        "version": book.version,
        "daily_activity_cap": book.daily_activity_cap,
        "timezone": scoring.zone.key,
        "rules": rules,
        "levels": list(book.level_thresholds),
        "badges": badges,
    }


# ---------------------------------------------------------------------------------------------------------------
# The classroom screen: a page and its stream, opened with a token in the URL (a screen has no login)

CLASSROOM_PAGE = (Path(__file__).parent / "classroom.html").read_text(encoding="utf-8")
VIEW_TOKEN_EXAMPLE = {
    "token": "8Qd1xW0bq2o1mC3kzYJt1c9wQ0Jm4d2h",
    "board": "cohort:7b",
    "granted_by": "teacher-1",
    "expires_at": "2026-12-02T20:00:00+00:00",
    "view_path": "/leaderboards/cohort:7b/view?token=8Qd1xW0bq2o1mC3kzYJt1c9wQ0Jm4d2h",
}


def _watcher(board: str, token: str | None) -> None:
    """Let through a screen with a view token for this board, or anyone with a valid normal token (401 else)."""
    check_board(board)
    if token is None:
        authenticate()
        return
    if token.count(".") == 2:  # a JWT: a normal token, checked as every request's is
        current_app.extensions["connective"].verifier.verify(token)
        return
    if not viewing.may_watch(board, token, _context()):
        raise unauthorized("This token does not open this board's screen, or it has expired")


def _private(response: Response) -> Response:
    # The token is in the URL: never cache the answer, never send the URL on as a referrer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@leaderboards.route("/leaderboards/<string(maxlength=80):board>/view-tokens", parameters=[BOARD])
class ViewTokens(MethodView):
    @requires(Role.TEACHER, Role.ADMIN)
    @leaderboards.arguments(ViewTokenCreateSchema, example={"hours": 8})
    @leaderboards.response(201, ViewTokenSchema, example=VIEW_TOKEN_EXAMPLE)
    @documents_errors(leaderboards, 401, 403, 404, 422)
    def post(self, fields: dict[str, Any], board: str) -> dict[str, Any]:
        """Mint a read-only token for a board's classroom screen (teachers and admins).

        The token opens `GET /leaderboards/{board}/view` and its stream for this board only, until it
        expires; it reads nothing else and changes nothing.
        """
        grant = viewing.mint_view_token(board, hours=fields.get("hours"), actor=authenticate(), context=_context())
        return {
            "token": grant.token,
            "board": grant.board,
            "granted_by": grant.granted_by,
            "expires_at": grant.expires_at,
            "view_path": f"/leaderboards/{board}/view?{urlencode({'token': grant.token})}",
        }


@leaderboards.route("/leaderboards/<string(maxlength=80):board>/view", parameters=[BOARD])
class ClassroomView(MethodView):
    @leaderboards.arguments(WatchQuerySchema, location="query")
    @leaderboards.doc(
        responses={
            "200": {
                "description": "The classroom page: the live ranking with each learner's badges, updating itself",
                "content": {"text/html": {"schema": {"type": "string"}, "example": "<!doctype html>..."}},
            }
        }
    )
    @documents_errors(leaderboards, 401, 404, 422)
    def get(self, query: dict[str, Any], board: str) -> Response:
        """The classroom screen of a board: large, read-only, and live (it follows the board's stream).

        Open it with `?token=` (a token minted for this board with `POST .../view-tokens`, or a normal
        one). It loads nothing from elsewhere.
        """
        _watcher(board, query["token"])
        nonce = secrets.token_urlsafe(16)
        stream = f"/leaderboards/{quote(board, safe=':')}/stream"
        if query["token"] is not None:
            stream += f"?{urlencode({'token': query['token']})}"
        page = (
            CLASSROOM_PAGE.replace("__NONCE__", nonce)
            .replace("__TITLE__", html.escape(board))
            .replace("__STREAM_URL__", json.dumps(stream))
        )
        response = _private(Response(page, mimetype="text/html"))
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return response


@leaderboards.route("/leaderboards/<string(maxlength=80):board>/stream", parameters=[BOARD])
class ClassroomStream(MethodView):
    @leaderboards.arguments(WatchQuerySchema, location="query")
    @leaderboards.doc(
        responses={
            "200": {
                "description": "Server-Sent Events: `board` messages, each the board's first rows with badges, "
                "sent at once and again whenever points or badges change it. The answer ends after "
                f"{STREAM_SECONDS:g} s; EventSource reconnects and resumes from Last-Event-ID.",
                "content": {
                    "text/event-stream": {
                        # One Server-Sent Event (as EventSource hands it over); `data` holds a BoardPage as JSON.
                        "schema": {
                            "type": "object",
                            "properties": {
                                "event": {"type": "string", "enum": ["board"]},
                                "id": {"type": "string", "example": "1733130000000-0"},
                                "data": {"type": "string", "description": "The board's first rows, as JSON"},
                                "retry": {"type": "integer", "example": 1000},
                            },
                        },
                        "example": {
                            "event": "board",
                            "id": "1733130000000-0",
                            "data": '{"board":"cohort:7b","period":"all","total":1,"rows":[{"rank":1,"user_id":"alice",'
                            '"points":15,"badges":[]}]}',
                        },
                    }
                },
            }
        }
    )
    @documents_errors(leaderboards, 401, 404, 422)
    def get(self, query: dict[str, Any], board: str) -> Response:
        """The live board for a classroom screen, as Server-Sent Events.

        Open it with `?token=` as the page does. Each `board` message is the board's first rows with every
        learner's badges; the first comes at once, the next whenever points or badges change the board.
        """
        _watcher(board, query["token"])
        context = _context()
        resume = request.headers.get("Last-Event-ID", "").strip()

        def messages() -> Iterator[str]:
            last = resume or context.boards.latest_announcement()
            shown = viewing.screen(board, context=context)
            yield "retry: 1000\n\n"
            yield _message(last, shown.document())
            deadline = time.monotonic() + STREAM_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                news = context.boards.announcements_after(
                    last, block_ms=max(1, int(1000 * min(STREAM_HEARTBEAT_SECONDS, left)))
                )
                if not news:
                    yield ": still here\n\n"
                    continue
                last = news[-1][0]
                if any(viewing.changes_screen(event, board, shown) for _, event in news):
                    shown = viewing.screen(board, context=context)
                    yield _message(last, shown.document())
                else:
                    yield f"id: {last}\n\n"

        response = _private(Response(stream_with_context(messages()), mimetype="text/event-stream"))
        # nginx (the gateway) passes each message on at once instead of buffering the answer.
        response.headers["X-Accel-Buffering"] = "no"
        return response


def _message(message_id: str, document: dict[str, Any]) -> str:
    return f"id: {message_id}\nevent: board\ndata: {json.dumps(document, separators=(',', ':'))}\n\n"
