"""Use cases of reviews: reviewing, editing, rating; consensus and grades; verdicts on knowledge updates;
teachers' overrides; and what authors, reviewers and teachers see of a target's reviews."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog

from services.peer_review.domain import collusion, consensus
from services.peer_review.domain.allocation import Person, from_another_cohort
from services.peer_review.domain.consensus import Observation, ReviewerReliability, ScoredReview
from services.peer_review.domain.reviews import (
    Assignment,
    AssignmentStatus,
    Grade,
    Review,
    Target,
    TargetStatus,
    Viewer,
    aliases,
    edit_review,
    rate_review,
    review_of,
    reviews_wanted,
    verification_outcome,
    viewer_of,
)
from services.peer_review.usecases import assignments
from services.peer_review.usecases.context import Context
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import TargetKind, Verdict, rule_points_list
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound
from shared.faults import crash_point
from shared.ids import new_id

log = structlog.get_logger(__name__)

# A grade write pins the target as read; a review arriving meanwhile makes it read again.
GRADE_ATTEMPTS = 5
# How far back the grading timer looks for reviewed targets a crash left ungraded.
REPAIR_LOOKBACK = timedelta(days=2)
FEEDBACK_LENGTH = 2_000


def _target_of(assignment: Assignment | Review, context: Context) -> Target:
    target = context.targets.get(assignment.kind, assignment.target_id)
    if target is None:
        raise NotFound(f"No {assignment.kind.value} {assignment.target_id} is under review")
    return target


def _reciprocal(reviewer_id: str, target: Target, context: Context) -> bool:
    """Return whether the target's author reviews the reviewer's work in the same challenge."""
    if target.challenge_id is None:
        return False
    return any(
        assignment.reviewer_id == target.author_id and assignment.author_id == reviewer_id and assignment.active
        for assignment in context.assignments.of_challenge(target.challenge_id)
    )


def _review_event(
    event_type: EventType,
    review: Review,
    target: Target,
    context: Context,
    *,
    fact: Sequence[object] | None = None,
    **extra: Any,
) -> Event:
    reviewer_cohorts = context.people.cohorts_of([review.reviewer_id]).get(review.reviewer_id, frozenset())
    data = {
        "review_id": review.id,
        "assignment_id": review.assignment_id,
        "target_kind": review.kind.value,
        "target_id": review.target_id,
        "reviewer_id": review.reviewer_id,
        "author_id": review.author_id,
        "challenge_id": review.challenge_id,
        "tags": list(target.tags),
        "cohorts": sorted(reviewer_cohorts),
        "rule_points": rule_points_list(dict(target.rule_points)),
        **extra,
    }
    return context.event(event_type, None, data, context.clock(), fact=fact)


def submit_review(assignment_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context) -> Review:
    """Review an assigned target, on time or late; emits `review.submitted`, and grades the target once complete.

    A retried request (the review is stored already) answers with the stored review and finishes what the
    first one may not have: marking the assignment reviewed and grading the target.
    """
    assignment = context.assignments.get(assignment_id)
    if assignment is None or assignment.reviewer_id != actor.user_id:
        raise NotFound(f"No assignment with id {assignment_id}")
    existing = context.reviews.of_assignment(assignment.id)
    if existing is not None:
        _finish_review(assignment, existing, context)
        raise InvalidState(
            "You reviewed this already: edit your review with PUT /reviews/{id}", existing_id=existing.id
        )
    target = _target_of(assignment, context)
    now = context.clock()
    author = Person(target.author_id, frozenset(target.author_cohorts))
    reviewer = Person(actor.user_id, frozenset(assignment.reviewer_cohorts or actor.cohorts))
    verdict = fields.get("verdict")
    review = review_of(
        assignment,
        target,
        review_id=new_id(),
        reviewer_id=actor.user_id,
        scores=fields.get("scores"),
        verdict=Verdict(verdict) if verdict else None,
        comment=fields.get("comment", ""),
        comment_min_length=context.policy.comment_min_length,
        outside_cohorts=from_another_cohort(reviewer, author),
        now=now,
    )
    context.people.note_active(actor.user_id, sorted(reviewer.cohorts), target.tags, now)
    event = _review_event(
        EventType.REVIEW_SUBMITTED,
        review,
        target,
        context,
        late=review.late,
        outside_cohorts=review.outside_cohorts,
        reciprocal=_reciprocal(actor.user_id, target, context),
        verdict=review.verdict.value if review.verdict else None,
        author_cohorts=list(target.author_cohorts),
    )
    stored = context.reviews.add(review, [event])
    crash_point("reviews.submit.after_review_write")
    _finish_review(assignment, stored, context)
    return stored


def _finish_review(assignment: Assignment, review: Review, context: Context) -> None:
    """Mark the assignment reviewed (idempotent), then grade or decide its target if it is complete."""
    _mark_reviewed(review, context)
    conclude(_target_of(review, context), context)


def conclude(target: Target, context: Context) -> Target:
    """Grade a submission, or decide a revision, once it has the reviews it wants; return it as it stands."""
    for _attempt in range(GRADE_ATTEMPTS):
        if not target.open:
            return target
        reviews = current_reviews(target, context)
        if not reviews or len(reviews) < _reviews_expected(target, context):
            return target
        if target.kind == TargetKind.REVISION:
            concluded, events = _decide_revision(target, reviews, context)
        else:
            concluded, events = _grade_submission(target, reviews, context)
        if concluded is None:
            return target
        if context.targets.save(concluded, target.sequence, events):
            if target.kind == TargetKind.SUBMISSION and concluded.grade is not None:
                context.reviews.record_accuracy(_accuracy(concluded, reviews))
            # Assignments left open (a claim beyond those needed) end: their target takes no more reviews.
            assignments.cancel_on_target(concluded, "withdrawn", context)
            return concluded
        target = context.targets.get(target.kind, target.target_id) or target
    raise InvalidState("The target kept changing while it was graded; it will be graded on the next try")


def current_reviews(target: Target, context: Context) -> list[Review]:
    """Return the reviews of the target's current round, in the order they came."""
    return [
        review for review in context.reviews.of_target(target.kind, target.target_id) if review.round == target.round
    ]


