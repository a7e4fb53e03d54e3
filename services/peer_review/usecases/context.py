"""What every use case of the peer-review service needs, and the storage it expects (as protocols).

`services.peer_review.repository` implements the protocols over MongoDB; the unit tests' in-memory fakes
implement them over dictionaries. A write that announces something takes its events: the repository stores
them with the change and dispatches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.peer_review.domain.allocation import Person
from services.peer_review.domain.reviews import COMMENT_MIN_LENGTH, Assignment, AssignmentStatus, Review, Target
from shared.contracts.events import Event
from shared.contracts.vocabulary import TargetKind
from shared.usecase import UseCaseContext


class TargetRepository(Protocol):
    """Targets under review, by kind and id."""

    def add(self, target: Target) -> bool:
        """Insert a target unless one with its key exists; return whether it was new."""
        ...

    def get(self, kind: str, target_id: str) -> Target | None: ...

    def save(self, target: Target, expected_sequence: int, events: Sequence[Event] = ()) -> bool:
        """Save a changed target with its events if nobody saved it since `expected_sequence`."""
        ...

    def of_challenge(self, challenge_id: str) -> list[Target]: ...

    def open_targets(
        self, *, kind: str | None, challenge_id: str | None, limit: int, offset: int = 0
    ) -> list[Target]: ...


class AssignmentRepository(Protocol):
    """Assignments; a reviewer is on a target once, ever."""

    def add_many(self, assignments: Sequence[tuple[Assignment, Sequence[Event]]], *, origin: str) -> list[str]:
        """Insert assignments with their events, skipping pairs that exist already; return the ids inserted."""
        ...

    def get(self, assignment_id: str) -> Assignment | None: ...

    def save(self, assignment: Assignment, expected_status: AssignmentStatus, events: Sequence[Event] = ()) -> bool:
        """Store the assignment's new status if it still has `expected_status`."""
        ...

    def of_target(self, kind: str, target_id: str) -> list[Assignment]: ...

    def of_targets(self, keys: Sequence[str]) -> list[Assignment]: ...

    def of_challenge(self, challenge_id: str) -> list[Assignment]: ...

    def of_reviewer(
        self,
        reviewer_id: str,
        *,
        statuses: Sequence[AssignmentStatus] | None,
        kind: str | None,
        challenge_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Assignment], int]: ...

    def count_made_for(self, reviewer_id: str, challenge_id: str, origin: str) -> int: ...

    def lapsed_claims(self, now: datetime, limit: int) -> list[Assignment]: ...


class ReviewRepository(Protocol):
    """Reviews, one per assignment."""

    def add(self, review: Review, events: Sequence[Event] = ()) -> Review:
        """Insert a review with its events; if its assignment has one already, return that one instead."""
        ...

    def get(self, review_id: str) -> Review | None: ...

    def of_assignment(self, assignment_id: str) -> Review | None: ...

    def of_target(self, kind: str, target_id: str) -> list[Review]: ...

    def of_reviewer(self, reviewer_id: str, limit: int = 500) -> list[Review]: ...

    def graded_history(self, limit: int) -> list[Review]: ...

    def reviewed_targets_since(self, since: datetime) -> list[tuple[TargetKind, str]]:
        """Return the targets reviewed since a moment (kind and id, each once)."""
        ...

    def save(self, review: Review, events: Sequence[Event] = ()) -> bool: ...

    def record_accuracy(self, accuracy: Mapping[str, float]) -> None: ...


class PeopleRepository(Protocol):
    """Who takes part, their cohorts and the tags they are active in."""

    def note_active(self, user_id: str, cohorts: Sequence[str], tags: Sequence[str], now: datetime) -> None: ...

    def active_in(self, tags: Sequence[str], *, limit: int) -> list[Person]: ...

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, frozenset[str]]: ...


class ChallengeRepository(Protocol):
    """Challenges as peer review knows them: their teacher, audience, and whether submissions closed."""

    def note(self, challenge_id: str, owner_id: str, cohorts: Sequence[str] = ()) -> None: ...

    def close(self, challenge_id: str, owner_id: str, closed_at: datetime) -> None: ...

    def closed_at(self, challenge_id: str) -> datetime | None: ...

    def owner_of(self, challenge_id: str) -> str | None: ...

    def cohorts_of(self, challenge_id: str) -> tuple[str, ...] | None: ...


@dataclass(frozen=True)
class ReviewPolicy:
    """The deployment's choices: how long a comment must be, and which aggregator grades."""

    comment_min_length: int = COMMENT_MIN_LENGTH
    aggregator: str = "reliability_weighted"
    # How many recent graded reviews the reviewer model learns from.
    history_size: int = 5000


@dataclass
class Context(UseCaseContext):
    """What the peer-review use cases need: the service's repositories and its review policy."""

    targets: TargetRepository = field(kw_only=True)
    assignments: AssignmentRepository = field(kw_only=True)
    reviews: ReviewRepository = field(kw_only=True)
    people: PeopleRepository = field(kw_only=True)
    challenges: ChallengeRepository = field(kw_only=True)
    policy: ReviewPolicy = field(default_factory=ReviewPolicy, kw_only=True)
