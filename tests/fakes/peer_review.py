"""In-memory repositories of the peer-review service: the protocols of its use cases, over dictionaries.

Each fake keeps the domain objects as the MongoDB repositories would store them and honours the same
conditions (a target added once and saved over the sequence it was read at, a reviewer on a target once
whatever became of the assignment, an assignment's status saved over the status it was read with, one
review per assignment, the first close of a challenge); `tests/integration/test_peer_review_repositories.py`
runs one contract over both, so a fake that drifts from MongoDB fails there. Events a write carries are
recorded in `EventLog` at the moment the write succeeds, as the store dispatches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from services.peer_review.domain.allocation import Person
from services.peer_review.domain.reviews import (
    Assignment,
    AssignmentMode,
    AssignmentStatus,
    Review,
    Target,
    TargetStatus,
    target_key,
)
from services.peer_review.usecases.context import Context, ReviewPolicy
from shared.contracts.events import Event
from shared.contracts.vocabulary import TargetKind
from tests.fakes.challenges import EventLog


def _as_stored(target: Target) -> Target:
    # MongoDB keeps no empty details: it stores None for them, and reads None back.
    return replace(target, details=dict(target.details) if target.details else None)


class FakeTargets:
    """Targets by key (kind and id)."""

    def __init__(self, log: EventLog) -> None:
        self.items: dict[str, Target] = {}
        self.log = log

    def add(self, target: Target) -> bool:
        """Insert a target unless one with its key exists; return whether it was new."""
        if target.key in self.items:
            return False
        self.items[target.key] = _as_stored(target)
        return True

    def get(self, kind: str, target_id: str) -> Target | None:
        """Return the target or None."""
        return self.items.get(target_key(kind, target_id))

    def save(self, target: Target, expected_sequence: int, events: Sequence[Event] = ()) -> bool:
        """Save a changed target with its events if nobody saved it since `expected_sequence`."""
        stored = self.items.get(target.key)
        if stored is None or stored.sequence != expected_sequence:
            return False
        # A save never moves the creation time, as the MongoDB save leaves it out.
        self.items[target.key] = _as_stored(replace(target, created_at=stored.created_at))
        self.log.record(events)
        return True

    def of_challenge(self, challenge_id: str) -> list[Target]:
        """Return a challenge's targets, oldest first."""
        found = [target for target in self.items.values() if target.challenge_id == challenge_id]
        return sorted(found, key=lambda target: (target.created_at, target.key))

    def open_targets(self, *, kind: str | None, challenge_id: str | None, limit: int, offset: int = 0) -> list[Target]:
        """Return a page of open targets, oldest first."""
        found = [
            target
            for target in self.items.values()
            if target.status == TargetStatus.OPEN
            and (kind is None or target.kind == kind)
            and (challenge_id is None or target.challenge_id == challenge_id)
        ]
        return sorted(found, key=lambda target: (target.created_at, target.key))[offset : offset + limit]