def _reviews_expected(target: Target, context: Context) -> int:
    """Return how many reviews complete a target: as many as wanted, or once submissions have closed, as
    many as the class can give (a class smaller than the reviewers wanted plus one cannot give more)."""
    wanted = reviews_wanted(target)
    if target.kind != TargetKind.SUBMISSION or target.challenge_id is None:
        return wanted
    if context.challenges.closed_at(target.challenge_id) is None:
        return wanted
    on_target = context.assignments.of_target(target.kind, target.target_id)
    current = [assignment for assignment in on_target if assignment.active and assignment.round == target.round]
    refused = {assignment.reviewer_id for assignment in on_target if assignment not in current}
    peers = (
        {
            other.author_id
            for other in context.targets.of_challenge(target.challenge_id)
            if other.kind == TargetKind.SUBMISSION and other.status != TargetStatus.WITHDRAWN
        }
        - {target.author_id}
        - refused
    )
    return max(1, min(wanted, max(len(peers), len(current))))


def _consensus_of(target: Target, reviews: Sequence[Review], context: Context) -> consensus.Consensus:
    scored = [ScoredReview(review.id, review.reviewer_id, dict(review.scores or {})) for review in reviews]
    model = None
    if context.policy.aggregator == "reliability_weighted":
        model = consensus.fit_reviewer_model(_history(context))
    return consensus.consensus(context.policy.aggregator, scored, target.rules.rubric, model)


def _history(context: Context) -> list[Observation]:
    """Return what the reviewer model learns from: each graded review's normalised score against its target."""
    return [
        Observation(review.target_key, review.reviewer_id, score)
        for review in context.reviews.graded_history(context.policy.history_size)
        if review.accuracy is not None and (score := review.normalised_score) is not None
    ]


def _grade_submission(target: Target, reviews: Sequence[Review], context: Context) -> tuple[Target | None, list[Event]]:
    agreed = _consensus_of(target, reviews, context)
    now = context.clock()
    grade = Grade(grade=agreed.grade, scores=dict(agreed.scores), graded_at=now, aggregator=agreed.aggregator)
    graded = replace(target, status=TargetStatus.GRADED, grade=grade, sequence=target.sequence + 1)
    return graded, [_graded_event(graded, reviews, agreed.accuracy, context)]


