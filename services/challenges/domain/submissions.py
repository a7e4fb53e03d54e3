"""Pure rules of learners' submissions: submitting, revising, withdrawing, and who sees what."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from services.challenges.domain.challenges import Challenge, ChallengeKind, check_accepting
from services.challenges.domain.errors import InvalidState

# A submission keeps every version; past this many, the learner has to make do with the last one.
MAX_VERSIONS = 50


class SubmissionStatus(StrEnum):
    """Where a submission is in its life."""

    SUBMITTED = "submitted"
    GRADED = "graded"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class SubmissionVersion:
    """One version of a submission's work, kept after it is revised."""

    version: int
    content: str
    links: tuple[str, ...]
    submitted_at: datetime


@dataclass(frozen=True)
class Grade:
    """The consensus grade peer review reached (or a teacher's override), from `target.graded`."""

    grade: float
    graded_at: datetime
    event_id: str
    scores: Mapping[str, float]
    feedback: str = ""
    review_count: int = 0
    overridden: bool = False
    # The version that was graded, when peer review said.
    version: int | None = None


@dataclass(frozen=True)
class Submission:
    """A learner's work for a challenge: one per learner and challenge, its current version inline."""

    id: str
    challenge_id: str
    author_id: str
    # Copied from the challenge when submitted; neither changes once the challenge is published.
    challenge_owner_id: str
    blind: bool
    content: str
    links: tuple[str, ...]
    created_at: datetime
    submitted_at: datetime
    updated_at: datetime
    version: int = 1
    status: SubmissionStatus = SubmissionStatus.SUBMITTED
    withdrawn_at: datetime | None = None
    reviewer_ids: tuple[str, ...] = ()
    grade: Grade | None = None

    @property
    def current_version(self) -> SubmissionVersion:
        """Return the current version of the work."""
        return SubmissionVersion(self.version, self.content, self.links, self.submitted_at)

    @property
    def withdrawn(self) -> bool:
        """Return whether the author withdrew the submission."""
        return self.status == SubmissionStatus.WITHDRAWN


class DuplicateSubmission(InvalidState):
    """The learner has a submission for this challenge already (one per learner and challenge)."""

    kind = "duplicate-submission"

    def __init__(self, existing_id: str) -> None:
        super().__init__(
            f"You have submitted to this challenge already: revise that submission with PUT /submissions/{existing_id}",
            existing_id=existing_id,
        )
        self.existing_id = existing_id


def check_open_for_submissions(challenge: Challenge, now: datetime) -> None:
    """Refuse submitting to a challenge that does not take submissions, or not right now."""
    if challenge.kind != ChallengeKind.SUBMISSION:
        raise InvalidState(f"This is a {challenge.kind} challenge; it does not take submissions")
    check_accepting(challenge, now)


def missing_prerequisites(prerequisites: Iterable[str], satisfied: Iterable[str]) -> list[str]:
    """Return the prerequisites (in their order) the learner has no standing submission for."""
    done = set(satisfied)
    return [challenge_id for challenge_id in prerequisites if challenge_id not in done]


def check_prerequisites(prerequisites: Iterable[str], satisfied: Iterable[str]) -> None:
    """Refuse taking part before submitting (and not withdrawing) to every prerequisite challenge."""
    missing = missing_prerequisites(prerequisites, satisfied)
    if missing:
        raise InvalidState(
            "Submit to the prerequisite challenges first: " + ", ".join(missing), missing_prerequisites=missing
        )


def submit(
    challenge: Challenge, *, submission_id: str, author_id: str, content: str, links: tuple[str, ...], now: datetime
) -> Submission:
    """Return a learner's first submission to an open submission challenge."""
    check_open_for_submissions(challenge, now)
    return Submission(
        id=submission_id,
        challenge_id=challenge.id,
        author_id=author_id,
        challenge_owner_id=challenge.owner_id,
        blind=challenge.review.blind,
        content=content,
        links=links,
        created_at=now,
        submitted_at=now,
        updated_at=now,
    )


def _next_version(submission: Submission, content: str, links: tuple[str, ...], now: datetime) -> Submission:
    if submission.version >= MAX_VERSIONS:
        raise InvalidState(f"A submission keeps at most {MAX_VERSIONS} versions", max_versions=MAX_VERSIONS)
    return replace(
        submission,
        content=content,
        links=links,
        version=submission.version + 1,
        status=SubmissionStatus.SUBMITTED,
        submitted_at=now,
        updated_at=now,
        withdrawn_at=None,
    )