class FakeAssignments:
    """Assignments by id, with the origin each was made for; a (target, reviewer) pair is stored once, ever."""

    def __init__(self, log: EventLog) -> None:
        self.items: dict[str, Assignment] = {}
        self.origins: dict[str, str] = {}
        self.log = log

    def add_many(self, assignments: Sequence[tuple[Assignment, Sequence[Event]]], *, origin: str) -> list[str]:
        """Insert assignments with their events, skipping pairs that exist already; return the ids inserted."""
        taken = {(assignment.target_key, assignment.reviewer_id) for assignment in self.items.values()}
        inserted: list[str] = []
        for assignment, events in assignments:
            pair = (assignment.target_key, assignment.reviewer_id)
            if pair in taken or assignment.id in self.items:
                continue
            taken.add(pair)
            self.items[assignment.id] = assignment
            self.origins[assignment.id] = origin
            inserted.append(assignment.id)
            self.log.record(events)
        return inserted

    def get(self, assignment_id: str) -> Assignment | None:
        """Return the assignment or None."""
        return self.items.get(assignment_id)

    def save(self, assignment: Assignment, expected_status: AssignmentStatus, events: Sequence[Event] = ()) -> bool:
        """Store the assignment's new status (its end and review with it) if it still has `expected_status`."""
        stored = self.items.get(assignment.id)
        if stored is None or stored.status != expected_status:
            return False
        # Only the life cycle is written, as in MongoDB: who reviews what never changes.
        self.items[assignment.id] = replace(
            stored, status=assignment.status, ended_at=assignment.ended_at, review_id=assignment.review_id
        )
        self.log.record(events)
        return True

    def _oldest_first(self, found: list[Assignment]) -> list[Assignment]:
        return sorted(found, key=lambda assignment: (assignment.created_at, assignment.id))

    def of_target(self, kind: str, target_id: str) -> list[Assignment]:
        """Return every assignment ever made on the target, oldest first."""
        key = target_key(kind, target_id)
        return self._oldest_first([a for a in self.items.values() if a.target_key == key])

    def of_targets(self, keys: Sequence[str]) -> list[Assignment]:
        """Return every assignment on these targets."""
        wanted = set(keys)
        return self._oldest_first([a for a in self.items.values() if a.target_key in wanted])

    def of_challenge(self, challenge_id: str) -> list[Assignment]:
        """Return every assignment of a challenge, oldest first."""
        return self._oldest_first([a for a in self.items.values() if a.challenge_id == challenge_id])

    def of_reviewer(
        self,
        reviewer_id: str,
        *,
        statuses: Sequence[AssignmentStatus] | None,
        kind: str | None,
        challenge_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Assignment], int]:
        """Return a page of a reviewer's assignments, newest first, and how many match in all."""
        found = [
            assignment
            for assignment in self.items.values()
            if assignment.reviewer_id == reviewer_id
            and (statuses is None or assignment.status in statuses)
            and (kind is None or assignment.kind == kind)
            and (challenge_id is None or assignment.challenge_id == challenge_id)
        ]
        found.sort(key=lambda assignment: (assignment.created_at, assignment.id), reverse=True)
        return found[offset : offset + limit], len(found)

    def count_made_for(self, reviewer_id: str, challenge_id: str, origin: str) -> int:
        """Return how many assignments of this origin a reviewer was ever given in a challenge."""
        return sum(
            1
            for assignment in self.items.values()
            if (assignment.reviewer_id, assignment.challenge_id, self.origins[assignment.id])
            == (reviewer_id, challenge_id, origin)
        )

    def lapsed_claims(self, now: datetime, limit: int) -> list[Assignment]:
        """Return claims from the queue still open past their due time, oldest due first."""
        found = [
            assignment
            for assignment in self.items.values()
            if assignment.status == AssignmentStatus.ASSIGNED
            and assignment.mode == AssignmentMode.PULL
            and assignment.due_at <= now
        ]
        return sorted(found, key=lambda assignment: (assignment.due_at, assignment.id))[:limit]


class FakeReviews:
    """Reviews by id; an assignment has one."""

    def __init__(self, log: EventLog) -> None:
        self.items: dict[str, Review] = {}
        self.log = log

    def add(self, review: Review, events: Sequence[Event] = ()) -> Review:
        """Insert a review with its events; if its assignment has one already, return that one instead."""
        existing = self.of_assignment(review.assignment_id)
        if existing is not None:
            return existing
        if review.id in self.items:
            raise DuplicateKeyError(f"review {review.id} exists")
        self.items[review.id] = review
        self.log.record(events)
        return review

    def get(self, review_id: str) -> Review | None:
        """Return the review or None."""
        return self.items.get(review_id)

    def of_assignment(self, assignment_id: str) -> Review | None:
        """Return the assignment's review, if given."""
        return next((review for review in self.items.values() if review.assignment_id == assignment_id), None)

    def of_target(self, kind: str, target_id: str) -> list[Review]:
        """Return a target's reviews in the order they came."""
        key = target_key(kind, target_id)
        found = [review for review in self.items.values() if review.target_key == key]
        return sorted(found, key=lambda review: (review.submitted_at, review.id))

    def of_reviewer(self, reviewer_id: str, limit: int = 500) -> list[Review]:
        """Return a reviewer's most recent reviews, newest first."""
        found = [review for review in self.items.values() if review.reviewer_id == reviewer_id]
        return sorted(found, key=lambda review: (review.submitted_at, review.id), reverse=True)[:limit]

    def graded_history(self, limit: int) -> list[Review]:
        """Return the most recent scored reviews of graded targets (those with an accuracy)."""
        found = [review for review in self.items.values() if review.accuracy is not None and review.scores is not None]
        return sorted(found, key=lambda review: (review.submitted_at, review.id), reverse=True)[:limit]

    def reviewed_targets_since(self, since: datetime) -> list[tuple[TargetKind, str]]:
        """Return the targets reviewed since a moment (kind and id, each once), oldest review first."""
        found = sorted(
            (review for review in self.items.values() if review.submitted_at >= since),
            key=lambda review: (review.submitted_at, review.id),
        )
        return list(dict.fromkeys((review.kind, review.target_id) for review in found))

    def save(self, review: Review, events: Sequence[Event] = ()) -> bool:
        """Store a review's new content, rating or accuracy with its events; return whether it exists."""
        if review.id not in self.items:
            return False
        self.items[review.id] = review
        self.log.record(events)
        return True

    def record_accuracy(self, accuracy: Mapping[str, float]) -> None:
        """Store how close each review came to its target's consensus (unknown reviews are skipped)."""
        for review_id, value in accuracy.items():
            stored = self.items.get(review_id)
            if stored is not None:
                self.items[review_id] = replace(stored, accuracy=value)


