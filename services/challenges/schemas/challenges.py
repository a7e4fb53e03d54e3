"""Request and response schemas of the challenges service (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.challenges.domain.challenges import MAX_PREREQUISITES, ChallengeKind, ChallengeSort, ChallengeStatus
from shared.contracts.vocabulary import CHALLENGE_RULES, MAX_CHALLENGE_RULE_POINTS
from shared.schemas import (
    JsonBoolean,
    Name,
    ObjectId,
    PageQuerySchema,
    QueryBoolean,
    StrictSchema,
    Text,
    Unique,
    page_schema,
)

MAX_TAGS = 20
MAX_COHORTS = 50
MAX_RUBRIC = 20


class CriterionSchema(StrictSchema):
    """A rubric line."""

    criterion = Text(80, min_length=1, required=True, metadata={"example": "Accuracy"})
    max_score = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=100))
    description = Text(500, load_default="")


class ReviewSettingsSchema(StrictSchema):
    """Peer-review settings of a challenge."""

    reviewers_per_submission = fields.Integer(strict=True, load_default=3, validate=validate.Range(min=1, max=10))
    due_hours = fields.Integer(strict=True, load_default=72, validate=validate.Range(min=1, max=24 * 60))
    blind = JsonBoolean(load_default=True)


class ChallengeCreateSchema(StrictSchema):
    """A new challenge (created as a draft)."""

    title = Text(200, min_length=1, required=True, metadata={"example": "Explain photosynthesis to a 10-year-old"})
    description = Text(10_000, min_length=1, required=True, metadata={"example": "Write 300 words, cite sources."})
    kind = fields.Enum(ChallengeKind, by_value=True, load_default=ChallengeKind.SUBMISSION)
    tags = fields.List(
        Name(), load_default=list, validate=[validate.Length(max=MAX_TAGS), Unique()], metadata={"example": ["biology"]}
    )
    cohorts = fields.List(
        Name(),
        load_default=list,
        validate=[validate.Length(max=MAX_COHORTS), Unique()],
        metadata={"description": "Cohorts that may take part; empty means everyone", "example": ["7b"]},
    )
    points = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=0, max=10_000))
    rule_points = fields.Dict(
        keys=fields.String(validate=validate.OneOf(CHALLENGE_RULES)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_CHALLENGE_RULE_POINTS)),
        load_default=dict,
        metadata={
            "description": "This challenge's own points for some rules of the leaderboards "
            f"({', '.join(CHALLENGE_RULES)}; 0-{MAX_CHALLENGE_RULE_POINTS} each), awarded instead of the "
            "rule's points for the work done in it (the rule's multipliers and caps still apply); "
            "a rule not named keeps its points (GET /rules)",
            "example": {"review.submitted": 15},
        },
    )
    rubric = fields.List(fields.Nested(CriterionSchema), load_default=list, validate=validate.Length(max=MAX_RUBRIC))
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={"example": "2026-12-01T08:00:00Z"})
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={"example": "2026-12-15T17:00:00Z"})
    review = fields.Nested(ReviewSettingsSchema, load_default=dict)
    prerequisites = fields.List(
        ObjectId("challenge"),
        load_default=list,
        validate=[validate.Length(max=MAX_PREREQUISITES), Unique()],
        metadata={
            "description": "Submission challenges a learner must have submitted to (not withdrawn) before taking part",
            "example": [],
        },
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_challenge_fields(data)


def _check_challenge_fields(data: dict[str, Any]) -> None:
    if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
        raise ValidationError("ends_at must be after starts_at", "ends_at")
    names = [criterion["criterion"] for criterion in data.get("rubric") or []]
    if len(set(names)) != len(names):
        raise ValidationError("Rubric criteria must have different names", "rubric")


class ChallengeUpdateSchema(ChallengeCreateSchema):
    """Changes to a challenge: only the fields sent change.

    A draft may change anything. Once published, `title`, `description`, `tags`, `ends_at` (later or
    earlier, still in the future) and `starts_at` (until it has started) may change; the rest is fixed.
    `starts_at` and `ends_at` may be null to remove the bound.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)

    @validates_schema
    def _check_not_empty(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("Send at least one field to change", "_schema")


class ChallengeSchema(StrictSchema):
    """A challenge as the API shows it."""

    id = fields.String(metadata={"example": "6b02e48625231e1d5301a2b7"})
    status = fields.Enum(ChallengeStatus, by_value=True)
    owner_id = fields.String()
    title = fields.String()
    description = fields.String()
    kind = fields.Enum(ChallengeKind, by_value=True)
    tags = fields.List(fields.String())
    cohorts = fields.List(fields.String())
    points = fields.Integer()
    rule_points = fields.Dict(keys=fields.String(), values=fields.Integer())
    rubric = fields.List(fields.Nested(CriterionSchema))
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    review = fields.Nested(ReviewSettingsSchema)
    prerequisites = fields.List(fields.String())
    open_now = fields.Boolean(
        data_key="open", metadata={"description": "Whether learners can take part right now (inside its window)"}
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    archived_at = fields.AwareDateTime(allow_none=True)


class ChallengeListQuerySchema(PageQuerySchema):
    """Filters of the challenge list."""

    status = fields.Enum(
        ChallengeStatus,
        by_value=True,
        load_default=None,
        metadata={"description": "As of now: a published challenge past its `ends_at` counts as closed"},
    )
    tag = Name(load_default=None, metadata={"description": "Challenges with this tag", "example": "biology"})
    kind = fields.Enum(
        ChallengeKind, by_value=True, load_default=None, metadata={"description": "Challenges of this kind"}
    )
    cohort = Name(
        load_default=None,
        metadata={"description": "Challenges this cohort may take part in (its own and those open to all)"},
    )
    open = QueryBoolean(
        load_default=None,
        metadata={"description": "true: only challenges open right now; false: only those that are not"},
    )
    owner_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "Challenges of this teacher"},
    )
    sort = fields.Enum(
        ChallengeSort,
        by_value=True,
        load_default=ChallengeSort.NEWEST,
        metadata={
            "description": "`-created_at` newest first (default), `created_at`, `ends_at` (soonest end first; "
            "challenges without an end last), `-ends_at`, `title`"
        },
    )


ChallengePageSchema = page_schema(ChallengeSchema, "ChallengePageSchema")

CREATE_EXAMPLE = {
    "title": "Explain photosynthesis to a 10-year-old",
    "description": "Write about 300 words and cite two sources.",
    "kind": "submission",
    "tags": ["biology"],
    "cohorts": ["7b"],
    "points": 50,
    "rule_points": {"review.submitted": 15},
    "rubric": [{"criterion": "Accuracy", "max_score": 5, "description": "The facts are right"}],
    "starts_at": "2026-12-01T08:00:00Z",
    "ends_at": "2026-12-15T17:00:00Z",
    "review": {"reviewers_per_submission": 3, "due_hours": 72, "blind": True},
    "prerequisites": [],
}
CHALLENGE_EXAMPLE = {
    **CREATE_EXAMPLE,
    "id": "6b02e48625231e1d5301a2b7",
    "status": "published",
    "open": True,
    "owner_id": "teacher-1",
    "created_at": "2026-11-20T09:00:00+00:00",
    "updated_at": "2026-11-21T09:00:00+00:00",
    "published_at": "2026-11-21T09:00:00+00:00",
    "closed_at": None,
    "archived_at": None,
}
