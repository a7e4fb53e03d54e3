"""In-memory repositories of the challenges service: the protocols of its use cases, over dictionaries.

Each fake keeps the domain objects as they would be stored and honours the same conditions as the MongoDB
repositories (versions, unique keys, pinned reads); `tests/integration/test_challenges_repositories.py`
runs one contract over both, so a fake that drifts from MongoDB fails there. Events a write carries are
recorded in `EventLog` at the moment the write succeeds, as the store dispatches them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from services.challenges.domain.challenges import Challenge, ChallengeQuery, ChallengeSort, ChallengeStatus
from services.challenges.domain.errors import DuplicateResource
from services.challenges.domain.resources import Flag, FreshnessPolicy, Resource, ResourceQuery, ResourceSort
from services.challenges.domain.revisions import Revision, RevisionStatus
from services.challenges.domain.submissions import (
    DuplicateSubmission,
    Submission,
    SubmissionQuery,
    SubmissionVersion,
)
from services.challenges.usecases.context import Context
from shared.contracts.events import Event

_NO_END = datetime(9999, 12, 31, tzinfo=UTC)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_Identified)


@dataclass
class EventLog:
    """The events the fakes' writes dispatched, in order."""

    events: list[Event] = field(default_factory=list)

    def record(self, events: Sequence[Event]) -> None:
        """Record events a write carried."""
        self.events.extend(events)

    def types(self) -> list[str]:
        """Return the types of the recorded events, oldest first."""
        return [str(event.type) for event in self.events]

    def of_type(self, event_type: str) -> list[Event]:
        """Return the recorded events of one type, oldest first."""
        return [event for event in self.events if event.type == event_type]


def _page(
    items: list[Any], key: Callable[[Any], Any], *, reverse: bool, limit: int, offset: int
) -> tuple[list[Any], int]:
    ordered = sorted(items, key=key, reverse=reverse)
    return ordered[offset : offset + limit], len(ordered)


class _ById(Generic[Item]):
    """Stored objects by id; an insert records the events it carries."""

    def __init__(self, log: EventLog) -> None:
        self.items: dict[str, Item] = {}
        self.log = log

    def add(self, item: Item, events: Sequence[Event] = ()) -> None:
        self.items[item.id] = item
        self.log.record(events)

    def get(self, item_id: str) -> Item | None:
        return self.items.get(item_id)


class FakeChallenges(_ById[Challenge]):
    """Challenges by id."""

    def get_many(self, challenge_ids: Sequence[str]) -> dict[str, Challenge]:
        return {identifier: self.items[identifier] for identifier in challenge_ids if identifier in self.items}

    def save(self, challenge: Challenge, expected_version: int, events: Sequence[Event] = ()) -> bool:
        stored = self.items.get(challenge.id)
        if stored is None or stored.version != expected_version:
            return False
        self.items[challenge.id] = replace(challenge, open_now=None)
        self.log.record(events)
        return True

    def due_to_close(self, now: datetime, limit: int) -> list[Challenge]:
        due = [
            challenge
            for challenge in self.items.values()
            if challenge.status == ChallengeStatus.PUBLISHED
            and challenge.ends_at is not None
            and challenge.ends_at <= now
        ]
        return sorted(due, key=lambda challenge: (challenge.ends_at, challenge.id))[:limit]

    def search(self, query: ChallengeQuery, *, limit: int, offset: int) -> tuple[list[Challenge], int]:
        matching = [challenge for challenge in self.items.values() if _matches_challenge(query, challenge)]
        sorts: dict[ChallengeSort, tuple[Callable[[Challenge], Any], bool]] = {
            ChallengeSort.NEWEST: (lambda c: (c.created_at, c.id), True),
            ChallengeSort.OLDEST: (lambda c: (c.created_at, c.id), False),
            ChallengeSort.ENDING_SOONEST: (lambda c: (c.ends_at or _NO_END, c.id), False),
            ChallengeSort.ENDING_LATEST: (lambda c: (c.ends_at or _NO_END, c.id), True),
            ChallengeSort.TITLE: (lambda c: (c.title, c.id), False),
        }
        key, reverse = sorts[query.sort]
        return _page(matching, key, reverse=reverse, limit=limit, offset=offset)


def _matches_challenge(query: ChallengeQuery, challenge: Challenge) -> bool:
    now = query.now
    checks = [
        query.statuses is None or challenge.status_at(now) in query.statuses,
        query.tag is None or query.tag in challenge.tags,
        query.kind is None or challenge.kind == query.kind,
        query.owner_id is None or challenge.owner_id == query.owner_id,
        query.cohort is None or not challenge.cohorts or query.cohort in challenge.cohorts,
        query.open_to_cohorts is None or challenge.is_open_to(query.open_to_cohorts),
        query.open_now is None or challenge.is_open(now) == query.open_now,
    ]
    return all(checks)


