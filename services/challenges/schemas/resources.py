"""Request and response schemas of the knowledge commons (marshmallow, at the HTTP edge only)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate, validates_schema

from shared.schemas import Name, PageQuerySchema, StrictSchema, Text, page_schema, unique_items

MAX_TAGS = 20


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


ResourcePageSchema = page_schema(ResourceSchema, "ResourcePageSchema")