@dataclass
class _Seen:
    cohorts: frozenset[str]
    tags: set[str]
    last_active_at: datetime


class FakePeople:
    """People seen in peer review: their latest cohorts, every tag they were active in, when last active."""

    def __init__(self) -> None:
        self.items: dict[str, _Seen] = {}

    def note_active(self, user_id: str, cohorts: Sequence[str], tags: Sequence[str], now: datetime) -> None:
        """Record that a person took part now, in these cohorts and tags."""
        seen = self.items.get(user_id)
        if seen is None:
            self.items[user_id] = _Seen(frozenset(cohorts), set(tags), now)
            return
        seen.cohorts = frozenset(cohorts)
        seen.tags.update(tags)
        seen.last_active_at = now

    def active_in(self, tags: Sequence[str], *, limit: int) -> list[Person]:
        """Return people active in any of these tags, most recently active first."""
        wanted = set(tags)
        found = [(user_id, seen) for user_id, seen in self.items.items() if seen.tags & wanted]
        found.sort(key=lambda item: item[1].last_active_at, reverse=True)
        return [Person(user_id, seen.cohorts) for user_id, seen in found[:limit]]

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Return the cohorts last seen for these people."""
        return {user_id: self.items[user_id].cohorts for user_id in user_ids if user_id in self.items}


@dataclass
class _Known:
    owner_id: str
    cohorts: tuple[str, ...] = ()
    closed_at: datetime | None = None


class FakeKnownChallenges:
    """Challenges as peer review knows them: their teacher, audience and the close of their submissions."""

    def __init__(self) -> None:
        self.items: dict[str, _Known] = {}

    def note(self, challenge_id: str, owner_id: str, cohorts: Sequence[str] = ()) -> None:
        """Record a challenge, its teacher and its audience (no cohorts: everyone)."""
        known = self.items.setdefault(challenge_id, _Known(owner_id))
        known.owner_id = owner_id
        known.cohorts = tuple(cohorts)

    def close(self, challenge_id: str, owner_id: str, closed_at: datetime) -> None:
        """Record that a challenge's submissions closed; the earliest close stands, as MongoDB's `$min`."""
        known = self.items.setdefault(challenge_id, _Known(owner_id))
        known.owner_id = owner_id
        known.closed_at = closed_at if known.closed_at is None else min(known.closed_at, closed_at)

    def closed_at(self, challenge_id: str) -> datetime | None:
        """Return when the challenge's submissions closed, if they did."""
        known = self.items.get(challenge_id)
        return known.closed_at if known else None

    def owner_of(self, challenge_id: str) -> str | None:
        """Return the challenge's teacher, if known."""
        known = self.items.get(challenge_id)
        return known.owner_id if known else None

    def cohorts_of(self, challenge_id: str) -> tuple[str, ...] | None:
        """Return the challenge's audience (empty: everyone), or None if the challenge is unknown."""
        known = self.items.get(challenge_id)
        return known.cohorts if known else None


@dataclass
class FakePeerReview:
    """The peer-review service's storage in memory, the events its writes dispatched, and a settable clock."""

    now: datetime
    log: EventLog = field(default_factory=EventLog)

    def __post_init__(self) -> None:
        self.targets = FakeTargets(self.log)
        self.assignments = FakeAssignments(self.log)
        self.reviews = FakeReviews(self.log)
        self.people = FakePeople()
        self.challenges = FakeKnownChallenges()

    def context(self, policy: ReviewPolicy | None = None, request_id: str | None = None) -> Context:
        """Return a use-case context over the fakes, its clock reading `now` at each call."""
        return Context(
            producer="peer_review",
            clock=lambda: self.now,
            request_id=lambda: request_id,
            targets=self.targets,
            assignments=self.assignments,
            reviews=self.reviews,
            people=self.people,
            challenges=self.challenges,
            policy=policy or ReviewPolicy(),
        )
