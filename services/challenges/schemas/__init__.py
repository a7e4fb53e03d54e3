"""Request and response schemas of the challenges service (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from marshmallow import fields

from shared.web import ProblemSchema


class ChallengesProblemSchema(ProblemSchema):
    """A problem of the challenges service: the shared members, and what its conflicts point at."""

    existing_id = fields.String(metadata={"description": "The object a conflict refers to (409 only)"})
    missing_prerequisites = fields.List(
        fields.String(), metadata={"description": "Challenges to submit to first (409 on submitting only)"}
    )
    max_versions = fields.Integer(metadata={"description": "The most versions a submission keeps (409 only)"})
    revision_status = fields.String(
        metadata={"description": "Where a revision stands when a decision on it conflicts (409 only)"}
    )
    flag_id = fields.String(metadata={"description": "The caller's open flag a repeat refers to (409 only)"})
