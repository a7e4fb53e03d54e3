"""Submission use cases over the in-memory fakes: what each one stores, refuses and announces.

The fakes honour the storage conditions the MongoDB repositories do (tests/integration/test_challenges_repositories.py
runs one contract over both), so a race is played here by handing a use case a read that is out of date.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.challenges.domain.challenges import (
    Challenge,
    ChallengeKind,
    ChallengeStatus,
    Criterion,
    ReviewSettings,
)
from services.challenges.domain.errors import Forbidden, InvalidState, NotFound
from services.challenges.domain.submissions import (
    MAX_VERSIONS,
    DuplicateSubmission,
    Grade,
    Submission,
    SubmissionStatus,
    SubmissionVersion,
)
from services.challenges.usecases import submissions as usecases
from shared.clock import to_milliseconds
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from tests.builders import NOW, admin, learner, make_challenge, make_submission, teacher
from tests.fakes.challenges import FakeWorld

ALICE = learner("alice", "7a")
CAROL = learner("carol", "7a")
OUTSIDER = learner("dave", "7b")
SERVICE = Principal(user_id="peer-review", roles=frozenset({Role.SERVICE}))
CONTENT = "Plants make sugar from light."
LINKS = ("https://example.org/a",)
WORK: dict[str, Any] = {"content": CONTENT, "links": list(LINKS)}


def _stored(world: FakeWorld, **overrides: Any) -> Challenge:
    challenge = make_challenge(**overrides)
    world.challenges.add(challenge)
    return challenge


def _submit(world: FakeWorld, challenge: Challenge, actor: Principal = ALICE, **work: Any) -> str:
    view = usecases.submit(challenge.id, {**WORK, **work}, actor=actor, context=world.context())
    return view.id


def _revise(world: FakeWorld, submission_id: str, actor: Principal = ALICE, **work: Any) -> Any:
    return usecases.revise_submission(submission_id, {**WORK, **work}, actor=actor, context=world.context())


def _withdraw(world: FakeWorld, submission_id: str, actor: Principal = ALICE) -> Any:
    return usecases.withdraw_submission(submission_id, actor=actor, context=world.context())


def _get(world: FakeWorld, submission_id: str) -> Submission:
    submission = world.submissions.get(submission_id)
    assert submission is not None
    return submission


def _payload(event: Event) -> dict[str, Any]:
    return load_payload(event.type, event.data)


def _assigned(submission_id: str, reviewer_id: str, target_kind: str = "submission") -> tuple[Event, dict[str, Any]]:
    data = {
        "assignment_id": uuid.uuid4().hex[:24],
        "target_kind": target_kind,
        "target_id": submission_id,
        "reviewer_id": reviewer_id,
    }
    event = Event(type=EventType.REVIEW_ASSIGNED, producer="peer_review", actor_id=None, data=data)
    return event, load_payload(event.type, event.data)


def _graded(
    submission_id: str, grade: float, occurred_at: datetime, target_kind: str = "submission"
) -> tuple[Event, dict[str, Any]]:
    data = {
        "target_kind": target_kind,
        "target_id": submission_id,
        "author_id": "alice",
        "version": 1,
        "grade": grade,
        "scores": {"Accuracy": round(grade * 5)},
        "feedback": "Clear and well sourced",
        "review_count": 3,
    }
    event = Event(
        type=EventType.TARGET_GRADED, producer="peer_review", actor_id=None, data=data, occurred_at=occurred_at
    )
    return event, load_payload(event.type, event.data)


def _grade_of(delivered: tuple[Event, dict[str, Any]]) -> Grade:
    event, data = delivered
    return Grade(
        grade=data["grade"],
        graded_at=to_milliseconds(event.occurred_at),
        event_id=event.id,
        scores=data["scores"],
        feedback=data["feedback"],
        review_count=data["review_count"],
        version=data["version"],
    )


# ---------------------------------------------------------------------------------------------------------------
# Submitting


def test_a_submission_is_stored_as_version_one_and_announced_with_what_peer_review_needs(world: FakeWorld) -> None:
    challenge = _stored(
        world,
        cohorts=("7a",),
        rubric=(Criterion("Accuracy", 5),),
        review=ReviewSettings(reviewers_per_submission=2, due_hours=48, blind=True),
    )
    view = usecases.submit(challenge.id, WORK, actor=ALICE, context=world.context(request_id="req-1"))
    assert (view.challenge_id, view.author_id, view.version, view.status) == (
        challenge.id,
        "alice",
        1,
        SubmissionStatus.SUBMITTED,
    )
    assert (view.content, view.links, view.grade, view.withdrawn_at) == (
        CONTENT,
        LINKS,
        None,
        None,
    )
    assert view.created_at == view.submitted_at == view.updated_at == NOW
    assert world.submissions.versions(view.id) == [SubmissionVersion(1, CONTENT, LINKS, NOW)]
    (event,) = world.log.events
    assert (event.type, event.producer, event.actor_id, event.occurred_at, event.request_id) == (
        EventType.SUBMISSION_SUBMITTED,
        "challenges",
        "alice",
        NOW,
        "req-1",
    )
    assert _payload(event) == {
        "submission_id": view.id,
        "challenge_id": challenge.id,
        "author_id": "alice",
        "challenge_owner_id": "teacher-1",
        "version": 1,
        "cohorts": ["7a"],
        "tags": ["biology"],
        "review": {"reviewers_per_submission": 2, "due_hours": 48, "blind": True},
        "rubric": [{"criterion": "Accuracy", "max_score": 5}],
        "ends_at": challenge.ends_at,
        "points": 100,
        "challenge_cohorts": ["7a"],
        "rule_points": [],
    }


def test_a_second_submission_is_refused_naming_the_first_and_changes_nothing(world: FakeWorld) -> None:
    challenge = _stored(world)
    first = _submit(world, challenge)
    stored = _get(world, first)
    with pytest.raises(DuplicateSubmission) as refused:
        _submit(world, challenge, content="again")
    assert refused.value.existing_id == first
    assert _get(world, first) == stored
    assert world.log.types() == ["submission.submitted"]


def test_a_withdrawn_submission_is_submitted_again_as_its_next_version(world: FakeWorld) -> None:
    challenge = _stored(world)
    first = _submit(world, challenge)
    _withdraw(world, first)
    world.now = NOW + timedelta(hours=1)
    again = usecases.submit(challenge.id, {"content": "Better", "links": []}, actor=ALICE, context=world.context())
    assert again.id == first
    assert (again.version, again.status, again.withdrawn_at, again.submitted_at) == (
        2,
        SubmissionStatus.SUBMITTED,
        None,
        NOW + timedelta(hours=1),
    )
    assert [version.content for version in world.submissions.versions(first)] == [CONTENT, "Better"]
    assert world.log.types() == ["submission.submitted", "submission.withdrawn", "submission.submitted"]
    assert [_payload(event)["version"] for event in world.log.of_type("submission.submitted")] == [1, 2]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"kind": ChallengeKind.RESOURCE}, InvalidState),
        ({"starts_at": NOW + timedelta(hours=2)}, InvalidState),
        ({"ends_at": NOW}, InvalidState),
        ({"status": ChallengeStatus.CLOSED}, InvalidState),
        ({"status": ChallengeStatus.DRAFT, "published_at": None}, NotFound),
        ({"cohorts": ("7b",)}, NotFound),
    ],
    ids=["resource-challenge", "not-yet-open", "ended", "closed", "draft", "other-cohort"],
)
def test_submitting_to_a_challenge_that_takes_no_submissions_now_stores_and_announces_nothing(
    world: FakeWorld, overrides: dict[str, Any], error: type[Exception]
) -> None:
    challenge = _stored(world, **overrides)
    with pytest.raises(error):
        _submit(world, challenge)
    assert world.submissions.items == {}
    assert world.log.events == []


# ---------------------------------------------------------------------------------------------------------------
# Prerequisites


def _missing(world: FakeWorld, challenge: Challenge, actor: Principal = ALICE) -> list[str]:
    with pytest.raises(InvalidState) as refused:
        _submit(world, challenge, actor)
    missing: list[str] = refused.value.details["missing_prerequisites"]
    return missing


def test_missing_prerequisites_are_listed_in_order_and_only_the_learners_own_submissions_count(
    world: FakeWorld,
) -> None:
    first, second = _stored(world), _stored(world)
    final = _stored(world, prerequisites=(first.id, second.id))
    assert _missing(world, final) == [first.id, second.id]
    _submit(world, second)
    assert _missing(world, final) == [first.id]
    _submit(world, first, CAROL)
    assert _missing(world, final) == [first.id]
    assert world.submissions.find_by_author(final.id, "alice") is None
    _submit(world, first)
    _submit(world, final)
    assert world.log.types() == ["submission.submitted"] * 4


def test_a_withdrawn_prerequisite_stops_counting_until_it_is_submitted_again(world: FakeWorld) -> None:
    first = _stored(world)
    final = _stored(world, prerequisites=(first.id,))
    prerequisite = _submit(world, first)
    _withdraw(world, prerequisite)
    assert _missing(world, final) == [first.id]
    _submit(world, first)
    _submit(world, final)


# ---------------------------------------------------------------------------------------------------------------
# Revising


def test_the_author_revises_into_a_new_version_keeps_the_old_one_and_announces_it(world: FakeWorld) -> None:
    challenge = _stored(world, cohorts=("7a",))
    submission_id = _submit(world, challenge)
    world.now = NOW + timedelta(hours=1)
    revised = _revise(world, submission_id, content="Better", links=[])
    assert (revised.version, revised.content, revised.links, revised.status) == (
        2,
        "Better",
        (),
        SubmissionStatus.SUBMITTED,
    )
    assert (revised.created_at, revised.submitted_at, revised.updated_at) == (NOW, world.now, world.now)
    assert world.submissions.versions(submission_id) == [
        SubmissionVersion(1, CONTENT, LINKS, NOW),
        SubmissionVersion(2, "Better", (), world.now),
    ]
    (event,) = world.log.of_type("submission.revised")
    assert (event.actor_id, event.occurred_at) == ("alice", world.now)
    data = _payload(event)
    assert (data["submission_id"], data["version"], data["cohorts"]) == (submission_id, 2, ["7a"])


@pytest.mark.parametrize(
    ("actor", "error"),
    [
        (teacher("teacher-1"), Forbidden),
        (admin(), Forbidden),
        (CAROL, NotFound),
        (teacher("teacher-2"), NotFound),
    ],
    ids=["owning-teacher", "admin", "classmate", "other-teacher"],
)
@pytest.mark.parametrize("action", ["revise", "withdraw"])
def test_only_the_author_revises_or_withdraws(
    world: FakeWorld, actor: Principal, error: type[Exception], action: str
) -> None:
    submission_id = _submit(world, _stored(world))
    before = _get(world, submission_id)
    with pytest.raises(error):
        if action == "revise":
            _revise(world, submission_id, actor)
        else:
            _withdraw(world, submission_id, actor)
    assert _get(world, submission_id) == before
    assert world.log.types() == ["submission.submitted"]


def test_a_withdrawn_submission_is_not_revised_but_submitted_again(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    withdrawn = _get(world, _withdraw(world, submission_id).id)
    with pytest.raises(InvalidState, match="POST"):
        _revise(world, submission_id)
    assert _get(world, submission_id) == withdrawn
    assert world.log.types() == ["submission.submitted", "submission.withdrawn"]


def test_a_submission_keeps_at_most_fifty_versions(world: FakeWorld) -> None:
    challenge = _stored(world)
    full = make_submission(challenge, version=MAX_VERSIONS)
    world.submissions.add(full)
    with pytest.raises(InvalidState) as refused:
        _revise(world, full.id)
    assert refused.value.details == {"max_versions": MAX_VERSIONS}
    assert _get(world, full.id) == full
    assert world.log.events == []


def _revised(world: FakeWorld, submission_id: str) -> None:
    _revise(world, submission_id, content="mine")


def _withdrawn(world: FakeWorld, submission_id: str) -> None:
    _withdraw(world, submission_id)


@pytest.mark.parametrize(
    ("meanwhile", "announced"),
    [(_revised, "revised"), (_withdrawn, "withdrawn")],
    ids=["after-a-revision", "after-a-withdrawal"],
)
@pytest.mark.parametrize("late", [_revised, _withdrawn], ids=["late-revision", "late-withdrawal"])
def test_a_change_read_before_another_change_was_saved_is_refused_and_announces_nothing(
    world: FakeWorld,
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: Callable[[FakeWorld, str], None],
    announced: str,
    late: Callable[[FakeWorld, str], None],
) -> None:
    submission_id = _submit(world, _stored(world))
    read_before = _get(world, submission_id)
    meanwhile(world, submission_id)
    saved = _get(world, submission_id)
    # The late request read the submission before the other change was saved.
    monkeypatch.setattr(world.submissions, "get", lambda _submission_id: read_before)
    with pytest.raises(InvalidState, match="changed meanwhile"):
        late(world, submission_id)
    monkeypatch.undo()
    assert _get(world, submission_id) == saved
    assert len(world.submissions.versions(submission_id)) == saved.version
    assert world.log.types() == ["submission.submitted", f"submission.{announced}"]


# ---------------------------------------------------------------------------------------------------------------
# Withdrawing


def test_the_author_withdraws_once_and_it_is_announced(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    world.now = NOW + timedelta(hours=1)
    withdrawn = _withdraw(world, submission_id)
    assert (withdrawn.status, withdrawn.withdrawn_at, withdrawn.version) == (
        SubmissionStatus.WITHDRAWN,
        world.now,
        1,
    )
    with pytest.raises(InvalidState):
        _withdraw(world, submission_id)
    (event,) = world.log.of_type("submission.withdrawn")
    assert (event.actor_id, _payload(event)["submission_id"], _payload(event)["version"]) == (
        "alice",
        submission_id,
        1,
    )
    assert world.submissions.submitted_challenges("alice", [withdrawn.challenge_id]) == set()


# ---------------------------------------------------------------------------------------------------------------
# Reading and versions


@pytest.mark.parametrize(
    ("actor", "sees"),
    [
        (ALICE, True),
        (teacher("teacher-1"), True),
        (admin(), True),
        (SERVICE, True),
        (CAROL, False),
        (OUTSIDER, False),
        (teacher("teacher-2"), False),
    ],
    ids=["author", "owning-teacher", "admin", "service", "classmate", "other-cohort", "other-teacher"],
)
def test_a_submission_and_its_versions_exist_only_for_its_author_teacher_admins_and_services(
    world: FakeWorld, actor: Principal, sees: bool
) -> None:
    submission_id = _submit(world, _stored(world))
    context = world.context()
    if sees:
        assert usecases.read_submission(submission_id, actor=actor, context=context).author_id == "alice"
        assert usecases.list_versions(submission_id, actor=actor, context=context, limit=10, offset=0)[1] == 1
        assert usecases.get_version(submission_id, 1, actor=actor, context=context).version == 1
        return
    with pytest.raises(NotFound):
        usecases.read_submission(submission_id, actor=actor, context=context)
    with pytest.raises(NotFound):
        usecases.list_versions(submission_id, actor=actor, context=context, limit=10, offset=0)
    with pytest.raises(NotFound):
        usecases.get_version(submission_id, 1, actor=actor, context=context)


def test_versions_are_listed_newest_first_and_a_missing_one_is_not_found(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world), content="v1")
    for content in ("v2", "v3"):
        _revise(world, submission_id, content=content)
    context = world.context()
    items, total = usecases.list_versions(submission_id, actor=ALICE, context=context, limit=2, offset=1)
    assert (total, [version.content for version in items]) == (3, ["v2", "v1"])
    assert usecases.get_version(submission_id, 3, actor=teacher(), context=context).content == "v3"
    with pytest.raises(NotFound):
        usecases.get_version(submission_id, 4, actor=ALICE, context=context)


# ---------------------------------------------------------------------------------------------------------------
# Reviewers, from review.assigned


def test_an_assigned_reviewer_reads_the_current_version_only_and_the_author_when_review_is_open(
    world: FakeWorld,
) -> None:
    open_review = _stored(world, review=ReviewSettings(blind=False))
    submission_id = _submit(world, open_review)
    _revise(world, submission_id, content="Second draft")
    usecases.record_assignments([_assigned(submission_id, "carol")], context=world.context())
    usecases.record_grades([_graded(submission_id, 0.8, NOW)], context=world.context())
    view = usecases.read_submission(submission_id, actor=CAROL, context=world.context())
    assert (view.author_id, view.version, view.content, view.grade) == ("alice", 2, "Second draft", None)
    with pytest.raises(NotFound):
        usecases.list_versions(submission_id, actor=CAROL, context=world.context(), limit=10, offset=0)
    for change in (_revise, _withdraw):
        with pytest.raises(Forbidden):
            change(world, submission_id, CAROL)


def test_recording_assignments_is_idempotent_and_skips_revision_targets_and_unknown_submissions(
    world: FakeWorld,
) -> None:
    submission_id = _submit(world, _stored(world))
    before = _get(world, submission_id)
    assignment = _assigned(submission_id, "carol")
    usecases.record_assignments(
        [
            assignment,
            assignment,
            _assigned(submission_id, "carol"),
            _assigned("0" * 24, "dave"),
            _assigned(submission_id, "erin", target_kind="revision"),
        ],
        context=world.context(),
    )
    assert _get(world, submission_id) == replace(before, reviewer_ids=("carol",))
    assert list(world.submissions.items) == [submission_id]
    assert world.log.types() == ["submission.submitted"]


def _declined(submission_id: str, reviewer_id: str, target_kind: str = "submission") -> tuple[Event, dict[str, Any]]:
    event, _ = _assigned(submission_id, reviewer_id, target_kind)
    data = {**event.data, "reason": "declined"}
    declined = Event(type=EventType.REVIEW_DECLINED, producer="peer_review", actor_id=reviewer_id, data=data)
    return declined, load_payload(declined.type, declined.data)


def test_a_reviewer_who_declines_loses_access_even_when_the_decline_overtakes_the_assignment(
    world: FakeWorld,
) -> None:
    submission_id = _submit(world, _stored(world))
    usecases.record_assignments([_assigned(submission_id, "carol")], context=world.context())
    usecases.revoke_assignments(
        [_declined(submission_id, "carol"), _declined(submission_id, "dave"), _declined("0" * 24, "erin")],
        context=world.context(),
    )
    usecases.record_assignments([_assigned(submission_id, "dave")], context=world.context())  # arrived late
    for reviewer in ("carol", "dave"):
        with pytest.raises(NotFound):
            usecases.read_submission(submission_id, actor=learner(reviewer, "7b"), context=world.context())
    usecases.revoke_assignments([_declined(submission_id, "frank", "revision")], context=world.context())
    assert _get(world, submission_id).reviewer_ids == ()


# ---------------------------------------------------------------------------------------------------------------
# Grades, from target.graded


def test_a_grade_makes_the_submission_graded_and_a_later_grade_replaces_it(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    first = _graded(submission_id, 0.6, NOW + timedelta(hours=1))
    usecases.record_grades([first], context=world.context())
    graded = _get(world, submission_id)
    assert (graded.status, graded.grade) == (SubmissionStatus.GRADED, _grade_of(first))
    later = _graded(submission_id, 0.9, NOW + timedelta(hours=2))
    usecases.record_grades([later, first], context=world.context())
    assert _get(world, submission_id) == replace(graded, grade=_grade_of(later))
    assert world.log.types() == ["submission.submitted"]


def test_a_repeated_or_older_grade_changes_nothing(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    first = _graded(submission_id, 0.6, NOW + timedelta(hours=1))
    usecases.record_grades([first], context=world.context())
    graded = _get(world, submission_id)
    usecases.record_grades([first, _graded(submission_id, 0.1, NOW)], context=world.context())
    assert _get(world, submission_id) == graded


def test_a_withdrawn_submission_keeps_its_status_when_graded(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    _withdraw(world, submission_id)
    delivered = _graded(submission_id, 0.5, NOW)
    usecases.record_grades([delivered], context=world.context())
    stored = _get(world, submission_id)
    assert (stored.status, stored.grade) == (SubmissionStatus.WITHDRAWN, _grade_of(delivered))


def test_grades_of_revision_targets_and_unknown_submissions_are_skipped(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    before = _get(world, submission_id)
    usecases.record_grades(
        [_graded(submission_id, 0.5, NOW, target_kind="revision"), _graded("0" * 24, 0.5, NOW)],
        context=world.context(),
    )
    assert _get(world, submission_id) == before
    assert list(world.submissions.items) == [submission_id]


def test_a_revision_after_grading_waits_for_review_and_keeps_the_grade(world: FakeWorld) -> None:
    submission_id = _submit(world, _stored(world))
    delivered = _graded(submission_id, 0.7, NOW)
    usecases.record_grades([delivered], context=world.context())
    revised = _revise(world, submission_id, content="v2")
    assert (revised.status, revised.version, revised.grade) == (SubmissionStatus.SUBMITTED, 2, _grade_of(delivered))
    stored = _get(world, submission_id)
    assert (stored.status, stored.grade) == (SubmissionStatus.SUBMITTED, _grade_of(delivered))


def test_a_grade_that_lost_a_race_with_a_withdrawal_is_read_again_and_leaves_the_submission_withdrawn(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission_id = _submit(world, _stored(world))
    save_grade = world.submissions.save_grade

    def withdrawn_meanwhile(before: Submission, after: Submission) -> bool:
        if not _get(world, submission_id).withdrawn:
            _withdraw(world, submission_id)
        return save_grade(before, after)

    monkeypatch.setattr(world.submissions, "save_grade", withdrawn_meanwhile)
    delivered = _graded(submission_id, 0.5, NOW)
    usecases.record_grades([delivered], context=world.context())
    stored = _get(world, submission_id)
    assert (stored.status, stored.grade) == (SubmissionStatus.WITHDRAWN, _grade_of(delivered))


def test_a_grade_gives_up_for_a_retry_when_the_submission_keeps_changing(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission_id = _submit(world, _stored(world))
    attempts: list[str] = []

    def always_changed(before: Submission, _after: Submission) -> bool:
        attempts.append(before.id)
        return False

    monkeypatch.setattr(world.submissions, "save_grade", always_changed)
    with pytest.raises(InvalidState):
        usecases.record_grades([_graded(submission_id, 0.5, NOW)], context=world.context())
    assert attempts == [submission_id] * usecases.GRADE_ATTEMPTS


# ---------------------------------------------------------------------------------------------------------------
# Listing


def test_a_challenges_submissions_are_all_listed_for_its_teacher_and_admins_and_only_their_own_for_a_learner(
    world: FakeWorld,
) -> None:
    challenge = _stored(world)
    alice = _submit(world, challenge)
    world.now = NOW + timedelta(minutes=1)
    carol = _submit(world, challenge, CAROL)
    _withdraw(world, carol, CAROL)

    def listed(actor: Principal, status: SubmissionStatus | None = None) -> tuple[list[str], int]:
        items, total = usecases.list_submissions(
            challenge.id, actor=actor, context=world.context(), limit=10, offset=0, status=status
        )
        return [view.id for view in items], total

    assert listed(teacher()) == ([carol, alice], 2)
    assert listed(admin(), SubmissionStatus.SUBMITTED) == ([alice], 1)
    assert listed(ALICE) == ([alice], 1)
    assert listed(CAROL, SubmissionStatus.SUBMITTED) == ([], 0)
    with pytest.raises(Forbidden):
        listed(teacher("teacher-2"))
    hidden = _stored(world, cohorts=("7b",))
    with pytest.raises(NotFound):
        usecases.list_submissions(hidden.id, actor=ALICE, context=world.context(), limit=10, offset=0)


def test_each_caller_lists_their_own_submissions_across_challenges(world: FakeWorld) -> None:
    first, second = _stored(world), _stored(world)
    by_other_teacher = _stored(world, owner_id="teacher-2")
    alice_first = _submit(world, first)
    world.now = NOW + timedelta(minutes=1)
    alice_second = _submit(world, second)
    world.now = NOW + timedelta(minutes=2)
    carol_first = _submit(world, first, CAROL)
    world.now = NOW + timedelta(minutes=3)
    carol_other = _submit(world, by_other_teacher, CAROL)
    _withdraw(world, alice_first)

    def listed(actor: Principal, **filters: Any) -> list[str]:
        items, total = usecases.list_own_submissions(
            actor=actor, context=world.context(), limit=10, offset=0, **filters
        )
        assert total == len(items)
        return [view.id for view in items]

    assert listed(ALICE) == [alice_second, alice_first]
    assert listed(ALICE, challenge_id=first.id) == [alice_first]
    assert listed(ALICE, status=SubmissionStatus.WITHDRAWN) == [alice_first]
    assert listed(CAROL) == [carol_other, carol_first]
    assert listed(OUTSIDER) == []
    assert listed(teacher()) == [carol_first, alice_second, alice_first]
    assert listed(teacher("teacher-2")) == [carol_other]
    assert listed(admin()) == [carol_other, carol_first, alice_second, alice_first]