class FakeSubmissions:
    """Submissions by id, with every version kept."""

    def __init__(self, log: EventLog) -> None:
        self.items: dict[str, Submission] = {}
        self.kept: dict[str, list[SubmissionVersion]] = {}
        self.revoked: dict[str, set[str]] = defaultdict(set)
        self.log = log

    def add(self, submission: Submission, events: Sequence[Event] = ()) -> None:
        existing = self.find_by_author(submission.challenge_id, submission.author_id)
        if existing is not None:
            raise DuplicateSubmission(existing.id)
        self.items[submission.id] = submission
        self.kept[submission.id] = [submission.current_version]
        self.log.record(events)

    def get(self, submission_id: str) -> Submission | None:
        return self.items.get(submission_id)

    def find_by_author(self, challenge_id: str, author_id: str) -> Submission | None:
        return next(
            (s for s in self.items.values() if (s.challenge_id, s.author_id) == (challenge_id, author_id)), None
        )

    def versions(self, submission_id: str) -> list[SubmissionVersion]:
        return list(self.kept.get(submission_id, ()))

    def save(
        self, submission: Submission, *, expected_version: int, was_withdrawn: bool, events: Sequence[Event] = ()
    ) -> bool:
        stored = self.items.get(submission.id)
        if stored is None or stored.version != expected_version or stored.withdrawn != was_withdrawn:
            return False
        # A save writes the work and its life cycle; grades and reviewers come only from their own events.
        self.items[submission.id] = replace(
            stored,
            content=submission.content,
            links=submission.links,
            version=submission.version,
            status=submission.status,
            submitted_at=submission.submitted_at,
            updated_at=submission.updated_at,
            withdrawn_at=submission.withdrawn_at,
        )
        if submission.version != expected_version:
            self.kept[submission.id].append(submission.current_version)
        self.log.record(events)
        return True

    def save_grade(self, before: Submission, after: Submission) -> bool:
        stored = self.items.get(before.id)
        if stored is None or stored.status != before.status:
            return False
        held = stored.grade.event_id if stored.grade else None
        if held != (before.grade.event_id if before.grade else None):
            return False
        self.items[before.id] = replace(stored, grade=after.grade, status=after.status)
        return True

    def submitted_challenges(self, author_id: str, challenge_ids: Sequence[str]) -> set[str]:
        return {
            s.challenge_id
            for s in self.items.values()
            if s.author_id == author_id and s.challenge_id in challenge_ids and not s.withdrawn
        }

    def search(self, query: SubmissionQuery, *, limit: int, offset: int) -> tuple[list[Submission], int]:
        matching = [
            s
            for s in self.items.values()
            if (query.challenge_id is None or s.challenge_id == query.challenge_id)
            and (query.author_id is None or s.author_id == query.author_id)
            and (query.challenge_owner_id is None or s.challenge_owner_id == query.challenge_owner_id)
            and (query.status is None or s.status == query.status)
        ]
        return _page(matching, lambda s: (s.created_at, s.id), reverse=True, limit=limit, offset=offset)

    def add_reviewer(self, submission_id: str, reviewer_id: str) -> bool:
        stored = self.items.get(submission_id)
        if stored is None:
            return False
        if reviewer_id not in stored.reviewer_ids and reviewer_id not in self.revoked[submission_id]:
            self.items[submission_id] = replace(stored, reviewer_ids=(*stored.reviewer_ids, reviewer_id))
        return True

    def remove_reviewer(self, submission_id: str, reviewer_id: str) -> bool:
        stored = self.items.get(submission_id)
        if stored is None:
            return False
        self.revoked[submission_id].add(reviewer_id)
        remaining = tuple(user_id for user_id in stored.reviewer_ids if user_id != reviewer_id)
        self.items[submission_id] = replace(stored, reviewer_ids=remaining)
        return True


