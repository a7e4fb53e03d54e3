"""Request and response schemas of the leaderboards service (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from services.leaderboards.domain.boards import MAX_AROUND, MAX_MEMBERS, MemberView, Standing, Window
from services.leaderboards.domain.ledger import MAX_MANUAL_POINTS, LedgerEntry, UserPoints, entry_view
from services.leaderboards.domain.viewing import DEFAULT_VIEW_TOKEN_HOURS, MAX_VIEW_TOKEN_HOURS
from shared.schemas import Name, ObjectId, PageQuerySchema, StrictSchema, Text, Unique

PERIOD_DESCRIPTION = (
    "A past period of the window to read, e.g. `2026-W48` (ISO week) or `2026-11` (month); "
    "default the current one. Only the last LEADERBOARD_PERIODS_KEPT periods are kept."
)
_USER = validate.Length(min=1, max=128)


def _window() -> fields.Enum:
    return fields.Enum(
        Window,
        by_value=True,
        load_default=Window.ALL,
        metadata={"description": "All time, this week or this month, in the deployment's time zone", "example": "week"},
    )


def _period() -> fields.String:
    return fields.String(
        load_default=None,
        validate=validate.Length(min=3, max=10),
        metadata={"description": PERIOD_DESCRIPTION, "example": "2026-W48"},
    )


class BoardQuerySchema(PageQuerySchema):
    """Which window, period and page of a board."""

    window = _window()
    period = _period()


class AroundQuerySchema(StrictSchema):
    """Which window and period, and how many neighbours either side."""

    around = fields.Integer(
        load_default=5,
        validate=validate.Range(min=0, max=MAX_AROUND),
        metadata={"description": f"Neighbours shown above and below the member (0-{MAX_AROUND})", "example": 5},
    )
    window = _window()
    period = _period()


class MembersQuerySchema(AroundQuerySchema):
    """Several members of a board at once."""

    user_id = fields.List(
        fields.String(validate=_USER),
        required=True,
        validate=validate.Length(min=1, max=MAX_MEMBERS),
        metadata={"description": f"The members (repeat the parameter, at most {MAX_MEMBERS})", "example": ["alice"]},
    )


class StandingSchema(Schema):
    """One row of a board."""

    rank = fields.Integer(metadata={"example": 1})
    user_id = fields.String(metadata={"example": "alice"})
    points = fields.Integer(metadata={"example": 5})


class BoardPageSchema(Schema):
    """A page of a board; ranks are standard competition ranks (1, 1, 3), earliest to a total first."""

    board = fields.String(metadata={"example": "global"})
    window = fields.Enum(Window, by_value=True)
    period = fields.String(metadata={"description": "The period shown (`all` for all time)", "example": "2026-W49"})
    total = fields.Integer(metadata={"description": "How many learners are on the board", "example": 1})
    entries = fields.List(fields.Nested(StandingSchema))


class MemberViewSchema(Schema):
    """A member's place on a board and the neighbours either side."""

    board = fields.String(metadata={"example": "cohort:7b"})
    window = fields.Enum(Window, by_value=True)
    period = fields.String(metadata={"example": "all"})
    user_id = fields.String(metadata={"example": "alice"})
    rank = fields.Integer(metadata={"example": 2})
    points = fields.Integer(metadata={"example": 15})
    percentile = fields.Float(
        metadata={"description": "Share of the board's members ranked at or below the member, in percent"}
    )
    total = fields.Integer(metadata={"description": "How many learners are on the board", "example": 3})
    neighbors = fields.List(
        fields.Nested(StandingSchema), metadata={"description": "The members ranked just above and below, in order"}
    )


class MembersSchema(Schema):
    """Several members' places; those without points on the board are listed apart."""

    items = fields.List(fields.Nested(MemberViewSchema))
    total = fields.Integer(metadata={"description": "How many of the members asked for are on the board"})
    missing = fields.List(fields.String(), metadata={"description": "Members asked for who are not on the board"})