def _accuracy(target: Target, reviews: Sequence[Review]) -> dict[str, float]:
    if target.grade is None:
        return {}
    scored = [ScoredReview(review.id, review.reviewer_id, dict(review.scores or {})) for review in reviews]
    return {
        review.review_id: consensus.accuracy_of(review, target.grade.scores, target.rules.rubric) for review in scored
    }


def _graded_event(target: Target, reviews: Sequence[Review], accuracy: Mapping[str, float], context: Context) -> Event:
    if target.grade is None:
        raise ValueError("a graded event needs a grade")
    suspects = _suspected_reviews(target, reviews, context)
    names = aliases(reviews)
    feedback = "\n\n".join(f"{names[review.reviewer_id]}: {review.comment}" for review in reviews)
    pairs = _pairs(target, context)
    data = {
        "target_kind": target.kind.value,
        "target_id": target.target_id,
        "author_id": target.author_id,
        "challenge_id": target.challenge_id,
        "version": target.version,
        "grade": target.grade.grade,
        "scores": dict(target.grade.scores),
        "feedback": feedback[:FEEDBACK_LENGTH],
        "review_count": len(reviews),
        "overridden": target.grade.overridden_by is not None,
        "points": target.points,
        "rule_points": rule_points_list(dict(target.rule_points)),
        "cohorts": list(target.author_cohorts),
        "tags": list(target.tags),
        "aggregator": target.grade.aggregator,
        "reviews": [
            {
                "review_id": review.id,
                "reviewer_id": review.reviewer_id,
                "accuracy": round(accuracy.get(review.id, 0.0), 4),
                "late": review.late,
                "outside_cohorts": review.outside_cohorts,
                "reciprocal": (target.author_id, review.reviewer_id) in pairs,
                "collusion_suspected": review.id in suspects,
            }
            for review in reviews
        ],
    }
    # One grading per state of the target: two graders who both saw it open announce the same event.
    return context.event(EventType.TARGET_GRADED, None, data, context.clock(), fact=(target.key, target.sequence))


def _pairs(target: Target, context: Context) -> set[tuple[str, str]]:
    if target.challenge_id is None:
        return set()
    return {(a.reviewer_id, a.author_id) for a in context.assignments.of_challenge(target.challenge_id) if a.active}


def _suspected_reviews(target: Target, reviews: Sequence[Review], context: Context) -> set[str]:
    """Return the ids of this target's reviews that belong to a suspected trade of favourable reviews."""
    if target.challenge_id is None or target.grade is None:
        return set()
    edges = _generosity(target.challenge_id, context, extra=(target, reviews))
    return {review_id for suspicion in collusion.suspicions(edges) for review_id in suspicion.review_ids}


def _generosity(
    challenge_id: str, context: Context, extra: tuple[Target, Sequence[Review]] | None = None
) -> list[collusion.ReviewEdge]:
    """Return every graded review of the challenge as an edge: who reviewed whom, how far above the grade."""
    graded = [target for target in context.targets.of_challenge(challenge_id) if target.grade is not None]
    if extra is not None and all(target.key != extra[0].key for target in graded):
        graded.append(extra[0])
    edges: list[collusion.ReviewEdge] = []
    for target in graded:
        if target.grade is None:
            continue
        reviews = extra[1] if extra is not None and extra[0].key == target.key else None
        for review in reviews if reviews is not None else context.reviews.of_target(target.kind, target.target_id):
            score = review.normalised_score
            if score is None:
                continue
            generosity = score - target.grade.grade
            edges.append(collusion.ReviewEdge(review.reviewer_id, target.author_id, review.id, generosity))
    return edges


def suspected_collusion(challenge_id: str, context: Context) -> list[collusion.Suspicion]:
    """Return the people of a challenge suspected of trading favourable reviews (for its teacher)."""
    return collusion.suspicions(_generosity(challenge_id, context))


