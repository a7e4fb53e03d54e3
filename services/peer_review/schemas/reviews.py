"""Schemas of reviews, ratings, targets' reviews and consensus, overrides and reviewers' records."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.peer_review.domain.reviews import COMMENT_MAX_LENGTH, TargetStatus
from shared.contracts.vocabulary import TargetKind, Verdict
from shared.schemas import JsonBoolean, StrictSchema, Text

REVIEW_EXAMPLE = {
    "id": "6b02e48625231e1d5301a2e1",
    "assignment_id": "6b02e48625231e1d5301a2d1",
    "kind": "submission",
    "target_id": "6b02e48625231e1d5301a2b9",
    "challenge_id": "6b02e48625231e1d5301a2b7",
    "scores": {"Accuracy": 4},
    "verdict": None,
    "comment": "Clear explanation; cite where the sugar goes next.",
    "late": False,
    "submitted_at": "2026-12-03T10:00:00.000000+00:00",
    "edited_at": None,
    "helpfulness": None,
}


class ReviewCreateSchema(StrictSchema):
    """A review: a score for every rubric criterion (submissions) or a verdict (revisions), and a comment."""

    scores = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=1000)),
        validate=validate.Length(max=50),
        load_default=None,
        metadata={
            "description": "Submissions: an integer 0..max_score per rubric criterion",
            "example": {"Accuracy": 4},
        },
    )
    verdict = fields.Enum(
        Verdict, by_value=True, load_default=None, metadata={"description": "Revisions: `approve` or `reject`"}
    )
    comment = Text(
        COMMENT_MAX_LENGTH,
        required=True,
        metadata={"description": "What is good and what to improve (the deployment sets the minimum length)"},
    )


class ReviewSchema(Schema):
    """A review, as its reviewer sees it."""

    id = fields.String()
    assignment_id = fields.String()
    kind = fields.Enum(TargetKind, by_value=True)
    target_id = fields.String()
    challenge_id = fields.String(allow_none=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    verdict = fields.Enum(Verdict, by_value=True, allow_none=True)
    comment = fields.String()
    late = fields.Boolean(metadata={"description": "Given after the assignment's due time"})
    submitted_at = fields.AwareDateTime()
    edited_at = fields.AwareDateTime(allow_none=True)
    helpfulness = fields.Integer(allow_none=True, metadata={"description": "The author's rating, 1 to 5"})


class RatingCreateSchema(StrictSchema):
    """How helpful a review of my work was."""

    helpfulness = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=1, max=5), metadata={"example": 5}
    )


class GradeSchema(Schema):
    """A target's grade: the consensus of its reviews, or a teacher's override."""

    grade = fields.Float(metadata={"description": "A fraction of the rubric's maximum, 0 to 1", "example": 0.8})
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), metadata={"example": {"Accuracy": 4.0}})
    graded_at = fields.AwareDateTime()
    aggregator = fields.String(metadata={"description": "`median`, `reliability_weighted` or `override`"})
    overridden_by = fields.String(allow_none=True, metadata={"description": "The teacher whose scores bind"})
    closed_by = fields.String(
        allow_none=True, metadata={"description": "The teacher who closed review early (graded on the reviews in)"}
    )


class ShownReviewSchema(Schema):
    """A review of the target, under an alias: only the challenge's teacher and admins see the reviewer."""

    id = fields.String()
    reviewer = fields.String(metadata={"example": "Reviewer 1"})
    reviewer_id = fields.String(allow_none=True, metadata={"description": "Staff only; null for everyone else"})
    scores = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    verdict = fields.Enum(Verdict, by_value=True, allow_none=True)
    comment = fields.String()
    late = fields.Boolean()
    submitted_at = fields.AwareDateTime()
    edited_at = fields.AwareDateTime(allow_none=True)
    helpfulness = fields.Integer(allow_none=True)
    accuracy = fields.Float(allow_none=True, metadata={"description": "0 to 1: how close it came to the consensus"})
    mine = fields.Boolean(metadata={"description": "Whether the caller wrote it"})


class TargetReviewsSchema(Schema):
    """A target under review: its status, its grade once graded, and its reviews as the caller may see them."""

    kind = fields.Enum(TargetKind, by_value=True)
    target_id = fields.String()
    challenge_id = fields.String(allow_none=True)
    author_id = fields.String(allow_none=True, metadata={"description": "Null for a reviewer while review is blind"})
    status = fields.Enum(TargetStatus, by_value=True)
    reviews_wanted = fields.Integer()
    grade = fields.Nested(GradeSchema, allow_none=True)
    reviews = fields.List(fields.Nested(ShownReviewSchema))


class OverrideCreateSchema(StrictSchema):
    """A binding decision: scores for every criterion (a submission) or a verdict (a revision), and why.

    For a submission, `close_review: true` instead of scores closes its review now: it is graded on the
    reviews that have come in.
    """

    scores = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=1000)),
        validate=validate.Length(max=50),
        load_default=None,
        metadata={"example": {"Accuracy": 5}},
    )
    verdict = fields.Enum(Verdict, by_value=True, load_default=None)
    close_review = JsonBoolean(
        load_default=False,
        metadata={"description": "Submissions: grade now on the reviews in, instead of binding scores"},
    )
    reason = Text(2_000, load_default=None, allow_none=True)


class TargetSchema(Schema):
    """A target after a teacher's decision."""

    kind = fields.Enum(TargetKind, by_value=True)
    target_id = fields.String()
    challenge_id = fields.String(allow_none=True)
    status = fields.Enum(TargetStatus, by_value=True)
    grade = fields.Nested(GradeSchema, allow_none=True)


class ReviewerSchema(Schema):
    """A reviewer's record and how reliable the reviewer model finds them."""

    reviewer_id = fields.String(metadata={"example": "alice"})
    review_count = fields.Integer()
    graded_count = fields.Integer(metadata={"description": "Reviews of targets graded since"})
    late_count = fields.Integer()
    mean_accuracy = fields.Float(allow_none=True, metadata={"description": "0 to 1, closeness to consensus"})
    mean_helpfulness = fields.Float(allow_none=True, metadata={"description": "1 to 5, as the authors rated"})
    bias = fields.Float(metadata={"description": "On the 0..1 scale: positive generous, negative harsh"})
    reliability = fields.Float(metadata={"description": "The precision of the reviewer's scores"})
    trust = fields.Float(
        metadata={"description": "0 to 1, from the reliability; new reviewers sit at the population's"}
    )
