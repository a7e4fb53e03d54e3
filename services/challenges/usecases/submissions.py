"""Use cases of learners' submissions: submit, revise, withdraw, read, list; reviewers and grades from events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from services.challenges.domain import submissions as rules
from services.challenges.domain.challenges import Challenge, may_manage
from services.challenges.domain.errors import Forbidden, InvalidState, NotFound
from services.challenges.domain.submissions import (
    Access,
    Grade,
    Submission,
    SubmissionQuery,
    SubmissionStatus,
    SubmissionVersion,
    SubmissionView,
)
from services.challenges.usecases.challenges import get_challenge
from services.challenges.usecases.context import Context
from shared.clock import to_milliseconds
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import TargetKind, rule_points_list
from shared.ids import new_id

log = structlog.get_logger(__name__)

# A grade's write pins the grade and status it read; a withdrawal or another grade in between makes it read again.
GRADE_ATTEMPTS = 5


def submission_payload(submission: Submission, challenge: Challenge, cohorts: tuple[str, ...]) -> dict[str, Any]:
    """Return what consumers need to know about a submission (`submission.submitted`, `.revised`, `.withdrawn`)."""
    return {
        "submission_id": submission.id,
        "challenge_id": challenge.id,
        "author_id": submission.author_id,
        "challenge_owner_id": challenge.owner_id,
        "version": submission.version,
        "cohorts": list(cohorts),
        "tags": list(challenge.tags),
        "review": {
            "reviewers_per_submission": challenge.review.reviewers_per_submission,
            "due_hours": challenge.review.due_hours,
            "blind": challenge.review.blind,
        },
        "rubric": [{"criterion": c.criterion, "max_score": c.max_score} for c in challenge.rubric],
        "ends_at": challenge.ends_at.isoformat() if challenge.ends_at else None,
        "points": challenge.points,
        "rule_points": rule_points_list(challenge.rule_points),
        "challenge_cohorts": list(challenge.cohorts),
    }


def _work(fields: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    return fields["content"], tuple(fields.get("links", ()))


def _access(submission: Submission, actor: Principal) -> Access:
    return rules.access_of(submission, actor.user_id, is_admin=actor.is_admin, is_service=actor.has_any(Role.SERVICE))


def _visible(submission_id: str, actor: Principal, context: Context) -> tuple[Submission, Access]:
    submission = context.submissions.get(submission_id)
    access = _access(submission, actor) if submission else Access.NONE
    if submission is None or access == Access.NONE:
        raise NotFound(f"No submission with id {submission_id}")
    return submission, access


def _authored(submission_id: str, actor: Principal, context: Context, action: str) -> tuple[Submission, Challenge]:
    submission, access = _visible(submission_id, actor, context)
    if access != Access.AUTHOR:
        raise Forbidden(f"Only the submission's author may {action} it")
    challenge = context.challenges.get(submission.challenge_id)
    if challenge is None:
        raise NotFound(f"No challenge with id {submission.challenge_id}")
    return submission, challenge


def _save(
    before: Submission,
    after: Submission,
    event: Event,
    context: Context,
    now: datetime,
) -> SubmissionView:
    saved = context.submissions.save(
        after, expected_version=before.version, was_withdrawn=before.withdrawn, events=[event]
    )
    if not saved:
        raise InvalidState("The submission changed meanwhile; reload it and try again")
    return rules.view_for(after, Access.AUTHOR)


def submit(challenge_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context) -> SubmissionView:
    """Submit a learner's work to an open challenge; a withdrawn submission is submitted again as a new version.

    One submission per learner and challenge: a second one is refused, naming the first.
    """
    challenge = get_challenge(challenge_id, actor=actor, context=context)
    now = context.clock()
    rules.check_open_for_submissions(challenge, now)
    existing = context.submissions.find_by_author(challenge.id, actor.user_id)
    if existing is not None and not existing.withdrawn:
        raise rules.DuplicateSubmission(existing.id)
    satisfied = context.submissions.submitted_challenges(actor.user_id, challenge.prerequisites)
    rules.check_prerequisites(challenge.prerequisites, satisfied)
    content, links = _work(fields)
    if existing is not None:
        submission = rules.resubmit(existing, challenge, content, links, now)
        event = context.event(
            EventType.SUBMISSION_SUBMITTED, actor, submission_payload(submission, challenge, actor.cohorts), now
        )
        return _save(existing, submission, event, context, now)
    submission = rules.submit(
        challenge, submission_id=new_id(), author_id=actor.user_id, content=content, links=links, now=now
    )
    event = context.event(
        EventType.SUBMISSION_SUBMITTED, actor, submission_payload(submission, challenge, actor.cohorts), now
    )
    context.submissions.add(submission, [event])
    return rules.view_for(submission, Access.AUTHOR)


def read_submission(submission_id: str, *, actor: Principal, context: Context) -> SubmissionView:
    """Return a submission as the caller may see it; to anyone who may not, it does not exist."""
    submission, access = _visible(submission_id, actor, context)
    return rules.view_for(submission, access)


def revise_submission(
    submission_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context
) -> SubmissionView:
    """Save the author's new version while the challenge is open; the old versions are kept."""
    submission, challenge = _authored(submission_id, actor, context, "revise")
    now = context.clock()
    content, links = _work(fields)
    revised = rules.revise(submission, challenge, content, links, now)
    event = context.event(
        EventType.SUBMISSION_REVISED, actor, submission_payload(revised, challenge, actor.cohorts), now
    )
    return _save(submission, revised, event, context, now)


