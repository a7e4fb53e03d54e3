"""The event envelope and the event types (which queue receives which type: `shared.registry`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1
# The namespace of fact ids (below): fixed for good, since consumers remember the ids they have seen.
FACT_NAMESPACE = uuid.UUID("f3137b16-c6d5-482f-a843-d79ae6b7e30a")


class EventType(StrEnum):
    """Integration events, named in the past tense (docs/architecture.md, Events)."""

    CHALLENGE_PUBLISHED = "challenge.published"
    CHALLENGE_CLOSED = "challenge.closed"
    SUBMISSION_SUBMITTED = "submission.submitted"
    SUBMISSION_REVISED = "submission.revised"
    # Peer review drops a withdrawn submission's open assignments.
    SUBMISSION_WITHDRAWN = "submission.withdrawn"
    RESOURCE_SHARED = "resource.shared"
    RESOURCE_ENDORSED = "resource.endorsed"
    RESOURCE_FLAGGED = "resource.flagged"
    RESOURCE_REVISION_PROPOSED = "resource.revision_proposed"
    RESOURCE_REVISION_ACCEPTED = "resource.revision_accepted"
    RESOURCE_REVISION_REJECTED = "resource.revision_rejected"
    REVIEW_ASSIGNED = "review.assigned"
    REVIEW_DECLINED = "review.declined"
    REVIEW_SUBMITTED = "review.submitted"
    REVIEW_RATED = "review.rated"
    TARGET_GRADED = "target.graded"
    REVISION_VERIFIED = "revision.verified"
    POINTS_AWARDED = "points.awarded"
    BADGE_EARNED = "badge.earned"
    LEVEL_REACHED = "level.reached"


EVENT_TYPES = frozenset(event_type.value for event_type in EventType)


class InvalidEvent(ValueError):
    """An envelope that does not follow the contract; it is never retried."""


def fact_id(event_type: str, *subject: object) -> str:
    """Return the id of the event announcing a fact that happens once, the same whoever announces it.

    `subject` names the fact: the document and the state it changed from (a target graded at sequence 4),
    or what can happen only once (a review rated). Two writers that both saw the same state and both
    wrote (a job run again beside a request, or FerretDB acknowledging both of two conditional writes of
    one document) then announce one event, which every consumer takes once.
    """
    name = "\x1f".join([event_type, *(str(part) for part in subject)])
    return str(uuid.uuid5(FACT_NAMESPACE, name))


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """An integration event with its envelope (docs/architecture.md, Events)."""

    type: str
    producer: str
    actor_id: str | None
    data: Mapping[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=_utc_now)
    schema_version: int = SCHEMA_VERSION
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready envelope."""
        envelope: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "producer": self.producer,
            "actor_id": self.actor_id,
            "data": dict(self.data),
            "schema_version": self.schema_version,
        }
        if self.request_id:
            envelope["request_id"] = self.request_id
        return envelope

    @classmethod
    def from_dict(cls, envelope: Any) -> Event:
        """Parse and check an envelope, raising InvalidEvent naming what is wrong."""
        if not isinstance(envelope, Mapping):
            raise InvalidEvent("an event envelope must be an object")
        missing = [
            name for name in ("id", "type", "occurred_at", "producer", "data", "schema_version") if name not in envelope
        ]
        if missing:
            raise InvalidEvent(f"event envelope lacks {', '.join(missing)}")
        try:
            event_id = str(uuid.UUID(str(envelope["id"])))
        except ValueError:
            raise InvalidEvent(f"event id {envelope['id']!r} is not a UUID") from None
        if not isinstance(envelope["type"], str) or envelope["type"] not in EVENT_TYPES:
            raise InvalidEvent(f"unknown event type {envelope['type']!r}")
        if not isinstance(envelope["data"], Mapping):
            raise InvalidEvent("event data must be an object")
        version = envelope["schema_version"]
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise InvalidEvent(f"unsupported schema_version {envelope['schema_version']!r}")
        try:
            occurred_at = datetime.fromisoformat(str(envelope["occurred_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(f"occurred_at {envelope['occurred_at']!r} is not ISO 8601") from None
        if occurred_at.tzinfo is None:
            raise InvalidEvent("occurred_at must carry a time zone (UTC)")
        request_id = envelope.get("request_id")
        if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 512):
            raise InvalidEvent("request_id must be a string of at most 512 characters")
        actor_id = envelope.get("actor_id")
        return cls(
            id=event_id,
            type=str(envelope["type"]),
            occurred_at=occurred_at.astimezone(UTC),
            producer=str(envelope["producer"]),
            actor_id=None if actor_id is None else str(actor_id),
            data=dict(envelope["data"]),
            schema_version=envelope["schema_version"],
            request_id=request_id,
        )
