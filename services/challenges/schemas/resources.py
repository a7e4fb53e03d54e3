"""Request and response schemas of the knowledge commons (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from services.challenges.domain.resources import DecidedBy, FlagReason, FreshnessState, ResourceSort
from services.challenges.domain.revisions import REVISABLE_FIELDS, RevisionStatus
from shared.schemas import Name, ObjectId, PageQuerySchema, QueryBoolean, StrictSchema, Text, Unique, page_schema

MAX_TAGS = 20
MAX_SOURCES = 10
MAX_QUERY_TEXT = 100
RESOURCE_ID_EXAMPLE = "6b02e48625231e1d5301a2b8"
REVISION_ID_EXAMPLE = "6b02e48625231e1d5301a2c1"


def _web_url(**kwargs: Any) -> fields.Url:
    return fields.Url(schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2048), **kwargs)


class ResourceCreateSchema(StrictSchema):
    """A resource to share with the commons."""

    url = _web_url(required=True, metadata={"example": "https://en.wikipedia.org/wiki/Pluto"})
    title = Text(200, min_length=1, required=True, metadata={"example": "Pluto (Wikipedia)"})
    summary = Text(5_000, load_default="", metadata={"example": "Pluto is a dwarf planet in the Kuiper belt."})
    tags = fields.List(
        Name(),
        load_default=list,
        validate=[validate.Length(max=MAX_TAGS), Unique()],
        metadata={"example": ["astronomy"]},
    )
    challenge_id = ObjectId("challenge", load_default=None, allow_none=True)
    review_interval_days = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=3650),
        metadata={
            "description": "Days the resource stays fresh after each check; default: the shortest interval "
            "configured for its tags, else the deployment's default",
            "example": 180,
        },
    )


class FlagSchema(StrictSchema):
    """An open flag on a resource."""

    id = fields.String(metadata={"example": "6b02e48625231e1d5301a2c0"})
    reason = fields.Enum(FlagReason, by_value=True)
    note = fields.String()
    user_id = fields.String()
    created_at = fields.AwareDateTime()


class FreshnessSchema(StrictSchema):
    """Whether a resource is due for a check."""

    state = fields.Enum(
        FreshnessState,
        by_value=True,
        metadata={"description": "`stale` from `review_by` on, until an accepted revision verifies it again"},
    )
    last_verified_at = fields.AwareDateTime(
        metadata={"description": "When it was shared or last updated by an accepted revision"}
    )
    review_by = fields.AwareDateTime(metadata={"description": "When it is due for a check"})


class ResourceSchema(StrictSchema):
    """A shared resource as the API shows it: its current accepted version."""

    id = fields.String(metadata={"example": RESOURCE_ID_EXAMPLE})
    status = fields.String(metadata={"example": "active"})
    owner_id = fields.String()
    url = fields.String()
    canonical_url = fields.String()
    title = fields.String()
    summary = fields.String()
    tags = fields.List(fields.String())
    challenge_id = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "1 when shared, one more for each accepted revision"})
    endorsement_count = fields.Integer()
    open_flags = fields.List(fields.Nested(FlagSchema), metadata={"description": "Flags no revision resolved yet"})
    freshness = fields.Nested(FreshnessSchema)
    review_interval_days = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class ResourceListQuerySchema(PageQuerySchema):
    """Filters and order of the resource search."""

    tag = Name(load_default=None, metadata={"description": "Resources with this tag", "example": "astronomy"})
    q = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=MAX_QUERY_TEXT),
        metadata={"description": "Text found in the title or summary (case-insensitive, literal)", "example": "pluto"},
    )
    stale = QueryBoolean(
        load_default=None,
        metadata={"description": "true: only resources due for a check (`review_by` passed); false: only fresh ones"},
    )
    flagged = QueryBoolean(
        load_default=None, metadata={"description": "true: only resources with open flags; false: only those without"}
    )
    flag = fields.Enum(
        FlagReason,
        by_value=True,
        load_default=None,
        metadata={"description": "Only resources with an open flag for this reason"},
    )
    owner_id = fields.String(
        load_default=None, validate=validate.Length(min=1, max=128), metadata={"description": "Resources of this user"}
    )
    challenge_id = ObjectId(
        "challenge",
        load_default=None,
        metadata={"description": "Resources shared for this challenge"},
    )
    sort = fields.Enum(
        ResourceSort,
        by_value=True,
        load_default=ResourceSort.NEWEST,
        metadata={
            "description": "`newest` first (default); `freshness`: most recently verified first; `staleness`: most "
            "overdue check first; `endorsements`: most endorsed first, ties newest first"
        },
    )


ResourcePageSchema = page_schema(ResourceSchema, "ResourcePageSchema")


class EndorsementCreateSchema(StrictSchema):
    """An endorsement needs no fields: send no body or `{}`."""


class EndorsementSchema(StrictSchema):
    """An endorsement as recorded."""

    resource_id = fields.String(metadata={"example": RESOURCE_ID_EXAMPLE})
    user_id = fields.String(metadata={"example": "bob"})
    endorsement_count = fields.Integer(metadata={"description": "The resource's endorsements, this one included"})
    created_at = fields.AwareDateTime()


class FlagCreateSchema(StrictSchema):
    """A report that a resource is outdated, broken or inaccurate."""

    reason = fields.Enum(FlagReason, by_value=True, required=True, metadata={"example": "outdated"})
    note = Text(
        1_000,
        min_length=1,
        required=True,
        metadata={"description": "What is wrong", "example": "Pluto was reclassified as a dwarf planet in 2006."},
    )


class RevisionCreateSchema(StrictSchema):
    """A proposed knowledge update: new values for some of `title`, `summary`, `url`, and why."""

    title = Text(200, min_length=1, metadata={"example": "Pluto, a dwarf planet (Wikipedia)"})
    summary = Text(
        5_000, min_length=1, metadata={"example": "Pluto has been a dwarf planet since the IAU's 2006 definition."}
    )
    url = _web_url(metadata={"example": "https://en.wikipedia.org/wiki/Pluto"})
    note = Text(
        2_000,
        min_length=1,
        required=True,
        metadata={"description": "What changed and why", "example": "The IAU reclassified Pluto in 2006."},
    )
    sources = fields.List(
        _web_url(),
        load_default=list,
        validate=[validate.Length(max=MAX_SOURCES), Unique()],
        metadata={"description": "Where the new facts come from", "example": ["https://www.iau.org/news/"]},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not any(name in data for name in REVISABLE_FIELDS):
            raise ValidationError("Propose a new title, summary or url", "_schema")


class FieldChangeSchema(StrictSchema):
    """One field of a revision: its value when proposed and the proposed value."""

    old = fields.String()
    new = fields.String()


class DecisionSchema(StrictSchema):
    """Who decided a revision and why."""

    decided_by = fields.Enum(
        DecidedBy,
        by_value=True,
        allow_none=True,
        metadata={"description": "`peers`, `owner`, `teacher`, `admin`; null when the resource changed meanwhile"},
    )
    decider_id = fields.String(allow_none=True)
    verifier_ids = fields.List(fields.String())
    reason = fields.String(allow_none=True)


class RevisionSchema(StrictSchema):
    """A revision of a resource with its diff and, once decided, the decision."""

    id = fields.String(metadata={"example": REVISION_ID_EXAMPLE})
    resource_id = fields.String()
    proposer_id = fields.String()
    status = fields.Enum(RevisionStatus, by_value=True)
    base_version = fields.Integer(metadata={"description": "The resource version the revision was proposed on"})
    version = fields.Integer(allow_none=True, metadata={"description": "The version it became, once accepted"})
    changes = fields.Dict(keys=fields.String(), values=fields.Nested(FieldChangeSchema))
    note = fields.String()
    sources = fields.List(fields.String())
    flagged_outdated = fields.Boolean(
        metadata={"description": "Someone else had flagged the resource outdated when this was proposed"}
    )
    resolved_flag_ids = fields.List(fields.String(), metadata={"description": "Flags the accepted revision resolved"})
    created_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)
    decision = fields.Nested(DecisionSchema, allow_none=True)


RevisionPageSchema = page_schema(RevisionSchema, "RevisionPageSchema")


class RevisionListQuerySchema(PageQuerySchema):
    """Filters of a resource's revision history."""

    status = fields.Enum(
        RevisionStatus, by_value=True, load_default=None, metadata={"description": "Only revisions in this status"}
    )