class LedgerEntrySchema(Schema):
    """One ledger entry: every point says why."""

    key = fields.String(metadata={"description": "The entry's unique key (what a reversal names)"})
    user_id = fields.String(metadata={"description": "Whose points these are", "example": "alice"})
    points = fields.Integer(metadata={"example": 5})
    rule = fields.String(metadata={"example": "resource.shared"})
    rule_version = fields.Integer(metadata={"example": 1})
    reason = fields.String(metadata={"example": "Shared a resource: Pluto (Wikipedia)"})
    event_id = fields.String(metadata={"example": "0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11"})
    event_type = fields.String(metadata={"example": "resource.shared"})
    object_id = fields.String(allow_none=True, metadata={"description": "What the points are for (a resource...)"})
    boards = fields.List(fields.String(), metadata={"example": ["global", "cohort:7b", "tag:astronomy"]})
    category = fields.String(metadata={"description": "activity (capped a day), challenge or manual"})
    reverses = fields.String(allow_none=True, metadata={"description": "The entry a reversal takes back"})
    actor_id = fields.String(allow_none=True, metadata={"description": "Staff who made a manual award or reversal"})
    occurred_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime()


class UserPointsSchema(Schema):
    """A learner's balance and ledger, newest first."""

    user_id = fields.String(metadata={"example": "alice"})
    total = fields.Integer(metadata={"description": "The balance: the sum of every entry", "example": 5})
    level = fields.Integer(metadata={"example": 1})
    next_level_at = fields.Integer(allow_none=True, metadata={"description": "The balance the next level starts at"})
    count = fields.Integer(metadata={"description": "How many entries the ledger holds for the learner"})
    entries = fields.List(fields.Nested(LedgerEntrySchema))


class EarnedTierSchema(Schema):
    """A tier of a badge, earned once, with the ledger entries (or, for a streak, the days) that earned it."""

    tier = fields.Integer(metadata={"example": 1})
    threshold = fields.Integer(metadata={"example": 10})
    earned_at = fields.AwareDateTime()
    evidence = fields.List(fields.String())


class BadgeStandingSchema(Schema):
    """A badge and where the learner stands on it."""

    name = fields.String(metadata={"example": "reviewer"})
    title = fields.String(metadata={"example": "Reviewer"})
    description = fields.String()
    thresholds = fields.List(fields.Integer(), metadata={"example": [10, 25, 50]})
    value = fields.Integer(metadata={"description": "The learner's count toward the badge", "example": 12})
    next_threshold = fields.Integer(allow_none=True, metadata={"description": "What the next tier needs"})
    earned = fields.List(fields.Nested(EarnedTierSchema))


class UserBadgesSchema(Schema):
    """A learner's badges with progress, level and streaks."""

    user_id = fields.String(metadata={"example": "alice"})
    points = fields.Integer()
    level = fields.Integer()
    next_level_at = fields.Integer(allow_none=True)
    current_streak = fields.Integer(metadata={"description": "Days in a row up to today with points earned"})
    longest_streak = fields.Integer()
    badges = fields.List(fields.Nested(BadgeStandingSchema))


class RuleSchema(Schema):
    """One way to earn points, as the rules file declares it."""

    name = fields.String(metadata={"example": "review.submitted"})
    event = fields.String(metadata={"example": "review.submitted"})
    beneficiary = fields.String(metadata={"example": "reviewer_id"})
    points = fields.Integer(metadata={"example": 10})
    points_from = fields.String(allow_none=True)
    scale = fields.String(allow_none=True)
    reason = fields.String()
    category = fields.String()
    caps = fields.Dict(metadata={"example": {"per_day": 10}})
    adjustments = fields.List(fields.Dict())
    when = fields.List(fields.Dict())
    replaces = fields.Boolean()


class RulesSchema(Schema):
    """The rules in force with their version, the daily cap, the level curve and the badges."""

    version = fields.Integer(metadata={"example": 1})
    daily_activity_cap = fields.Integer(allow_none=True, metadata={"example": 200})
    timezone = fields.String(metadata={"example": "Europe/Berlin"})
    rules = fields.List(fields.Nested(RuleSchema))
    levels = fields.List(fields.Integer(), metadata={"description": "The points each level starts at"})
    badges = fields.List(fields.Dict())