def _decide_revision(target: Target, reviews: Sequence[Review], context: Context) -> tuple[Target | None, list[Event]]:
    outcome = verification_outcome(reviews)
    if outcome is None:
        return None, []
    if outcome.verdict is None:
        log.info("revision_verification_tied", revision_id=target.target_id)
        return replace(target, status=TargetStatus.TIED, sequence=target.sequence + 1), []
    decided = replace(target, status=TargetStatus.DECIDED, sequence=target.sequence + 1)
    return decided, [
        _verified_event(
            decided,
            outcome.verdict,
            agreeing=outcome.agreeing,
            dissenting=outcome.dissenting,
            reasons=outcome.reasons,
            teacher_id=None,
            context=context,
        )
    ]


def _verified_event(
    target: Target,
    verdict: Verdict,
    *,
    agreeing: Sequence[str],
    dissenting: Sequence[str],
    reasons: Sequence[str],
    teacher_id: str | None,
    context: Context,
) -> Event:
    data = {
        "revision_id": target.target_id,
        "resource_id": target.resource_id,
        "verdict": verdict.value,
        "verifier_ids": list(agreeing),
        "dissenter_ids": list(dissenting),
        "reasons": list(reasons),
        "decided_by_teacher": teacher_id,
    }
    return context.event(EventType.REVISION_VERIFIED, None, data, context.clock(), fact=(target.key, target.sequence))


def grade_complete_targets(*, context: Context, challenge_id: str | None = None) -> int:
    """Grade every open target that has its reviews but no grade; return how many were concluded.

    With a challenge (its submissions just closed: a class too small for the reviewers wanted is then
    complete with what it could give), all its open targets. Without (on a timer, after a crash between a
    review and the grade), those reviewed in the last REPAIR_LOOKBACK.
    """
    if challenge_id is not None:
        targets = [target for target in context.targets.of_challenge(challenge_id) if target.open]
    else:
        since = context.clock() - REPAIR_LOOKBACK
        targets = [
            target
            for kind, target_id in context.reviews.reviewed_targets_since(since)
            if (target := context.targets.get(kind, target_id)) is not None and target.open
        ]
    concluded = 0
    for target in targets:
        for review in current_reviews(target, context):
            _mark_reviewed(review, context)
        if not conclude(target, context).open:
            concluded += 1
    return concluded


def _mark_reviewed(review: Review, context: Context) -> None:
    """Mark a review's assignment reviewed if a crash left it open (idempotent)."""
    assignment = context.assignments.get(review.assignment_id)
    if assignment is not None and assignment.status == AssignmentStatus.ASSIGNED:
        reviewed = replace(
            assignment, status=AssignmentStatus.SUBMITTED, ended_at=review.submitted_at, review_id=review.id
        )
        context.assignments.save(reviewed, AssignmentStatus.ASSIGNED)


# ---------------------------------------------------------------------------------------------------------------
# Editing and rating


def edit(review_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context) -> Review:
    """Change one's review until its target is graded or decided."""
    review = context.reviews.get(review_id)
    if review is None or review.reviewer_id != actor.user_id:
        raise NotFound(f"No review with id {review_id}")
    target = _target_of(review, context)
    verdict = fields.get("verdict")
    edited = edit_review(
        review,
        target,
        reviewer_id=actor.user_id,
        scores=fields.get("scores"),
        verdict=Verdict(verdict) if verdict else None,
        comment=fields.get("comment", ""),
        comment_min_length=context.policy.comment_min_length,
        now=context.clock(),
    )
    context.reviews.save(edited)
    return edited


def rate(review_id: str, helpfulness: int, *, actor: Principal, context: Context) -> Review:
    """Rate how helpful a review of one's work was (once, 1 to 5); emits `review.rated`."""
    review = context.reviews.get(review_id)
    if review is None:
        raise NotFound(f"No review with id {review_id}")
    target = _target_of(review, context)
    if actor.user_id != target.author_id:
        # Nobody but the author may know which reviews exist.
        raise NotFound(f"No review with id {review_id}")
    rated = rate_review(review, rater_id=actor.user_id, helpfulness=helpfulness, now=context.clock())
    event = _review_event(EventType.REVIEW_RATED, rated, target, context, fact=(review.id,), helpfulness=helpfulness)
    context.reviews.save(rated, [event])
    return rated