class RevisionDecisionCreateSchema(StrictSchema):
    """A binding decision on a pending revision."""

    decision = fields.String(
        required=True, validate=validate.OneOf(["accept", "reject"]), metadata={"example": "accept"}
    )
    reason = Text(1_000, load_default=None, allow_none=True, metadata={"example": "Checked against the IAU page."})


SHARE_EXAMPLE = {
    "url": "https://en.wikipedia.org/wiki/Pluto",
    "title": "Pluto (Wikipedia)",
    "summary": "Pluto is a planet.",
    "tags": ["astronomy"],
    "challenge_id": None,
    "review_interval_days": 180,
}
RESOURCE_EXAMPLE = {
    **SHARE_EXAMPLE,
    "id": RESOURCE_ID_EXAMPLE,
    "status": "active",
    "owner_id": "alice",
    "canonical_url": "https://en.wikipedia.org/wiki/Pluto",
    "version": 1,
    "endorsement_count": 3,
    "open_flags": [
        {
            "id": "6b02e48625231e1d5301a2c0",
            "reason": "outdated",
            "note": "Pluto was reclassified as a dwarf planet in 2006.",
            "user_id": "bob",
            "created_at": "2026-11-21T10:00:00+00:00",
        }
    ],
    "freshness": {
        "state": "fresh",
        "last_verified_at": "2026-11-20T09:00:00+00:00",
        "review_by": "2027-05-19T09:00:00+00:00",
    },
    "created_at": "2026-11-20T09:00:00+00:00",
    "updated_at": "2026-11-20T09:00:00+00:00",
}
FLAG_EXAMPLE = {"reason": "outdated", "note": "Pluto was reclassified as a dwarf planet in 2006."}
ENDORSEMENT_EXAMPLE = {
    "resource_id": RESOURCE_ID_EXAMPLE,
    "user_id": "bob",
    "endorsement_count": 4,
    "created_at": "2026-11-21T10:00:00+00:00",
}
NEW_SUMMARY = "Pluto has been a dwarf planet since the IAU's 2006 definition."
PROPOSAL_EXAMPLE = {
    "summary": NEW_SUMMARY,
    "note": "The IAU reclassified Pluto in 2006.",
    "sources": ["https://www.iau.org/news/pressreleases/detail/iau0603/"],
}
REVISION_EXAMPLE = {
    "id": REVISION_ID_EXAMPLE,
    "resource_id": RESOURCE_ID_EXAMPLE,
    "proposer_id": "carol",
    "status": "accepted",
    "base_version": 1,
    "version": 2,
    "changes": {
        "summary": {
            "old": "Pluto is a planet.",
            "new": "Pluto has been a dwarf planet since the IAU's 2006 definition.",
        }
    },
    "note": "The IAU reclassified Pluto in 2006.",
    "sources": ["https://www.iau.org/news/pressreleases/detail/iau0603/"],
    "flagged_outdated": True,
    "resolved_flag_ids": ["6b02e48625231e1d5301a2c0"],
    "created_at": "2026-11-21T11:00:00+00:00",
    "decided_at": "2026-11-22T08:00:00+00:00",
    "decision": {"decided_by": "peers", "decider_id": None, "verifier_ids": ["dave", "erin"], "reason": None},
}
DECISION_EXAMPLE = {"decision": "accept", "reason": "Checked against the IAU page."}
