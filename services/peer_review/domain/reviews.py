"""Pure rules of peer review's objects: targets under review, assignments, reviews, and who sees what."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.peer_review.domain.consensus import Criterion
from shared.contracts.vocabulary import TargetKind, Verdict
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound

# How long a comment must be, unless the deployment says otherwise (REVIEW_COMMENT_MIN_LENGTH).
COMMENT_MIN_LENGTH = 20
COMMENT_MAX_LENGTH = 5_000
# A knowledge update is verified by this many peers; the majority decides, a tie goes to a teacher.
VERIFIERS_PER_REVISION = 2
# What a challenge without a rubric is reviewed against: one overall judgement.
DEFAULT_RUBRIC = (Criterion("Overall", 5),)


class TargetStatus(StrEnum):
    """Where a target is in review."""

    OPEN = "open"
    GRADED = "graded"
    # Verifiers split evenly on a revision: a teacher decides.
    TIED = "tied"
    # The revision was decided (by its verifiers, or by its resource's owner or a teacher).
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"


class AssignmentStatus(StrEnum):
    """Where an assignment is."""

    ASSIGNED = "assigned"
    SUBMITTED = "submitted"
    DECLINED = "declined"
    EXPIRED = "expired"
    # Taken back: a teacher reassigned it, or its target left review.
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (AssignmentStatus.ASSIGNED, AssignmentStatus.SUBMITTED)


class AssignmentMode(StrEnum):
    """How an assignment came about."""

    # Peer review chose the reviewer (give-to-get, allocation, a replacement).
    PUSH = "push"
    # The reviewer claimed it from the queue; the claim lapses at its due time.
    PULL = "pull"


@dataclass(frozen=True)
class ReviewRules:
    """How a target is reviewed: by how many, how soon, blind or not, and against which rubric."""

    reviewers: int = 3
    due_hours: int = 72
    blind: bool = True
    rubric: tuple[Criterion, ...] = ()


@dataclass(frozen=True)
class Grade:
    """A target's grade: the consensus of its reviews, or a teacher's binding override."""

    grade: float
    scores: Mapping[str, float]
    graded_at: datetime
    aggregator: str
    overridden_by: str | None = None
    # A teacher who closed review early: graded on the reviews that had come in.
    closed_by: str | None = None


@dataclass(frozen=True)
class Target:
    """Something under peer review: a learner's submission, or a proposed revision of a resource."""

    kind: TargetKind
    target_id: str
    author_id: str
    created_at: datetime
    rules: ReviewRules
    challenge_id: str | None = None
    # The challenge's teacher, who may allocate, reassign and override (submissions only).
    owner_id: str | None = None
    author_cohorts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    points: int = 0
    # The challenge's own points for rules of the leaderboards, repeated on the events of its reviews.
    rule_points: tuple[tuple[str, int], ...] = ()
    status: TargetStatus = TargetStatus.OPEN
    # The submission version last submitted (or the revision's base version).
    version: int = 1
    grade: Grade | None = None
    # Revisions: the resource and what the proposal changes, shown to verifiers.
    resource_id: str | None = None
    details: Mapping[str, object] | None = None
    # Counts saved changes; a save succeeds only against the sequence it was read at.
    sequence: int = 1
    # Review rounds: a graded or withdrawn submission that comes back as a new version is reviewed afresh;
    # only the assignments and reviews of the current round count.
    round: int = 1

    @property
    def key(self) -> str:
        """Return the target's key: kind and id, unique among all targets."""
        return target_key(self.kind, self.target_id)

    @property
    def open(self) -> bool:
        """Return whether the target still takes reviews."""
        return self.status == TargetStatus.OPEN


def target_key(kind: str, target_id: str) -> str:
    """Return the key of a target of this kind and id."""
    return f"{kind}:{target_id}"


@dataclass(frozen=True)
class Assignment:
    """One reviewer asked to review one target (never twice the same pair)."""

    id: str
    kind: TargetKind
    target_id: str
    reviewer_id: str
    author_id: str
    created_at: datetime
    due_at: datetime
    challenge_id: str | None = None
    reviewer_cohorts: tuple[str, ...] = ()
    mode: AssignmentMode = AssignmentMode.PUSH
    status: AssignmentStatus = AssignmentStatus.ASSIGNED
    ended_at: datetime | None = None
    review_id: str | None = None
    # The target's review round it was made in.
    round: int = 1

    @property
    def target_key(self) -> str:
        """Return the key of the assignment's target."""
        return target_key(self.kind, self.target_id)

    @property
    def active(self) -> bool:
        """Return whether the assignment still counts: open, or reviewed."""
        return self.status in ACTIVE_STATUSES

    def late(self, now: datetime) -> bool:
        """Return whether a review given at `now` is late."""
        return now > self.due_at