# ---------------------------------------------------------------------------------------------------------------
# Reading a target's reviews


@dataclass(frozen=True)
class ShownReview:
    """A review as one viewer sees it: the reviewer named only to staff."""

    id: str
    reviewer: str
    reviewer_id: str | None
    scores: Mapping[str, int] | None
    verdict: Verdict | None
    comment: str
    late: bool
    submitted_at: Any
    edited_at: Any
    helpfulness: int | None
    accuracy: float | None
    mine: bool


@dataclass(frozen=True)
class TargetReviews:
    """A target's reviews and consensus as one viewer sees them."""

    target: Target
    author_id: str | None
    reviews: tuple[ShownReview, ...]
    reviews_wanted: int
    viewer: Viewer
    # None for a reviewer: the grade is for its author and staff (the challenges service hides it alike).
    grade: Grade | None


def target_reviews(kind: TargetKind, target_id: str, *, actor: Principal, context: Context) -> TargetReviews:
    """Return a target's consensus and reviews: its author sees aliases, its teacher and admins see reviewers.

    A reviewer sees the target (without its author while review is blind) and their own review only; anyone
    else is told it does not exist.
    """
    target = context.targets.get(kind, target_id)
    if target is None:
        raise NotFound(f"No {kind.value} {target_id} is under review")
    reviews = current_reviews(target, context)
    # Only a current reviewer reads a target: one who declined, whose claim lapsed or who was replaced does not.
    reviewing = any(
        assignment.reviewer_id == actor.user_id and assignment.active and assignment.round == target.round
        for assignment in context.assignments.of_target(kind, target_id)
    )
    viewer = viewer_of(
        target,
        actor.user_id,
        reviewing=reviewing,
        is_teacher=actor.has_any(Role.TEACHER),
        is_admin=actor.is_admin,
        is_service=actor.has_any(Role.SERVICE),
    )
    if viewer == Viewer.NONE:
        raise NotFound(f"No {kind.value} {target_id} is under review")
    names = aliases(reviews)
    shown = tuple(
        ShownReview(
            id=review.id,
            reviewer=names[review.reviewer_id],
            reviewer_id=review.reviewer_id if viewer == Viewer.STAFF else None,
            scores=review.scores,
            verdict=review.verdict,
            comment=review.comment,
            late=review.late,
            submitted_at=review.submitted_at,
            edited_at=review.edited_at,
            helpfulness=review.helpfulness,
            accuracy=review.accuracy,
            mine=review.reviewer_id == actor.user_id,
        )
        for review in reviews
        if viewer != Viewer.REVIEWER or review.reviewer_id == actor.user_id
    )
    author = None if viewer == Viewer.REVIEWER and target.rules.blind else target.author_id
    return TargetReviews(
        target=target,
        author_id=author,
        reviews=shown,
        reviews_wanted=reviews_wanted(target),
        viewer=viewer,
        grade=None if viewer == Viewer.REVIEWER else target.grade,
    )


def override(
    kind: TargetKind, target_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context
) -> Target:
    """Set a binding grade (a submission) or verdict (a revision) as its teacher or an admin; recorded and announced."""
    target = context.targets.get(kind, target_id)
    if target is None:
        raise NotFound(f"No {kind.value} {target_id} is under review")
    _check_may_override(target, actor)
    now = context.clock()
    if kind == TargetKind.REVISION:
        verdict = fields.get("verdict")
        if verdict is None:
            raise InvalidField("verdict", "Say whether the update is right: approve or reject")
        if target.status == TargetStatus.DECIDED:
            raise InvalidState("This revision was decided already")
        decided = replace(target, status=TargetStatus.DECIDED, sequence=target.sequence + 1)
        reasons = [fields.get("reason") or f"{verdict}: decided by a teacher"]
        event = _verified_event(
            decided,
            Verdict(verdict),
            agreeing=[],
            dissenting=[],
            reasons=reasons,
            teacher_id=actor.user_id,
            context=context,
        )
        return _save_override(target, decided, event, context)
    if target.status == TargetStatus.WITHDRAWN:
        raise InvalidState("This submission was withdrawn; there is nothing to grade")
    scores = fields.get("scores")
    if fields.get("close_review"):
        if scores is not None:
            raise InvalidField("scores", "Either close the review (graded on the reviews in) or give scores, not both")
        return _close_review(target, actor, context)
    if scores is None:
        raise InvalidField("scores", "Give the binding score of every rubric criterion, or close the review")
    scored = ScoredReview("override", actor.user_id, dict(scores))
    try:
        consensus.check_reviews([scored], target.rules.rubric)
    except InvalidField as error:
        raise InvalidField("scores", str(error).replace("Review override ", "The override ")) from None
    grade = Grade(
        grade=consensus.grade_of(scored.scores, target.rules.rubric),
        scores={name: float(value) for name, value in scored.scores.items()},
        graded_at=now,
        aggregator="override",
        overridden_by=actor.user_id,
    )
    graded = replace(target, status=TargetStatus.GRADED, grade=grade, sequence=target.sequence + 1)
    reviews = current_reviews(target, context)
    event = _graded_event(graded, reviews, _accuracy(graded, reviews), context)
    return _save_override(target, graded, event, context)


