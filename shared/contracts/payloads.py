"""The `data` of each event type, validated by consumers before they act on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.contracts.events import EventType, InvalidEvent


class _Payload(Schema):
    class Meta:
        # Producers may add fields over time; consumers read what they know (tolerant reader).
        unknown = EXCLUDE


class ResourceSharedData(_Payload):
    """`resource.shared`: a learner shared a new resource (a new canonical URL)."""

    resource_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    owner_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    url = fields.String(required=True)
    canonical_url = fields.String(required=True)
    title = fields.String(required=True)
    tags = fields.List(fields.String(), load_default=list)
    cohorts = fields.List(fields.String(), load_default=list)
    challenge_id = fields.String(load_default=None, allow_none=True)


PAYLOAD_SCHEMAS: Mapping[str, type[Schema]] = {
    EventType.RESOURCE_SHARED: ResourceSharedData,
}


def load_payload(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an event's data against its declared schema, raising InvalidEvent on mismatch."""
    schema_class = PAYLOAD_SCHEMAS.get(event_type)
    if schema_class is None:
        raise InvalidEvent(f"no payload schema is declared for {event_type}")
    try:
        loaded: dict[str, Any] = schema_class().load(data)
    except ValidationError as error:
        raise InvalidEvent(f"{event_type} data is invalid: {error.messages}") from None
    return loaded