@dataclass(frozen=True)
class Review:
    """A reviewer's review of a target: scores per rubric criterion (submissions) or a verdict (revisions)."""

    id: str
    assignment_id: str
    kind: TargetKind
    target_id: str
    reviewer_id: str
    author_id: str
    comment: str
    submitted_at: datetime
    late: bool
    outside_cohorts: bool
    scores: Mapping[str, int] | None = None
    verdict: Verdict | None = None
    challenge_id: str | None = None
    edited_at: datetime | None = None
    helpfulness: int | None = None
    rated_at: datetime | None = None
    # Filled once the target is graded: how close the review came to the consensus (0 to 1).
    accuracy: float | None = None
    # The rubric's highest total, so the review's normalised score is known without its target.
    rubric_total: int = 0
    # The target's review round it belongs to.
    round: int = 1

    @property
    def normalised_score(self) -> float | None:
        """Return the review's total over the rubric's total (0 to 1), or None for a verdict."""
        if self.scores is None or self.rubric_total <= 0:
            return None
        return sum(self.scores.values()) / self.rubric_total

    @property
    def target_key(self) -> str:
        """Return the key of the reviewed target."""
        return target_key(self.kind, self.target_id)


def due_at(rules: ReviewRules, now: datetime) -> datetime:
    """Return when a review asked for at `now` is due."""
    return now + timedelta(hours=rules.due_hours)


def reviewers_needed(target: Target, active_count: int) -> int:
    """Return how many more reviewers a target needs, given how many are on it."""
    if not target.open:
        return 0
    wanted = VERIFIERS_PER_REVISION if target.kind == TargetKind.REVISION else target.rules.reviewers
    return max(0, wanted - active_count)


def reviews_wanted(target: Target) -> int:
    """Return how many reviews complete a target."""
    return VERIFIERS_PER_REVISION if target.kind == TargetKind.REVISION else target.rules.reviewers


# ---------------------------------------------------------------------------------------------------------------
# Reviewing


def check_assignee(assignment: Assignment, user_id: str) -> None:
    """Refuse anyone but the assignee (404: others may not know the assignment exists)."""
    if assignment.reviewer_id != user_id:
        raise NotFound(f"No assignment with id {assignment.id}")


def check_comment(comment: str, minimum: int) -> str:
    """Return the comment stripped, refusing one shorter than `minimum` characters."""
    text = comment.strip()
    if len(text) < minimum:
        raise InvalidField(
            "comment", f"Say at least {minimum} characters about the work: what is good, what to improve"
        )
    return text


def review_of(
    assignment: Assignment,
    target: Target,
    *,
    review_id: str,
    reviewer_id: str,
    scores: Mapping[str, int] | None,
    verdict: Verdict | None,
    comment: str,
    comment_min_length: int,
    outside_cohorts: bool,
    now: datetime,
) -> Review:
    """Return the assignee's review of an open target: every criterion scored, or a verdict on a revision."""
    check_assignee(assignment, reviewer_id)
    if assignment.status == AssignmentStatus.SUBMITTED:
        raise InvalidState(
            "You reviewed this already: edit your review with PUT /reviews/{id}", existing_id=assignment.review_id
        )
    if not assignment.active:
        raise InvalidState(f"This assignment was {assignment.status.value}; it takes no review")
    if not target.open:
        raise InvalidState(f"This {target.kind.value} is {target.status.value}; it takes no more reviews")
    if assignment.round != target.round:
        raise InvalidState("This assignment was for an earlier version; the new version is reviewed afresh")
    checked_scores, checked_verdict = _checked_content(target, scores, verdict)
    return Review(
        id=review_id,
        assignment_id=assignment.id,
        kind=target.kind,
        target_id=target.target_id,
        reviewer_id=reviewer_id,
        author_id=target.author_id,
        challenge_id=target.challenge_id,
        comment=check_comment(comment, comment_min_length),
        scores=checked_scores,
        verdict=checked_verdict,
        submitted_at=now,
        late=assignment.late(now),
        outside_cohorts=outside_cohorts,
        rubric_total=sum(criterion.max_score for criterion in target.rules.rubric),
        round=target.round,
    )


def _checked_content(
    target: Target, scores: Mapping[str, int] | None, verdict: Verdict | None
) -> tuple[Mapping[str, int] | None, Verdict | None]:
    if target.kind == TargetKind.REVISION:
        if verdict is None:
            raise InvalidField("verdict", "Say whether the update is right: approve or reject")
        if scores:
            raise InvalidField("scores", "A knowledge update takes a verdict, not scores")
        return None, verdict
    if verdict is not None:
        raise InvalidField("verdict", "A submission takes scores for its rubric, not a verdict")
    given = dict(scores or {})
    rubric = {criterion.criterion: criterion.max_score for criterion in target.rules.rubric}
    missing = sorted(set(rubric) - set(given))
    if missing:
        raise InvalidField("scores", f"Score every criterion of the rubric; missing: {', '.join(missing)}")
    unknown = sorted(set(given) - set(rubric))
    if unknown:
        raise InvalidField("scores", f"The rubric has no criterion {', '.join(unknown)}")
    for name, score in given.items():
        if not 0 <= score <= rubric[name]:
            raise InvalidField("scores", f"{name} is scored 0 to {rubric[name]}, not {score}")
    return given, None


