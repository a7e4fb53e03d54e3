"""Builders for test data: tokens, request bodies, events."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from shared.auth import mint_token
from shared.contracts.events import Event, EventType

SECRET = "connective-test-secret-of-at-least-32-bytes"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """Return a name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def token(user_id: str, *roles: str, cohorts: tuple[str, ...] = ()) -> str:
    """Return a development token for the user."""
    return mint_token(SECRET, user_id, roles or ("learner",), cohorts=cohorts)


def bearer(user_id: str, *roles: str, cohorts: tuple[str, ...] = ()) -> dict[str, str]:
    """Return an Authorization header for the user."""
    return {"Authorization": f"Bearer {token(user_id, *roles, cohorts=cohorts)}"}


def challenge_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid challenge creation body."""
    body: dict[str, Any] = {
        "title": "Explain photosynthesis",
        "description": "Write 300 words for a 10-year-old and cite two sources.",
        "tags": ["biology"],
        "points": 50,
        "rubric": [{"criterion": "Accuracy", "max_score": 5, "description": "Facts are right"}],
    }
    body.update(overrides)
    return body


def resource_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid resource share body with a URL no other test uses."""
    body: dict[str, Any] = {
        "url": f"https://example.org/articles/{next(_counter)}-{uuid.uuid4().hex[:8]}",
        "title": "Pluto is a dwarf planet",
        "summary": "Why the IAU reclassified Pluto in 2006.",
        "tags": ["astronomy"],
    }
    body.update(overrides)
    return body


def resource_shared_event(owner_id: str, **data: Any) -> Event:
    """Return a `resource.shared` event as the challenges service would emit it."""
    payload: dict[str, Any] = {
        "resource_id": uuid.uuid4().hex[:24],
        "owner_id": owner_id,
        "url": "https://example.org/a",
        "canonical_url": "https://example.org/a",
        "title": "A page",
        "tags": [],
        "cohorts": [],
        "challenge_id": None,
    }
    payload.update(data)
    return Event(type=EventType.RESOURCE_SHARED, producer="challenges", actor_id=owner_id, data=payload)
