"""Builders of domain objects for tests below the HTTP edge (use cases over fakes, repository contracts)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.challenges.domain.challenges import Challenge, ChallengeStatus
from services.challenges.domain.resources import Flag, FlagReason, Resource
from services.challenges.domain.revisions import FieldChange, Revision
from services.challenges.domain.submissions import Submission, submit
from shared.contracts.auth import Principal, Role
from shared.ids import new_id

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def learner(user_id: str = "alice", *cohorts: str) -> Principal:
    """Return a learner of these cohorts (7a when none are given)."""
    return Principal(user_id=user_id, roles=frozenset({Role.LEARNER}), cohorts=cohorts or ("7a",))


def teacher(user_id: str = "teacher-1") -> Principal:
    """Return a teacher."""
    return Principal(user_id=user_id, roles=frozenset({Role.TEACHER}))


def admin(user_id: str = "admin-1") -> Principal:
    """Return an administrator."""
    return Principal(user_id=user_id, roles=frozenset({Role.ADMIN}))


def make_challenge(**overrides: Any) -> Challenge:
    """Return a published submission challenge of teacher-1, open for a week."""
    values: dict[str, Any] = {
        "id": new_id(),
        "owner_id": "teacher-1",
        "title": "Explain photosynthesis",
        "description": "300 words for a 10-year-old",
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(days=2),
        "status": ChallengeStatus.PUBLISHED,
        "published_at": NOW - timedelta(days=2),
        "ends_at": NOW + timedelta(days=7),
        "tags": ("biology",),
    }
    values.update(overrides)
    return Challenge(**values)


def make_submission(challenge: Challenge | None = None, author_id: str = "alice", **overrides: Any) -> Submission:
    """Return a learner's first submission to a challenge, submitted an hour ago."""
    submission = submit(
        challenge or make_challenge(),
        submission_id=new_id(),
        author_id=author_id,
        content="Plants make sugar from light.",
        links=("https://example.org/a",),
        now=NOW - timedelta(hours=1),
    )
    return replace(submission, **overrides)


def make_resource(**overrides: Any) -> Resource:
    """Return alice's resource about Pluto, last verified 400 days ago."""
    url = overrides.pop("url", f"https://example.org/pluto/{new_id()}")
    values: dict[str, Any] = {
        "id": new_id(),
        "owner_id": "alice",
        "url": url,
        "canonical_url": url,
        "title": "Pluto",
        "summary": "Pluto is the ninth planet.",
        "tags": ("astronomy",),
        "created_at": NOW - timedelta(days=400),
        "last_verified_at": NOW - timedelta(days=400),
        "review_by": NOW - timedelta(days=35),
    }
    values.update(overrides)
    return Resource(**values)


def make_flag(reason: FlagReason = FlagReason.OUTDATED, user_id: str = "bob", **overrides: Any) -> Flag:
    """Return an open flag."""
    values: dict[str, Any] = {
        "id": new_id(),
        "reason": reason,
        "note": "Wrong since 2006",
        "user_id": user_id,
        "created_at": NOW - timedelta(days=1),
    }
    values.update(overrides)
    return Flag(**values)


def make_revision(resource: Resource, proposer_id: str = "carol", **overrides: Any) -> Revision:
    """Return a pending revision of the resource's summary."""
    values: dict[str, Any] = {
        "id": new_id(),
        "resource_id": resource.id,
        "proposer_id": proposer_id,
        "base_version": resource.version,
        "changes": {"summary": FieldChange(old=resource.summary, new="Pluto is a dwarf planet.")},
        "note": "IAU 2006",
        "created_at": NOW - timedelta(hours=2),
    }
    values.update(overrides)
    return Revision(**values)