def edit_review(
    review: Review,
    target: Target,
    *,
    reviewer_id: str,
    scores: Mapping[str, int] | None,
    verdict: Verdict | None,
    comment: str,
    comment_min_length: int,
    now: datetime,
) -> Review:
    """Return the review with new content; only its reviewer, and only until the target is graded or decided."""
    if review.reviewer_id != reviewer_id:
        raise NotFound(f"No review with id {review.id}")
    if not target.open:
        raise InvalidState(f"This {target.kind.value} is {target.status.value}; its reviews can no longer change")
    checked_scores, checked_verdict = _checked_content(target, scores, verdict)
    return replace(
        review,
        scores=checked_scores,
        verdict=checked_verdict,
        comment=check_comment(comment, comment_min_length),
        edited_at=now,
    )


def rate_review(review: Review, *, rater_id: str, helpfulness: int, now: datetime) -> Review:
    """Return the review rated by the target's author (1 to 5, once)."""
    if review.author_id != rater_id:
        raise Forbidden("Only the author of the reviewed work rates its reviews")
    if review.helpfulness is not None:
        raise InvalidState("You rated this review already")
    if not 1 <= helpfulness <= 5:
        raise InvalidField("helpfulness", "Rate from 1 (not helpful) to 5 (very helpful)")
    return replace(review, helpfulness=helpfulness, rated_at=now)


# ---------------------------------------------------------------------------------------------------------------
# Who sees what


class Viewer(StrEnum):
    """How a caller relates to a target."""

    AUTHOR = "author"
    REVIEWER = "reviewer"
    STAFF = "staff"
    NONE = "none"


def viewer_of(
    target: Target, user_id: str, *, reviewing: bool, is_teacher: bool, is_admin: bool, is_service: bool
) -> Viewer:
    """Return how the caller relates to the target.

    Its author; staff (admins, services, the challenge's teacher, and for a revision any teacher, who may
    break a tie); for a revision, the resource's owner sees it as its author does; one of its current
    reviewers (`reviewing`); or nobody it exists for.
    """
    revision = target.kind == TargetKind.REVISION
    if user_id == target.author_id or (revision and user_id == target.owner_id and not is_teacher):
        return Viewer.AUTHOR
    if is_admin or is_service or (is_teacher and (revision or target.owner_id in (None, user_id))):
        return Viewer.STAFF
    return Viewer.REVIEWER if reviewing else Viewer.NONE


def aliases(reviews: Sequence[Review]) -> dict[str, str]:
    """Return each reviewer's alias on one target ("Reviewer 1", ...), in the order they reviewed."""
    ordered = sorted(reviews, key=lambda review: (review.submitted_at, review.id))
    return {review.reviewer_id: f"Reviewer {index}" for index, review in enumerate(ordered, start=1)}


def shows_reviewers(viewer: Viewer) -> bool:
    """Return whether this viewer may see who reviewed (only staff: authors and peers see aliases)."""
    return viewer == Viewer.STAFF


def shows_author(viewer: Viewer, target: Target) -> bool:
    """Return whether this viewer may see the target's author (not a reviewer while review is blind)."""
    return viewer != Viewer.REVIEWER or not target.rules.blind


# ---------------------------------------------------------------------------------------------------------------
# Verifying knowledge updates


@dataclass(frozen=True)
class VerificationOutcome:
    """What the verifiers of a revision decided: a verdict, or a tie for a teacher to break."""

    verdict: Verdict | None
    agreeing: tuple[str, ...]
    dissenting: tuple[str, ...]
    reasons: tuple[str, ...]


def verification_outcome(reviews: Sequence[Review]) -> VerificationOutcome | None:
    """Return the majority verdict of a revision's verifiers once they are all in; None while any is missing."""
    verdicts = [review for review in reviews if review.verdict is not None]
    if len(verdicts) < VERIFIERS_PER_REVISION:
        return None
    approving = [review for review in verdicts if review.verdict == Verdict.APPROVE]
    rejecting = [review for review in verdicts if review.verdict == Verdict.REJECT]
    if len(approving) == len(rejecting):
        return VerificationOutcome(None, (), (), tuple(f"{r.verdict}: {r.comment}" for r in verdicts))
    winners, losers = (approving, rejecting) if len(approving) > len(rejecting) else (rejecting, approving)
    return VerificationOutcome(
        verdict=winners[0].verdict,
        agreeing=tuple(review.reviewer_id for review in winners),
        dissenting=tuple(review.reviewer_id for review in losers),
        reasons=tuple(f"{review.verdict}: {review.comment}" for review in winners),
    )
