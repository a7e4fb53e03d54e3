"""Submission rules: submitting, revising, withdrawing, prerequisites, and who sees what."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.challenges.domain.challenges import Challenge, ChallengeKind, ChallengeStatus, ReviewSettings
from services.challenges.domain.errors import InvalidState
from services.challenges.domain.submissions import (
    MAX_VERSIONS,
    Access,
    DuplicateSubmission,
    Grade,
    Submission,
    SubmissionStatus,
    access_of,
    check_prerequisites,
    may_read_versions,
    missing_prerequisites,
    resubmit,
    revise,
    submit,
    view_for,
    withdraw,
)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LINKS = ("https://example.org/a",)


def make_challenge(**overrides: Any) -> Challenge:
    values: dict[str, Any] = {
        "id": "ch1",
        "owner_id": "teacher-1",
        "title": "Explain photosynthesis",
        "description": "300 words",
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(days=2),
        "status": ChallengeStatus.PUBLISHED,
        "ends_at": NOW + timedelta(days=7),
    }
    values.update(overrides)
    return Challenge(**values)


def make_submission(challenge: Challenge | None = None, **overrides: Any) -> Submission:
    submission = submit(
        challenge or make_challenge(),
        submission_id="s1",
        author_id="alice",
        content="first draft",
        links=LINKS,
        now=NOW - timedelta(hours=1),
    )
    return replace(submission, **overrides)


# ---------------------------------------------------------------------------------------------------------------
# Submitting


def test_a_first_submission_is_version_one_and_copies_the_challenge_owner_and_blindness() -> None:
    challenge = make_challenge(review=ReviewSettings(blind=False))
    submission = submit(challenge, submission_id="s1", author_id="alice", content="work", links=(), now=NOW)
    assert submission.version == 1
    assert submission.status == SubmissionStatus.SUBMITTED
    assert submission.challenge_owner_id == "teacher-1"
    assert submission.blind is False
    assert submission.current_version.submitted_at == NOW
    assert submission.grade is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": ChallengeKind.RESOURCE}, "does not take submissions"),
        ({"status": ChallengeStatus.CLOSED}, "closed"),
        ({"ends_at": NOW}, "closed"),
        ({"starts_at": NOW + timedelta(hours=1)}, "opens at"),
    ],
    ids=["resource-challenge", "closed", "past-ends-at", "not-started"],
)
def test_submitting_needs_an_open_submission_challenge(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidState, match=message):
        submit(make_challenge(**overrides), submission_id="s1", author_id="alice", content="x", links=(), now=NOW)


# ---------------------------------------------------------------------------------------------------------------
# Prerequisites


def test_missing_prerequisites_keep_the_challenges_order() -> None:
    assert missing_prerequisites(["p1", "p2", "p3"], {"p2"}) == ["p1", "p3"]
    assert missing_prerequisites([], set()) == []


def test_prerequisites_refusal_lists_every_missing_challenge() -> None:
    with pytest.raises(InvalidState) as refused:
        check_prerequisites(("p1", "p2"), ())
    assert refused.value.details == {"missing_prerequisites": ["p1", "p2"]}
    check_prerequisites(("p1", "p2"), ("p2", "p1", "other"))


# ---------------------------------------------------------------------------------------------------------------
# Revising


def test_a_revision_is_the_next_version_and_awaits_review_again() -> None:
    grade = Grade(grade=0.5, graded_at=NOW, event_id="e1", scores={}, version=1)
    graded = make_submission(status=SubmissionStatus.GRADED, grade=grade)
    revised = revise(graded, make_challenge(), "second draft", (), NOW)
    assert (revised.version, revised.content, revised.links) == (2, "second draft", ())
    assert revised.status == SubmissionStatus.SUBMITTED
    assert revised.submitted_at == revised.updated_at == NOW
    assert revised.created_at == graded.created_at
    assert revised.grade == grade


def test_a_submission_cannot_grow_past_the_version_cap() -> None:
    almost = make_submission(version=MAX_VERSIONS - 1)
    assert revise(almost, make_challenge(), "last", (), NOW).version == MAX_VERSIONS
    with pytest.raises(InvalidState, match=str(MAX_VERSIONS)):
        revise(make_submission(version=MAX_VERSIONS), make_challenge(), "one more", (), NOW)


def test_a_withdrawn_submission_cannot_be_revised_only_submitted_again() -> None:
    withdrawn = withdraw(make_submission(), make_challenge(), NOW)
    with pytest.raises(InvalidState, match="POST"):
        revise(withdrawn, make_challenge(), "again", (), NOW)


def test_revising_after_the_challenge_ends_is_refused() -> None:
    with pytest.raises(InvalidState, match="closed"):
        revise(make_submission(), make_challenge(ends_at=NOW - timedelta(seconds=1)), "late", (), NOW)


# ---------------------------------------------------------------------------------------------------------------
# Withdrawing and submitting again


def test_withdrawing_marks_the_submission_and_keeps_its_version() -> None:
    withdrawn = withdraw(make_submission(), make_challenge(), NOW)
    assert withdrawn.status == SubmissionStatus.WITHDRAWN
    assert withdrawn.withdrawn_at == NOW
    assert withdrawn.version == 1


def test_withdrawing_twice_is_refused() -> None:
    withdrawn = withdraw(make_submission(), make_challenge(), NOW)
    with pytest.raises(InvalidState, match="already"):
        withdraw(withdrawn, make_challenge(), NOW)


def test_withdrawing_after_the_deadline_is_refused() -> None:
    with pytest.raises(InvalidState):
        withdraw(make_submission(), make_challenge(status=ChallengeStatus.CLOSED), NOW)


def test_a_withdrawn_submission_is_submitted_again_as_its_next_version() -> None:
    withdrawn = withdraw(make_submission(), make_challenge(), NOW)
    again = resubmit(withdrawn, make_challenge(), "back", LINKS, NOW + timedelta(minutes=1))
    assert (again.version, again.status, again.withdrawn_at) == (2, SubmissionStatus.SUBMITTED, None)


def test_submitting_again_while_a_submission_stands_names_the_existing_one() -> None:
    with pytest.raises(DuplicateSubmission) as refused:
        resubmit(make_submission(), make_challenge(), "again", (), NOW)
    assert refused.value.details == {"existing_id": "s1"}


# ---------------------------------------------------------------------------------------------------------------
# Who sees what


@pytest.mark.parametrize(
    ("user_id", "is_admin", "is_service", "access"),
    [
        ("alice", False, False, Access.AUTHOR),
        ("teacher-1", False, False, Access.STAFF),
        ("admin-1", True, False, Access.STAFF),
        ("peer-review", False, True, Access.STAFF),
        ("bob", False, False, Access.REVIEWER),
        ("carol", False, False, Access.NONE),
        ("teacher-2", False, False, Access.NONE),
    ],
)
def test_access_depends_on_authorship_ownership_and_assignment(
    user_id: str, is_admin: bool, is_service: bool, access: Access
) -> None:
    submission = make_submission(reviewer_ids=("bob",))
    assert access_of(submission, user_id, is_admin=is_admin, is_service=is_service) == access


def test_a_blind_reviewer_sees_neither_the_author_nor_the_grade() -> None:
    grade = Grade(grade=0.9, graded_at=NOW, event_id="e1", scores={"Accuracy": 5})
    submission = make_submission(blind=True, grade=grade, reviewer_ids=("bob",))
    seen = view_for(submission, Access.REVIEWER)
    assert seen.author_id is None
    assert seen.grade is None
    assert seen.content == submission.content
    assert view_for(submission, Access.AUTHOR).author_id == "alice"
    assert view_for(submission, Access.STAFF).grade == grade


def test_a_reviewer_of_an_open_review_sees_the_author() -> None:
    submission = make_submission(blind=False, reviewer_ids=("bob",))
    assert view_for(submission, Access.REVIEWER).author_id == "alice"


def test_only_authors_and_staff_read_past_versions() -> None:
    assert may_read_versions(Access.AUTHOR)
    assert may_read_versions(Access.STAFF)
    assert not may_read_versions(Access.REVIEWER)
    assert not may_read_versions(Access.NONE)


def test_a_caller_without_access_gets_no_view() -> None:
    with pytest.raises(ValueError, match="without access"):
        view_for(make_submission(), Access.NONE)