def resubmit(
    submission: Submission, challenge: Challenge, content: str, links: tuple[str, ...], now: datetime
) -> Submission:
    """Submit a withdrawn submission again, as its next version."""
    if not submission.withdrawn:
        raise DuplicateSubmission(submission.id)
    check_open_for_submissions(challenge, now)
    return _next_version(submission, content, links, now)


def revise(
    submission: Submission, challenge: Challenge, content: str, links: tuple[str, ...], now: datetime
) -> Submission:
    """Return the submission's next version; only while the challenge is open and not withdrawn.

    A grade stays with the version it graded; the new version waits for review (`submitted`).
    """
    if submission.withdrawn:
        raise InvalidState("This submission was withdrawn: submit it again with POST")
    check_accepting(challenge, now)
    return _next_version(submission, content, links, now)


def withdraw(submission: Submission, challenge: Challenge, now: datetime) -> Submission:
    """Withdraw a submission before the challenge closes."""
    if submission.withdrawn:
        raise InvalidState("This submission is withdrawn already")
    check_accepting(challenge, now)
    return replace(submission, status=SubmissionStatus.WITHDRAWN, withdrawn_at=now, updated_at=now)


def supersedes(grade: Grade, held: Grade | None) -> bool:
    """Return whether a grade replaces the one a submission holds.

    The later grade wins (a teacher's override comes after the consensus), ties broken by event id, so a
    repeated or an older event changes nothing.
    """
    return held is None or (grade.graded_at, grade.event_id) > (held.graded_at, held.event_id)


def record_grade(submission: Submission, grade: Grade) -> Submission | None:
    """Return the submission holding the grade, or None when it holds this grade or a later one already.

    A withdrawn submission keeps the grade its reviewed version earned but stays withdrawn; any other
    becomes `graded`.
    """
    if not supersedes(grade, submission.grade):
        return None
    status = submission.status if submission.withdrawn else SubmissionStatus.GRADED
    return replace(submission, grade=grade, status=status)


class Access(StrEnum):
    """How much of a submission a caller may see."""

    # The learner who wrote it: everything.
    AUTHOR = "author"
    # The challenge's teacher, an admin, or another service: everything, read-only.
    STAFF = "staff"
    # A peer assigned to review it: the current version, without grade (and without author if blind).
    REVIEWER = "reviewer"
    NONE = "none"


def access_of(submission: Submission, user_id: str, *, is_admin: bool, is_service: bool) -> Access:
    """Return how much of the submission this caller may see."""
    if submission.author_id == user_id:
        return Access.AUTHOR
    if is_admin or is_service or submission.challenge_owner_id == user_id:
        return Access.STAFF
    if user_id in submission.reviewer_ids:
        return Access.REVIEWER
    return Access.NONE


def may_read_versions(access: Access) -> bool:
    """Return whether this caller may read past versions (reviewers see the current one only)."""
    return access in (Access.AUTHOR, Access.STAFF)


@dataclass(frozen=True)
class SubmissionView:
    """A submission as one caller sees it."""

    id: str
    challenge_id: str
    # None: the challenge's review is blind and the caller is a reviewer.
    author_id: str | None
    version: int
    status: SubmissionStatus
    content: str
    links: tuple[str, ...]
    created_at: datetime
    submitted_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    grade: Grade | None


def view_for(submission: Submission, access: Access) -> SubmissionView:
    """Return the submission as a caller with this access sees it."""
    if access == Access.NONE:
        raise ValueError("a caller without access sees nothing")
    reviewer = access == Access.REVIEWER
    return SubmissionView(
        id=submission.id,
        challenge_id=submission.challenge_id,
        author_id=None if reviewer and submission.blind else submission.author_id,
        version=submission.version,
        status=submission.status,
        content=submission.content,
        links=submission.links,
        created_at=submission.created_at,
        submitted_at=submission.submitted_at,
        updated_at=submission.updated_at,
        withdrawn_at=submission.withdrawn_at,
        grade=None if reviewer else submission.grade,
    )


@dataclass(frozen=True)
class SubmissionQuery:
    """Which submissions a listing shows (None: any)."""

    challenge_id: str | None = None
    author_id: str | None = None
    challenge_owner_id: str | None = None
    status: SubmissionStatus | None = None
