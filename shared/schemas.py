"""Schema building blocks every service uses at its HTTP edge."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

ID_PATTERN = r"^[0-9a-f]{24}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._:\-]{0,63}$"
MAX_PAGE_SIZE = 100


class StrictSchema(Schema):
    """A request schema that refuses unknown fields."""

    class Meta:
        unknown = RAISE


class JsonBoolean(fields.Boolean):
    """A JSON body's `true` or `false`, and nothing else: not 1, 0, "yes", "on" or "true".

    marshmallow's Boolean takes any of its truthy values, and Python's `1 == True` lets 1 and 0 through
    even a `truthy={True}`; a client sending them has a bug the API should name.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class QueryBoolean(fields.Boolean):
    """A query string's `true` or `false`, spelled so (not 1, 0, yes, no, on or off)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value not in ("true", "false") or not isinstance(value, str):
            raise self.make_error("invalid")
        return value == "true"


def Name(**kwargs: Any) -> fields.String:  # noqa: N802 - a field factory reads like a field class
    """A short identifier-like string: tags, cohort ids (letters, digits, space . _ : -)."""
    return fields.String(
        validate=validate.Regexp(NAME_PATTERN, error="Use 1-64 letters, digits, spaces or ._:-"), **kwargs
    )


def ObjectId(what: str, **kwargs: Any) -> fields.String:  # noqa: N802
    """An object id (24 hex digits) of a `what`, e.g. ObjectId("challenge")."""
    return fields.String(validate=validate.Regexp(ID_PATTERN, error=f"Not a {what} id"), **kwargs)


def Text(max_length: int, *, min_length: int = 0, **kwargs: Any) -> fields.String:  # noqa: N802
    """A free-text string with bounds."""
    return fields.String(validate=validate.Length(min=min_length, max=max_length), **kwargs)


class Unique(validate.Validator):
    """Refuses a list whose values repeat (the OpenAPI documents say `uniqueItems: true`)."""

    error = "Values must not repeat"

    def __call__(self, value: Any) -> Any:
        """Return the list unchanged, or raise a ValidationError naming the rule."""
        items = list(value or [])
        if len({repr(item) for item in items}) != len(items):
            raise ValidationError(self.error)
        return value


class PageQuerySchema(StrictSchema):
    """Pagination of a list endpoint."""

    # Query strings are text, so these parse "20"; "2.5" is still refused (int("2.5") fails).
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Items per page (1-{MAX_PAGE_SIZE})", "example": 20},
    )
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=100_000),
        metadata={"description": "How many matching items to skip", "example": 0},
    )


class PageSchema(Schema):
    """A page of a list: the items and how many there are in all."""

    total = fields.Integer(required=True, metadata={"example": 1})


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """Return a `{items: [...], total}` schema class for the given item schema."""
    return type(name, (PageSchema,), {"items": fields.List(fields.Nested(item_schema), required=True)})


__all__ = [
    "ID_PATTERN",
    "Name",
    "ObjectId",
    "PageQuerySchema",
    "PageSchema",
    "StrictSchema",
    "Text",
    "Unique",
    "page_schema",
]