def withdraw_submission(submission_id: str, *, actor: Principal, context: Context) -> SubmissionView:
    """Withdraw the author's submission before the challenge closes."""
    submission, challenge = _authored(submission_id, actor, context, "withdraw")
    now = context.clock()
    withdrawn = rules.withdraw(submission, challenge, now)
    event = context.event(
        EventType.SUBMISSION_WITHDRAWN, actor, submission_payload(withdrawn, challenge, actor.cohorts), now
    )
    return _save(submission, withdrawn, event, context, now)


def _versions_of(submission_id: str, actor: Principal, context: Context) -> list[SubmissionVersion]:
    _submission, access = _visible(submission_id, actor, context)
    if not rules.may_read_versions(access):
        raise NotFound(f"No submission with id {submission_id}")
    return context.submissions.versions(submission_id)


def list_versions(
    submission_id: str, *, actor: Principal, context: Context, limit: int, offset: int
) -> tuple[list[SubmissionVersion], int]:
    """List a submission's versions, newest first (its author, the challenge's teacher, admins)."""
    versions = _versions_of(submission_id, actor, context)
    newest_first = list(reversed(versions))
    return newest_first[offset : offset + limit], len(versions)


def get_version(submission_id: str, version: int, *, actor: Principal, context: Context) -> SubmissionVersion:
    """Return one version of a submission (its author, the challenge's teacher, admins)."""
    for candidate in _versions_of(submission_id, actor, context):
        if candidate.version == version:
            return candidate
    raise NotFound(f"Submission {submission_id} has no version {version}")


def list_submissions(
    challenge_id: str,
    *,
    actor: Principal,
    context: Context,
    limit: int,
    offset: int,
    status: SubmissionStatus | None = None,
) -> tuple[list[SubmissionView], int]:
    """List a challenge's submissions, newest first: all for its teacher or an admin, a learner's own for a learner."""
    challenge = get_challenge(challenge_id, actor=actor, context=context)
    if may_manage(challenge, actor.user_id, actor.is_admin):
        query, access = SubmissionQuery(challenge.id, status=status), Access.STAFF
    elif actor.is_staff:
        raise Forbidden("Only the challenge's teacher or an admin may list its submissions")
    else:
        query, access = SubmissionQuery(challenge.id, author_id=actor.user_id, status=status), Access.AUTHOR
    items, total = context.submissions.search(query, limit=limit, offset=offset)
    return [rules.view_for(submission, access) for submission in items], total


def list_own_submissions(
    *,
    actor: Principal,
    context: Context,
    limit: int,
    offset: int,
    status: SubmissionStatus | None = None,
    challenge_id: str | None = None,
) -> tuple[list[SubmissionView], int]:
    """List the caller's submissions across challenges, newest first.

    A learner's are the ones they wrote; a teacher's, those made to the challenges they own; an admin's,
    every submission.
    """
    if actor.is_admin:
        query, access = SubmissionQuery(challenge_id=challenge_id, status=status), Access.STAFF
    elif actor.is_staff:
        query = SubmissionQuery(challenge_id=challenge_id, challenge_owner_id=actor.user_id, status=status)
        access = Access.STAFF
    else:
        query = SubmissionQuery(challenge_id=challenge_id, author_id=actor.user_id, status=status)
        access = Access.AUTHOR
    items, total = context.submissions.search(query, limit=limit, offset=offset)
    return [rules.view_for(submission, access) for submission in items], total


def record_assignments(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Give reviewers assigned by peer review (`review.assigned`) read access to their submissions."""
    for event, data in events:
        if data["target_kind"] != TargetKind.SUBMISSION:
            continue
        if not context.submissions.add_reviewer(data["target_id"], data["reviewer_id"]):
            log.warning("review_assigned_to_unknown_submission", event_id=event.id, submission_id=data["target_id"])


def revoke_assignments(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Take read access away from reviewers whose assignment ended without a review (`review.declined`)."""
    for event, data in events:
        if data["target_kind"] != TargetKind.SUBMISSION:
            continue
        if not context.submissions.remove_reviewer(data["target_id"], data["reviewer_id"]):
            log.warning("review_declined_on_unknown_submission", event_id=event.id, submission_id=data["target_id"])


def record_grades(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Store consensus grades (`target.graded`) on submissions; a later grade replaces an earlier one."""
    for event, data in events:
        if data["target_kind"] != TargetKind.SUBMISSION:
            continue
        grade = Grade(
            grade=data["grade"],
            graded_at=to_milliseconds(event.occurred_at),
            event_id=event.id,
            scores=dict(data.get("scores") or {}),
            feedback=data.get("feedback", ""),
            review_count=data.get("review_count", 0),
            overridden=data.get("overridden", False),
            version=data.get("version"),
        )
        _record_grade(data["target_id"], grade, event, context)


def _record_grade(submission_id: str, grade: Grade, event: Event, context: Context) -> None:
    for _attempt in range(GRADE_ATTEMPTS):
        submission = context.submissions.get(submission_id)
        if submission is None:
            log.warning("grade_for_unknown_submission", event_id=event.id, submission_id=submission_id)
            return
        graded = rules.record_grade(submission, grade)
        if graded is None:
            log.info("grade_not_newer", event_id=event.id, submission_id=submission_id)
            return
        if context.submissions.save_grade(submission, graded):
            return
    # Withdrawn and re-submitted over and over meanwhile: the job fails and RQ retries it later.
    raise InvalidState(f"Submission {submission_id} kept changing while its grade was stored")
