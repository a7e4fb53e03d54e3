"""What every use case of the challenges service needs, and the storage it expects (as protocols).

The protocols are what the use cases rely on; `services.challenges.repository` implements them over
MongoDB, and the unit tests' in-memory fakes implement them over dictionaries. A write that announces
something takes its events: the repository stores them with the change and dispatches them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.challenges.domain.challenges import Challenge, ChallengeQuery
from services.challenges.domain.resources import Flag, FreshnessPolicy, Resource, ResourceQuery
from services.challenges.domain.revisions import Revision, RevisionStatus
from services.challenges.domain.submissions import Submission, SubmissionQuery, SubmissionVersion
from shared.contracts.events import Event
from shared.usecase import UseCaseContext


class ChallengeRepository(Protocol):
    """Teachers' challenges; a save succeeds only against the version it was read at."""

    def add(self, challenge: Challenge, events: Sequence[Event] = ()) -> None: ...

    def get(self, challenge_id: str) -> Challenge | None: ...

    def get_many(self, challenge_ids: Sequence[str]) -> dict[str, Challenge]: ...

    def save(self, challenge: Challenge, expected_version: int, events: Sequence[Event] = ()) -> bool: ...

    def due_to_close(self, now: datetime, limit: int) -> list[Challenge]: ...

    def search(self, query: ChallengeQuery, *, limit: int, offset: int) -> tuple[list[Challenge], int]: ...


class SubmissionRepository(Protocol):
    """Learners' submissions: one per learner and challenge, every version kept."""

    def add(self, submission: Submission, events: Sequence[Event] = ()) -> None:
        """Insert a first submission; raise DuplicateSubmission naming the learner's existing one."""
        ...

    def get(self, submission_id: str) -> Submission | None: ...

    def find_by_author(self, challenge_id: str, author_id: str) -> Submission | None: ...

    def versions(self, submission_id: str) -> list[SubmissionVersion]: ...

    def save(
        self, submission: Submission, *, expected_version: int, was_withdrawn: bool, events: Sequence[Event] = ()
    ) -> bool:
        """Save a changed submission if it is still at `expected_version` and as withdrawn as it was read."""
        ...

    def save_grade(self, before: Submission, after: Submission) -> bool:
        """Store `after`'s grade and status if the submission still holds `before`'s grade and status."""
        ...

    def submitted_challenges(self, author_id: str, challenge_ids: Sequence[str]) -> set[str]: ...

    def search(self, query: SubmissionQuery, *, limit: int, offset: int) -> tuple[list[Submission], int]: ...

    def add_reviewer(self, submission_id: str, reviewer_id: str) -> bool:
        """Let a reviewer read the submission unless their access was revoked; return whether it exists."""
        ...

    def remove_reviewer(self, submission_id: str, reviewer_id: str) -> bool:
        """Take a reviewer's read access away for good; return whether the submission exists."""
        ...


class ResourceRepository(Protocol):
    """The knowledge commons: one resource per canonical URL, its flags and decisions inside."""

    def add(self, resource: Resource, events: Sequence[Event] = ()) -> None:
        """Insert a resource; raise DuplicateResource naming the one that has its canonical URL."""
        ...

    def get(self, resource_id: str) -> Resource | None: ...

    def find_by_canonical_url(self, canonical_url: str) -> Resource | None: ...

    def endorse(self, resource_id: str, user_id: str, events: Sequence[Event]) -> int | None:
        """Add an endorsement by someone who is neither the owner nor an endorser yet; return the new count."""
        ...

    def has_endorsed(self, resource_id: str, user_id: str) -> bool: ...

    def add_flag(self, before: Resource, after: Resource, flag: Flag, events: Sequence[Event]) -> bool:
        """Store `after` (before with `flag` added) if the resource's flags are still those of `before`."""
        ...

    def record_decision(self, before: Resource, after: Resource, events: Sequence[Event]) -> bool:
        """Store `after`, `before` with one more decision recorded, if no decision on that revision exists yet.

        An acceptance (which changes the content) also needs the version and flags still as in `before`.
        Raise DuplicateResource when an accepted new URL's canonical form belongs to another resource.
        """
        ...

    def search(self, query: ResourceQuery, *, limit: int, offset: int) -> tuple[list[Resource], int]: ...


class RevisionRepository(Protocol):
    """Proposed revisions; a revision is marked decided once, from its resource's record."""

    def add(self, revision: Revision, events: Sequence[Event] = ()) -> None: ...

    def get(self, revision_id: str) -> Revision | None: ...

    def pending_of(self, resource_id: str, proposer_id: str) -> Revision | None: ...

    def of_resource(
        self, resource_id: str, *, status: RevisionStatus | None, limit: int, offset: int
    ) -> tuple[list[Revision], int]: ...

    def mark_decided(self, decided: Revision) -> bool:
        """Mark a pending revision as decided; return whether it was pending."""
        ...


@dataclass
class Context(UseCaseContext):
    """What the challenges use cases need: the service's repositories and its freshness policy."""

    challenges: ChallengeRepository = field(kw_only=True)
    submissions: SubmissionRepository = field(kw_only=True)
    resources: ResourceRepository = field(kw_only=True)
    revisions: RevisionRepository = field(kw_only=True)
    freshness: FreshnessPolicy = field(default_factory=FreshnessPolicy, kw_only=True)