class AwardCreateSchema(StrictSchema):
    """Points given (or taken, negative) by staff, with the reason the learner will read."""

    user_id = fields.String(required=True, validate=_USER, metadata={"example": "alice"})
    points = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=-MAX_MANUAL_POINTS, max=MAX_MANUAL_POINTS),
        metadata={"example": 10},
    )
    reason = Text(200, min_length=3, required=True, metadata={"example": "Helped the class set up the telescope"})
    cohorts = fields.List(
        Name(), load_default=list, validate=[validate.Length(max=20), Unique()], metadata={"example": ["7b"]}
    )
    challenge_id = ObjectId("challenge", load_default=None, allow_none=True)
    tags = fields.List(Name(), load_default=list, validate=[validate.Length(max=20), Unique()])

    @validates_schema
    def _checks(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("points") == 0:
            raise ValidationError("An award of 0 points says nothing", "points")


class ReversalCreateSchema(StrictSchema):
    """An entry to take back, and why."""

    entry_key = fields.String(required=True, validate=validate.Length(min=1, max=400))
    reason = Text(200, min_length=3, required=True, metadata={"example": "Awarded to the wrong learner"})


class IdempotencyHeaderSchema(Schema):
    """A client's key for a request it may retry: the retry answers with what the first request made."""

    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=validate.Regexp(r"^[A-Za-z0-9._:\-]{8,128}$", error="Use 8-128 letters, digits or ._:-"),
        metadata={"description": "Optional; a retry with the same key makes nothing twice"},
    )


# The hot reads answer without marshmallow's dump (it costs more than their Redis round trip); these
# functions build exactly what the schemas above document, which tests/unit/test_leaderboard_documents.py
# checks against the schemas' own dump.


def standing_document(standing: Standing) -> dict[str, Any]:
    """Return a board row as StandingSchema dumps it."""
    return {"points": standing.points, "rank": standing.rank, "user_id": standing.user_id}


def member_view_document(view: MemberView) -> dict[str, Any]:
    """Return a member view as MemberViewSchema dumps it."""
    return {
        "board": view.board,
        "neighbors": [standing_document(standing) for standing in view.neighbors],
        "percentile": view.percentile,
        "period": view.period,
        "points": view.points,
        "rank": view.rank,
        "total": view.total,
        "user_id": view.user_id,
        "window": view.window.value,
    }


def ledger_entry_document(entry: LedgerEntry) -> dict[str, Any]:
    """Return a ledger entry as LedgerEntrySchema dumps it."""
    return entry_view(entry)


def user_points_document(points: UserPoints) -> dict[str, Any]:
    """Return a learner's points as UserPointsSchema dumps them."""
    return {
        "count": points.count,
        "entries": [ledger_entry_document(entry) for entry in points.entries],
        "level": points.level,
        "next_level_at": points.next_level_at,
        "total": points.total,
        "user_id": points.user_id,
    }


class ViewTokenCreateSchema(StrictSchema):
    """A read-only token for one board's classroom screen."""

    hours = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False, max=MAX_VIEW_TOKEN_HOURS),
        metadata={
            "description": f"How long the token opens the screen (default {DEFAULT_VIEW_TOKEN_HOURS} h, "
            f"at most {MAX_VIEW_TOKEN_HOURS} h)",
            "example": 8,
        },
    )


class ViewTokenSchema(Schema):
    """A minted classroom-screen token: it opens this board's view and stream only, read-only."""

    token = fields.String(metadata={"example": "8Qd1xW0bq2o1mC3kzYJt1c9wQ0Jm4d2h"})
    board = fields.String(metadata={"example": "cohort:7b"})
    granted_by = fields.String(metadata={"example": "teacher-1"})
    expires_at = fields.AwareDateTime(metadata={"example": "2026-12-02T20:00:00+00:00"})
    view_path = fields.String(
        metadata={
            "description": "The page to open on the classroom screen (the token in it)",
            "example": "/leaderboards/cohort:7b/view?token=8Qd1xW0bq2o1mC3kzYJt1c9wQ0Jm4d2h",
        }
    )


class WatchQuerySchema(StrictSchema):
    """How a classroom screen proves it may watch: a view token for this board, or a normal token."""

    token = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=4096),
        metadata={
            "description": "A classroom-screen token minted for this board (POST .../view-tokens), or a normal "
            "token; without it, the Authorization header is used",
            "example": "8Qd1xW0bq2o1mC3kzYJt1c9wQ0Jm4d2h",
        },
    )
