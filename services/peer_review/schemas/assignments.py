"""Schemas of assignments, the pull queue and teachers' allocations."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.peer_review.domain.reviews import AssignmentMode, AssignmentStatus, TargetStatus
from shared.contracts.vocabulary import TargetKind
from shared.schemas import ObjectId, PageQuerySchema, PageSchema, StrictSchema, page_schema

ASSIGNMENT_EXAMPLE = {
    "id": "6b02e48625231e1d5301a2d1",
    "kind": "submission",
    "target_id": "6b02e48625231e1d5301a2b9",
    "challenge_id": "6b02e48625231e1d5301a2b7",
    "status": "assigned",
    "mode": "push",
    "created_at": "2026-12-02T09:00:00.000000+00:00",
    "due_at": "2026-12-05T09:00:00.000000+00:00",
    "late": False,
    "ended_at": None,
    "review_id": None,
    "resource_id": None,
    "details": None,
}


class AssignmentSchema(Schema):
    """An assignment: one reviewer asked to review one target (read the submission at the challenges service)."""

    id = fields.String(metadata={"example": ASSIGNMENT_EXAMPLE["id"]})
    kind = fields.Enum(TargetKind, by_value=True, metadata={"description": "`submission` or `revision`"})
    target_id = fields.String(metadata={"description": "The submission's or the revision's id"})
    challenge_id = fields.String(allow_none=True)
    status = fields.Enum(AssignmentStatus, by_value=True)
    mode = fields.Enum(
        AssignmentMode, by_value=True, metadata={"description": "`push` (assigned) or `pull` (claimed from the queue)"}
    )
    created_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(metadata={"description": "Review by then; a claim from the queue lapses then"})
    late = fields.Boolean(metadata={"description": "Open and past its due time (a late review earns less)"})
    ended_at = fields.AwareDateTime(allow_none=True)
    review_id = fields.String(allow_none=True)
    resource_id = fields.String(allow_none=True, metadata={"description": "Revisions: the resource it changes"})
    details = fields.Dict(
        allow_none=True,
        metadata={"description": "Revisions: the change itself (`changes`, `note`, `sources`), to verify it"},
    )


AssignmentPageSchema = page_schema(AssignmentSchema, "AssignmentPage")


class AssignmentListQuerySchema(PageQuerySchema):
    """Which of my assignments to list."""

    status = fields.Enum(
        AssignmentStatus, by_value=True, load_default=None, metadata={"description": "Only this status"}
    )
    kind = fields.Enum(
        TargetKind, by_value=True, load_default=None, metadata={"description": "Only this kind of target"}
    )
    challenge_id = ObjectId(
        "challenge",
        load_default=None,
        metadata={"description": "Only this challenge's", "example": "6b02e48625231e1d5301a2b7"},
    )


class NextAssignmentCreateSchema(StrictSchema):
    """What the pull queue may hand me: any, or only a challenge's, or only one kind."""

    challenge_id = ObjectId("challenge", load_default=None, allow_none=True)
    kind = fields.Enum(TargetKind, by_value=True, load_default=None, allow_none=True)


class DeclineCreateSchema(StrictSchema):
    """Declining takes no fields."""


class AllocationCreateSchema(StrictSchema):
    """A challenge to allocate now."""

    challenge_id = ObjectId("challenge", required=True, metadata={"example": "6b02e48625231e1d5301a2b7"})


class AllocationListQuerySchema(PageQuerySchema):
    """Whose allocation to list."""

    challenge_id = ObjectId(
        "challenge", required=True, metadata={"description": "The challenge", "example": "6b02e48625231e1d5301a2b7"}
    )


class AllocatedAssignmentSchema(AssignmentSchema):
    """An assignment as the challenge's teacher sees it: with its reviewer."""

    reviewer_id = fields.String()


class AllocationResultSchema(Schema):
    """What an allocation did: the assignments it made, each with its reviewer."""

    challenge_id = fields.String()
    created = fields.Integer(metadata={"description": "How many assignments it made (0 when nothing was short)"})
    assignments = fields.List(fields.Nested(AllocatedAssignmentSchema))


class TargetAllocationSchema(Schema):
    """One target of a challenge, its reviewers and what it still needs."""

    kind = fields.Enum(TargetKind, by_value=True)
    target_id = fields.String()
    author_id = fields.String()
    status = fields.Enum(TargetStatus, by_value=True)
    needed = fields.Integer(metadata={"description": "How many more reviewers it needs"})
    assignments = fields.List(fields.Nested(AllocatedAssignmentSchema))


class SuspicionSchema(Schema):
    """People suspected of trading favourable reviews, and the reviews concerned."""

    people = fields.List(fields.String())
    review_ids = fields.List(fields.String())


class AllocationPageSchema(PageSchema):
    """A page of a challenge's allocation, with the pairs and rings suspected of collusion."""

    items = fields.List(fields.Nested(TargetAllocationSchema), required=True)
    suspected_collusion = fields.List(fields.Nested(SuspicionSchema))


class ReassignCreateSchema(StrictSchema):
    """Who takes the assignment over."""

    reviewer_id = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={"example": "dave"})