def _close_review(target: Target, actor: Principal, context: Context) -> Target:
    """Grade a submission now on the reviews that have come in (a teacher closing its review early)."""
    if not target.open:
        raise InvalidState(f"This submission is {target.status.value}; its review is over")
    reviews = current_reviews(target, context)
    if not reviews:
        raise InvalidState("No review has come in yet: give binding `scores` instead, or wait for one")
    graded, events = _grade_submission(target, reviews, context)
    if graded is None or graded.grade is None:
        raise InvalidState("This submission could not be graded")
    closed = replace(graded, grade=replace(graded.grade, closed_by=actor.user_id))
    context.reviews.record_accuracy(_accuracy(closed, reviews))
    return _save_override(target, closed, events[0], context)


def _check_may_override(target: Target, actor: Principal) -> None:
    if actor.is_admin:
        return
    if not actor.has_any(Role.TEACHER):
        raise Forbidden("Only a teacher or an admin may override peer review")
    if target.owner_id is not None and target.kind == TargetKind.SUBMISSION and target.owner_id != actor.user_id:
        raise Forbidden("Only the challenge's teacher or an admin may override its grades")


def _save_override(target: Target, changed: Target, event: Event, context: Context) -> Target:
    if not context.targets.save(changed, target.sequence, [event]):
        raise InvalidState("The target changed meanwhile; reload it and try again")
    # The decision is binding: reviews still open end, their reviewers lose access.
    assignments.cancel_on_target(changed, "withdrawn", context)
    return changed


# ---------------------------------------------------------------------------------------------------------------
# Reviewers' reliability


@dataclass(frozen=True)
class ReviewerRecord:
    """How a reviewer has reviewed: counts, timeliness, accuracy, helpfulness, and the model's estimate."""

    reviewer_id: str
    review_count: int
    graded_count: int
    late_count: int
    mean_accuracy: float | None
    mean_helpfulness: float | None
    reliability: ReviewerReliability


def reviewer_record(reviewer_id: str, *, actor: Principal, context: Context) -> ReviewerRecord:
    """Return a reviewer's record: to themselves, teachers and admins."""
    if actor.user_id != reviewer_id and not actor.has_any(Role.TEACHER, Role.ADMIN, Role.SERVICE):
        raise Forbidden("Only the reviewer, teachers and admins may see a reviewer's record")
    reviews = context.reviews.of_reviewer(reviewer_id)
    accuracies = [review.accuracy for review in reviews if review.accuracy is not None]
    ratings = [review.helpfulness for review in reviews if review.helpfulness is not None]
    model = consensus.fit_reviewer_model(_history(context))
    return ReviewerRecord(
        reviewer_id=reviewer_id,
        review_count=len(reviews),
        graded_count=len(accuracies),
        late_count=sum(1 for review in reviews if review.late),
        mean_accuracy=round(sum(accuracies) / len(accuracies), 4) if accuracies else None,
        mean_helpfulness=round(sum(ratings) / len(ratings), 2) if ratings else None,
        reliability=consensus.reliability_summary(model, reviewer_id),
    )
