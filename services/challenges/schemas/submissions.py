"""Request and response schemas of learners' submissions (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.challenges.domain.submissions import SubmissionStatus
from shared.schemas import ObjectId, PageQuerySchema, StrictSchema, Text, Unique, page_schema

MAX_CONTENT = 20_000
MAX_LINKS = 10
MAX_URL = 2048


class SubmissionCreateSchema(StrictSchema):
    """A learner's work: a new submission, or the next version of one."""

    content = Text(
        MAX_CONTENT,
        min_length=1,
        required=True,
        metadata={"description": f"The work itself (1 to {MAX_CONTENT} characters)"},
    )
    links = fields.List(
        fields.Url(schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=MAX_URL)),
        load_default=list,
        validate=[validate.Length(max=MAX_LINKS), Unique()],
        metadata={"description": f"Sources or attachments: up to {MAX_LINKS} distinct http(s) URLs"},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "content" in data and not data["content"].strip():
            raise ValidationError("Write something: content cannot be blank", "content")


class GradeSchema(StrictSchema):
    """The grade peer review (or the teacher) gave a submission."""

    grade = fields.Float(metadata={"description": "A fraction of the rubric's maximum, 0 to 1", "example": 0.8})
    scores = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "The consensus score per rubric criterion", "example": {"Accuracy": 4.0}},
    )
    feedback = fields.String()
    review_count = fields.Integer()
    overridden = fields.Boolean(metadata={"description": "Whether a teacher replaced the peers' consensus"})
    version = fields.Integer(allow_none=True, metadata={"description": "The version that was graded"})
    graded_at = fields.AwareDateTime()


class SubmissionSchema(StrictSchema):
    """A submission as the caller may see it (its current version)."""

    id = fields.String(metadata={"example": "6b02e48625231e1d5301a2c1"})
    challenge_id = fields.String()
    author_id = fields.String(
        allow_none=True, metadata={"description": "null for a reviewer when the challenge's review is blind"}
    )
    version = fields.Integer()
    status = fields.Enum(SubmissionStatus, by_value=True)
    content = fields.String()
    links = fields.List(fields.String())
    created_at = fields.AwareDateTime(metadata={"description": "When the first version was submitted"})
    submitted_at = fields.AwareDateTime(metadata={"description": "When the current version was submitted"})
    updated_at = fields.AwareDateTime()
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    grade = fields.Nested(
        GradeSchema, allow_none=True, metadata={"description": "null until graded (and always for reviewers)"}
    )


class SubmissionVersionSchema(StrictSchema):
    """One version of a submission."""

    version = fields.Integer(metadata={"example": 1})
    content = fields.String()
    links = fields.List(fields.String())
    submitted_at = fields.AwareDateTime()


class OwnSubmissionListQuerySchema(PageQuerySchema):
    """Filters of the caller's submissions."""

    status = fields.Enum(
        SubmissionStatus,
        by_value=True,
        load_default=None,
        metadata={"description": "Only submissions in this status (`submitted`, `graded` or `withdrawn`)"},
    )
    challenge_id = ObjectId(
        "challenge",
        load_default=None,
        metadata={"description": "Only submissions to this challenge"},
    )


class SubmissionListQuerySchema(PageQuerySchema):
    """Filters of a challenge's submissions."""

    status = fields.Enum(
        SubmissionStatus,
        by_value=True,
        load_default=None,
        metadata={"description": "Only submissions in this status (`submitted`, `graded` or `withdrawn`)"},
    )


class VersionListQuerySchema(PageQuerySchema):
    """Pagination of a submission's versions."""


SubmissionPageSchema = page_schema(SubmissionSchema, "SubmissionPageSchema")
SubmissionVersionPageSchema = page_schema(SubmissionVersionSchema, "SubmissionVersionPageSchema")

CREATE_EXAMPLE = {
    "content": "Plants catch sunlight with chlorophyll and turn water and air into sugar...",
    "links": ["https://en.wikipedia.org/wiki/Photosynthesis"],
}
SUBMISSION_EXAMPLE = {
    **CREATE_EXAMPLE,
    "id": "6b02e48625231e1d5301a2c1",
    "challenge_id": "6b02e48625231e1d5301a2b7",
    "author_id": "alice",
    "version": 1,
    "status": "submitted",
    "created_at": "2026-12-02T10:00:00+00:00",
    "submitted_at": "2026-12-02T10:00:00+00:00",
    "updated_at": "2026-12-02T10:00:00+00:00",
    "withdrawn_at": None,
    "grade": None,
}
VERSION_EXAMPLE = {
    "version": 1,
    "content": CREATE_EXAMPLE["content"],
    "links": CREATE_EXAMPLE["links"],
    "submitted_at": "2026-12-02T10:00:00+00:00",
}
