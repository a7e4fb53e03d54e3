"""Request and response schemas of the leaderboards service."""

from __future__ import annotations

from marshmallow import Schema, fields

from services.leaderboards.domain import Window
from shared.schemas import PageQuerySchema


class BoardQuerySchema(PageQuerySchema):
    """Which window and page of a board."""

    window = fields.Enum(
        Window,
        by_value=True,
        load_default=Window.ALL,
        metadata={"description": "All time, this week or this month, in the deployment's time zone", "example": "week"},
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
    total = fields.Integer(metadata={"description": "How many learners are on the board", "example": 1})
    entries = fields.List(fields.Nested(StandingSchema))


class LedgerEntrySchema(Schema):
    """One ledger entry: every point says why."""

    points = fields.Integer(metadata={"example": 5})
    rule = fields.String(metadata={"example": "resource.shared"})
    reason = fields.String(metadata={"example": "Shared a resource: Pluto (Wikipedia)"})
    event_id = fields.String(metadata={"example": "0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11"})
    created_at = fields.AwareDateTime()


class UserPointsSchema(Schema):
    """A user's balance and ledger, newest first."""

    user_id = fields.String(metadata={"example": "alice"})
    total = fields.Integer(metadata={"description": "The balance: the sum of every entry", "example": 5})
    entries = fields.List(fields.Nested(LedgerEntrySchema))
    count = fields.Integer(metadata={"description": "How many entries the ledger holds for the user"})
