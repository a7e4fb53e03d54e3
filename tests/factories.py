"""Builders for test data: tokens, request bodies, events."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import mint_token
from shared.contracts.events import Event, EventType

SECRET = "connective-test-secret-of-at-least-32-bytes"
# The suites send hundreds of writes a minute as the same few users from 127.0.0.1, and compare Redis before
# and after refusals: their apps count no writes. tests/integration/test_rate_limits.py switches limits on.
NO_RATE_LIMITS = {"RATE_LIMIT_USER": "off", "RATE_LIMIT_IP": "off"}
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


def submission_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid submission body (a new submission or a revision)."""
    body: dict[str, Any] = {
        "content": "Plants use sunlight to turn water and carbon dioxide into sugar and oxygen.",
        "links": ["https://en.wikipedia.org/wiki/Photosynthesis"],
    }
    body.update(overrides)
    return body


def flag_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid flag body."""
    body: dict[str, Any] = {"reason": "outdated", "note": "Pluto was reclassified as a dwarf planet in 2006."}
    body.update(overrides)
    return body


def revision_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid revision proposal body (a new summary, with a note and a source)."""
    body: dict[str, Any] = {
        "summary": f"Pluto has been a dwarf planet since 2006 ({uuid.uuid4().hex[:6]}).",
        "note": "The IAU defined 'planet' in 2006 and Pluto does not clear its orbit.",
        "sources": ["https://www.iau.org/news/pressreleases/detail/iau0603/"],
    }
    body.update(overrides)
    return body


def revision_verified_event(
    revision_id: str, resource_id: str, verdict: str = "approve", verifier_ids: tuple[str, ...] = ("dave", "erin")
) -> Event:
    """Return a `revision.verified` event as peer review would emit it."""
    return Event(
        type=EventType.REVISION_VERIFIED,
        producer="peer_review",
        actor_id=None,
        data={
            "revision_id": revision_id,
            "resource_id": resource_id,
            "verdict": verdict,
            "verifier_ids": list(verifier_ids),
            "reasons": [f"{verdict}: checked the sources"],
        },
    )


def rsa_key_pair() -> tuple[str, str]:
    """Return a new (private PEM, public PEM) pair, for tokens verified in public-key mode."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
