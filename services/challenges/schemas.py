"""Request and response schemas of the challenges service (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.challenges.domain import ChallengeKind, ChallengeStatus
from shared.schemas import Name, PageQuerySchema, StrictSchema, Text, page_schema, unique_items

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
    blind = fields.Boolean(load_default=True)


class ChallengeCreateSchema(StrictSchema):
    """A new challenge (created as a draft)."""

    title = Text(200, min_length=1, required=True, metadata={"example": "Explain photosynthesis to a 10-year-old"})
    description = Text(10_000, min_length=1, required=True, metadata={"example": "Write 300 words, cite sources."})
    kind = fields.Enum(ChallengeKind, by_value=True, load_default=ChallengeKind.SUBMISSION)
    tags = fields.List(
        Name(), load_default=list, validate=validate.Length(max=MAX_TAGS), metadata={"example": ["biology"]}
    )
    cohorts = fields.List(
        Name(),
        load_default=list,
        validate=validate.Length(max=MAX_COHORTS),
        metadata={"description": "Cohorts that may take part; empty means everyone", "example": ["7b"]},
    )
    points = fields.Integer(strict=True, load_default=100, validate=validate.Range(min=0, max=10_000))
    rubric = fields.List(fields.Nested(CriterionSchema), load_default=list, validate=validate.Length(max=MAX_RUBRIC))
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={"example": "2026-12-01T08:00:00Z"})
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True, metadata={"example": "2026-12-15T17:00:00Z"})
    review = fields.Nested(ReviewSettingsSchema, load_default=dict)

    @validates_schema
    def _check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("ends_at must be after starts_at", "ends_at")
        names = [criterion["criterion"] for criterion in data.get("rubric", [])]
        if len(set(names)) != len(names):
            raise ValidationError("Rubric criteria must have different names", "rubric")
        unique_items(data, "tags", "cohorts")


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
    rubric = fields.List(fields.Nested(CriterionSchema))
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    review = fields.Nested(ReviewSettingsSchema)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)


class ChallengeListQuerySchema(PageQuerySchema):
    """Filters of the challenge list."""

    status = fields.Enum(ChallengeStatus, by_value=True, load_default=None)
    tag = Name(load_default=None)


class ResourceCreateSchema(StrictSchema):
    """A resource to share with the commons."""

    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={"example": "https://en.wikipedia.org/wiki/Pluto"},
    )
    title = Text(200, min_length=1, required=True, metadata={"example": "Pluto (Wikipedia)"})
    summary = Text(5_000, load_default="", metadata={"example": "Pluto is a dwarf planet in the Kuiper belt."})
    tags = fields.List(
        Name(), load_default=list, validate=validate.Length(max=MAX_TAGS), metadata={"example": ["astronomy"]}
    )
    challenge_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9a-f]{24}$", error="Not a challenge id"),
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        unique_items(data, "tags")


class ResourceSchema(StrictSchema):
    """A shared resource as the API shows it."""

    id = fields.String(metadata={"example": "6b02e48625231e1d5301a2b8"})
    status = fields.String(metadata={"example": "active"})
    owner_id = fields.String()
    url = fields.String()
    canonical_url = fields.String()
    title = fields.String()
    summary = fields.String()
    tags = fields.List(fields.String())
    challenge_id = fields.String(allow_none=True)
    endorsement_count = fields.Integer()
    created_at = fields.AwareDateTime()


class ResourceListQuerySchema(PageQuerySchema):
    """Filters of the resource list."""

    tag = Name(load_default=None)


ChallengePageSchema = page_schema(ChallengeSchema, "ChallengePageSchema")
ResourcePageSchema = page_schema(ResourceSchema, "ResourcePageSchema")
