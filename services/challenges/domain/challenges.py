"""Pure rules of challenges: their life cycle, window and audience."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.challenges.domain.errors import InvalidField, InvalidState
from shared.contracts.vocabulary import ChallengeKind


class ChallengeStatus(StrEnum):
    """Where a challenge is in its life."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class Criterion:
    """One line of a rubric."""

    criterion: str
    max_score: int
    description: str = ""


@dataclass(frozen=True)
class ReviewSettings:
    """How peer review runs for a challenge."""

    reviewers_per_submission: int = 3
    due_hours: int = 72
    blind: bool = True


# Fields learners rely on once a challenge is published: changing them would change the rules mid-game.
LOCKED_WHEN_PUBLISHED = frozenset({"kind", "cohorts", "points", "rule_points", "rubric", "review", "prerequisites"})
EDITABLE_FIELDS = frozenset({"title", "description", "tags", "starts_at", "ends_at"} | LOCKED_WHEN_PUBLISHED)
MAX_PREREQUISITES = 10


@dataclass(frozen=True)
class Challenge:
    """A teacher's challenge."""

    id: str
    owner_id: str
    title: str
    description: str
    created_at: datetime
    updated_at: datetime
    kind: ChallengeKind = ChallengeKind.SUBMISSION
    tags: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    points: int = 100
    # The challenge's own points for some rules of the leaderboards (shared.contracts.vocabulary.CHALLENGE_RULES),
    # carried by the events of its work; a rule not named keeps its points.
    rule_points: dict[str, int] = field(default_factory=dict)
    rubric: tuple[Criterion, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    review: ReviewSettings = field(default_factory=ReviewSettings)
    prerequisites: tuple[str, ...] = ()
    status: ChallengeStatus = ChallengeStatus.DRAFT
    published_at: datetime | None = None
    closed_at: datetime | None = None
    archived_at: datetime | None = None
    # Counts saved changes; a save succeeds only against the version it was read at.
    version: int = 1
    # Set only on a challenge as seen at some moment (see `as_seen_at`); never stored.
    open_now: bool | None = None

    def is_open_to(self, cohorts: tuple[str, ...]) -> bool:
        """Return whether a learner of these cohorts may take part (no cohorts: open to all)."""
        return not self.cohorts or bool(set(self.cohorts).intersection(cohorts))

    def status_at(self, now: datetime) -> ChallengeStatus:
        """Return the status as of `now`: a published challenge past its `ends_at` is closed already."""
        if self.status == ChallengeStatus.PUBLISHED and self.ends_at is not None and self.ends_at <= now:
            return ChallengeStatus.CLOSED
        return self.status

    def is_open(self, now: datetime) -> bool:
        """Return whether learners can take part right now (published, and inside its window)."""
        if self.status_at(now) != ChallengeStatus.PUBLISHED:
            return False
        return self.starts_at is None or self.starts_at <= now

    def as_seen_at(self, now: datetime) -> Challenge:
        """Return the challenge as readers see it at `now`: its status then, and whether it is open."""
        status = self.status_at(now)
        closed_at = self.ends_at if status != self.status else self.closed_at
        return replace(self, status=status, closed_at=closed_at, open_now=self.is_open(now))

    def due_to_close(self, now: datetime) -> bool:
        """Return whether the challenge has reached its `ends_at` but is still stored as published."""
        return self.status == ChallengeStatus.PUBLISHED and self.status_at(now) == ChallengeStatus.CLOSED


def check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    """Refuse a window that ends before it starts."""
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidField("ends_at", "ends_at must be after starts_at")


def check_accepting(challenge: Challenge, now: datetime) -> None:
    """Refuse taking part in a challenge that is not open right now, saying why."""
    status = challenge.status_at(now)
    if status != ChallengeStatus.PUBLISHED:
        raise InvalidState(f"This challenge is {status}; it does not accept contributions")
    if challenge.starts_at is not None and challenge.starts_at > now:
        raise InvalidState(f"This challenge opens at {challenge.starts_at.isoformat()}")


def publish(challenge: Challenge, now: datetime) -> Challenge:
    """Publish a draft challenge."""
    if challenge.status != ChallengeStatus.DRAFT:
        raise InvalidState(f"Only a draft can be published; this challenge is {challenge.status}")
    if challenge.ends_at and challenge.ends_at <= now:
        raise InvalidState("This challenge's ends_at has passed; move it before publishing")
    return _saved(replace(challenge, status=ChallengeStatus.PUBLISHED, published_at=now), now)


def edit(challenge: Challenge, changes: Mapping[str, Any], now: datetime) -> Challenge:
    """Apply a teacher's edit: anything while a draft; wording, tags and the window once published."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise InvalidField(sorted(unknown)[0], "This field cannot be changed")
    status = challenge.status_at(now)
    if status in (ChallengeStatus.CLOSED, ChallengeStatus.ARCHIVED):
        raise InvalidState(f"This challenge is {status}; it can no longer be edited")
    if status == ChallengeStatus.PUBLISHED:
        locked = sorted(name for name in changes if name in LOCKED_WHEN_PUBLISHED)
        if locked:
            raise InvalidState(f"{', '.join(locked)} cannot change once the challenge is published")
        started = challenge.starts_at is not None and challenge.starts_at <= now
        if started and "starts_at" in changes and changes["starts_at"] != challenge.starts_at:
            raise InvalidState("This challenge has started; starts_at can no longer change")
        if changes.get("ends_at") is not None and changes["ends_at"] <= now:
            raise InvalidField("ends_at", "ends_at must be in the future; close the challenge to end it now")
    edited = replace(challenge, **dict(changes))
    check_window(edited.starts_at, edited.ends_at)
    if challenge.id in edited.prerequisites:
        raise InvalidField("prerequisites", "A challenge cannot be its own prerequisite")
    return _saved(edited, now)


def close(challenge: Challenge, now: datetime) -> Challenge:
    """Close a published challenge; one past its `ends_at` closes as of that time."""
    if challenge.status != ChallengeStatus.PUBLISHED:
        raise InvalidState(f"Only a published challenge can be closed; this challenge is {challenge.status}")
    closed_at = challenge.ends_at if challenge.due_to_close(now) and challenge.ends_at else now
    return _saved(replace(challenge, status=ChallengeStatus.CLOSED, closed_at=closed_at), now)


def archive(challenge: Challenge, now: datetime) -> Challenge:
    """Archive a draft or a closed challenge, taking it off learners' lists."""
    status = challenge.status_at(now)
    if status == ChallengeStatus.PUBLISHED:
        raise InvalidState("Close this challenge before archiving it")
    if status == ChallengeStatus.ARCHIVED:
        raise InvalidState("This challenge is archived already")
    if challenge.due_to_close(now):
        # Reached its end but not yet closed by the worker: it closes and is archived in one save.
        challenge = close(challenge, now)
    return _saved(replace(challenge, status=ChallengeStatus.ARCHIVED, archived_at=now), now)


def _saved(challenge: Challenge, now: datetime) -> Challenge:
    return replace(challenge, updated_at=now, version=challenge.version + 1)


def may_manage(challenge: Challenge, user_id: str, is_admin: bool) -> bool:
    """Return whether the user may change this challenge (its teacher, or an admin)."""
    return is_admin or challenge.owner_id == user_id


def may_see(challenge: Challenge, user_id: str, cohorts: tuple[str, ...], is_staff: bool) -> bool:
    """Return whether the user may see this challenge.

    Teachers and admins see every challenge; learners see published and closed challenges open to one
    of their cohorts (or to everyone). Drafts and archived challenges do not exist for them.
    """
    if is_staff or challenge.owner_id == user_id:
        return True
    visible = challenge.status in (ChallengeStatus.PUBLISHED, ChallengeStatus.CLOSED)
    return visible and challenge.is_open_to(cohorts)


def prerequisite_cycle(
    challenge_id: str, prerequisites: tuple[str, ...], lookup: Mapping[str, tuple[str, ...]]
) -> bool:
    """Return whether making `prerequisites` required for `challenge_id` would close a loop.

    `lookup` maps each known challenge id to its own prerequisites.
    """
    pending = list(prerequisites)
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current == challenge_id:
            return True
        if current in seen:
            continue
        seen.add(current)
        pending.extend(lookup.get(current, ()))
    return False


class ChallengeSort(StrEnum):
    """Orders of the challenge list."""

    NEWEST = "-created_at"
    OLDEST = "created_at"
    ENDING_SOONEST = "ends_at"
    ENDING_LATEST = "-ends_at"
    TITLE = "title"


@dataclass(frozen=True)
class ChallengeQuery:
    """Which challenges a listing shows, as of `now`."""

    now: datetime
    statuses: tuple[ChallengeStatus, ...] | None = None
    tag: str | None = None
    kind: ChallengeKind | None = None
    owner_id: str | None = None
    # Challenges whose audience includes this cohort (restricted to it, or open to everyone).
    cohort: str | None = None
    # None: every audience; a tuple: challenges open to all or to one of these cohorts.
    open_to_cohorts: tuple[str, ...] | None = None
    # True: only challenges open right now; False: only those not open right now.
    open_now: bool | None = None
    sort: ChallengeSort = ChallengeSort.NEWEST