class FakeResources:
    """Resources by id; one per canonical URL; endorsers kept beside each."""

    def __init__(self, log: EventLog) -> None:
        self.items: dict[str, Resource] = {}
        self.endorsers: dict[str, list[str]] = {}
        self.log = log

    def _clashes(self, resource_id: str, canonical_url: str) -> Resource | None:
        return next((r for r in self.items.values() if r.canonical_url == canonical_url and r.id != resource_id), None)

    def add(self, resource: Resource, events: Sequence[Event] = ()) -> None:
        clash = self._clashes(resource.id, resource.canonical_url)
        if clash is not None:
            raise DuplicateResource(clash.id)
        self.items[resource.id] = resource
        self.endorsers[resource.id] = []
        self.log.record(events)

    def get(self, resource_id: str) -> Resource | None:
        stored = self.items.get(resource_id)
        return replace(stored, stale=False) if stored else None

    def find_by_canonical_url(self, canonical_url: str) -> Resource | None:
        return next((r for r in self.items.values() if r.canonical_url == canonical_url), None)

    def endorse(self, resource_id: str, user_id: str, events: Sequence[Event]) -> int | None:
        stored = self.items.get(resource_id)
        if stored is None or stored.owner_id == user_id or user_id in self.endorsers[resource_id]:
            return None
        self.endorsers[resource_id].append(user_id)
        self.items[resource_id] = replace(stored, endorsement_count=stored.endorsement_count + 1)
        self.log.record(events)
        return stored.endorsement_count + 1

    def has_endorsed(self, resource_id: str, user_id: str) -> bool:
        return user_id in self.endorsers.get(resource_id, ())

    def add_flag(self, before: Resource, after: Resource, flag: Flag, events: Sequence[Event]) -> bool:
        stored = self.items.get(before.id)
        if stored is None or len(stored.flags) != len(before.flags):
            return False
        self.items[before.id] = replace(stored, flags=(*stored.flags, flag))
        self.log.record(events)
        return True

    def record_decision(self, before: Resource, after: Resource, events: Sequence[Event]) -> bool:
        record = after.decisions[-1]
        stored = self.items.get(before.id)
        if stored is None or stored.decision_on(record.revision_id) is not None:
            return False
        if not record.accepted:
            self.items[before.id] = replace(stored, decisions=(*stored.decisions, record))
            self.log.record(events)
            return True
        if stored.version != before.version or len(stored.flags) != len(before.flags):
            return False
        clash = self._clashes(before.id, after.canonical_url)
        if clash is not None:
            raise DuplicateResource(clash.id)
        self.items[before.id] = replace(
            stored,
            title=after.title,
            summary=after.summary,
            url=after.url,
            canonical_url=after.canonical_url,
            version=after.version,
            updated_at=after.updated_at,
            last_verified_at=after.last_verified_at,
            review_by=after.review_by,
            flags=after.flags,
            decisions=(*stored.decisions, record),
        )
        self.log.record(events)
        return True

    def search(self, query: ResourceQuery, *, limit: int, offset: int) -> tuple[list[Resource], int]:
        matching = [r for r in self.items.values() if _matches_resource(query, r)]
        sorts: dict[ResourceSort, tuple[Callable[[Resource], Any], bool]] = {
            ResourceSort.NEWEST: (lambda r: (r.created_at, r.id), True),
            ResourceSort.FRESHNESS: (lambda r: (r.last_verified_at, r.id), True),
            ResourceSort.STALENESS: (lambda r: (r.review_by, r.id), False),
            ResourceSort.ENDORSEMENTS: (lambda r: (r.endorsement_count, r.created_at, r.id), True),
        }
        key, reverse = sorts[query.sort]
        return _page(matching, key, reverse=reverse, limit=limit, offset=offset)


def _matches_resource(query: ResourceQuery, resource: Resource) -> bool:
    text = (query.text or "").lower()
    checks = [
        query.tag is None or query.tag in resource.tags,
        query.owner_id is None or resource.owner_id == query.owner_id,
        query.challenge_id is None or resource.challenge_id == query.challenge_id,
        not text or text in resource.title.lower() or text in resource.summary.lower(),
        query.stale is None or (resource.review_by <= query.now) == query.stale,
        query.flagged is None or bool(resource.open_flags) == query.flagged,
        query.flag is None or query.flag in resource.open_flag_reasons,
    ]
    return all(checks)


class FakeRevisions(_ById[Revision]):
    """Proposed revisions by id."""

    def pending_of(self, resource_id: str, proposer_id: str) -> Revision | None:
        return next(
            (
                r
                for r in self.items.values()
                if (r.resource_id, r.proposer_id, r.status) == (resource_id, proposer_id, RevisionStatus.PENDING)
            ),
            None,
        )

    def of_resource(
        self, resource_id: str, *, status: RevisionStatus | None, limit: int, offset: int
    ) -> tuple[list[Revision], int]:
        matching = [
            r for r in self.items.values() if r.resource_id == resource_id and (status is None or r.status == status)
        ]
        return _page(matching, lambda r: (r.created_at, r.id), reverse=True, limit=limit, offset=offset)

    def mark_decided(self, decided: Revision) -> bool:
        stored = self.items.get(decided.id)
        if stored is None or stored.status != RevisionStatus.PENDING:
            return False
        self.items[decided.id] = replace(
            stored,
            status=decided.status,
            decided_at=decided.decided_at,
            decision=decided.decision,
            version=decided.version,
            resolved_flag_ids=decided.resolved_flag_ids,
        )
        return True


@dataclass
class FakeWorld:
    """The challenges service's storage in memory, the events its writes dispatched, and a settable clock."""

    now: datetime
    log: EventLog = field(default_factory=EventLog)
    freshness: FreshnessPolicy = field(default_factory=FreshnessPolicy)

    def __post_init__(self) -> None:
        self.challenges = FakeChallenges(self.log)
        self.submissions = FakeSubmissions(self.log)
        self.resources = FakeResources(self.log)
        self.revisions = FakeRevisions(self.log)

    def context(self, request_id: str | None = None) -> Context:
        """Return a use-case context over the fakes, its clock reading `now` at each call."""
        return Context(
            producer="challenges",
            clock=lambda: self.now,
            request_id=lambda: request_id,
            challenges=self.challenges,
            submissions=self.submissions,
            resources=self.resources,
            revisions=self.revisions,
            freshness=self.freshness,
        )
