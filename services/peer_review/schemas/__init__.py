"""Request and response schemas of the peer-review service (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from marshmallow import fields

from shared.web import ProblemSchema


class PeerReviewProblemSchema(ProblemSchema):
    """A problem of the peer-review service: the shared members, and the review a conflict refers to."""

    existing_id = fields.String(metadata={"description": "The review a second review of one assignment refers to"})
