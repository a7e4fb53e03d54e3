"""One contract for the peer-review service's storage, run over MongoDB (FerretDB) and over the in-memory fakes.

The use cases' unit tests (tests/unit/test_peer_review_usecases.py) run on the fakes; these tests are what
entitles them to: every condition a use case relies on (a target added once and saved over the sequence it
was read at, a reviewer on a target once whatever became of the assignment, an assignment's status pinned,
one review per assignment, the earliest close of a challenge) holds in both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from services.peer_review.bootstrap import build
from services.peer_review.domain.allocation import Person
from services.peer_review.domain.consensus import Criterion
from services.peer_review.domain.reviews import (
    Assignment,
    AssignmentMode,
    AssignmentStatus,
    Grade,
    Review,
    ReviewRules,
    Target,
    TargetStatus,
)
from services.peer_review.usecases.context import (
    AssignmentRepository,
    ChallengeRepository,
    PeopleRepository,
    ReviewPolicy,
    ReviewRepository,
    TargetRepository,
)
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import TargetKind, Verdict
from shared.ids import new_id
from tests.builders import NOW
from tests.conftest import SettingsFactory
from tests.fakes.challenges import EventLog
from tests.fakes.peer_review import FakePeerReview

pytestmark = pytest.mark.integration

RUBRIC = (Criterion("Accuracy", 5), Criterion("Clarity", 3))
RULES = ReviewRules(reviewers=3, due_hours=72, blind=True, rubric=RUBRIC)


@dataclass
class Storage:
    """One implementation of the five repositories, and the events its writes dispatched."""

    targets: TargetRepository
    assignments: AssignmentRepository
    reviews: ReviewRepository
    people: PeopleRepository
    challenges: ChallengeRepository
    log: EventLog


@pytest.fixture(params=["mongo", "fake"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    """Return the MongoDB repositories on FerretDB, or the fakes."""
    if request.param == "fake":
        world = FakePeerReview(NOW)
        yield Storage(world.targets, world.assignments, world.reviews, world.people, world.challenges, world.log)
        return
    settings: SettingsFactory = request.getfixturevalue("real_settings")
    dependencies = build(settings("peer_review"), policy=ReviewPolicy())
    log = EventLog()
    outbox = dependencies.repositories.store.outbox
    assert outbox is not None
    publish = outbox.publish

    def record(events: Sequence[Event]) -> Any:
        log.record(events)
        return publish(events)

    outbox.publish = record
    repositories = dependencies.repositories
    yield Storage(
        repositories.targets,
        repositories.assignments,
        repositories.reviews,
        repositories.people,
        repositories.challenges,
        log,
    )
    dependencies.runtime.mongo.close()


def an_event(event_type: EventType = EventType.REVIEW_ASSIGNED) -> Event:
    return Event(type=event_type, producer="peer_review", actor_id=None, data={}, occurred_at=NOW)


def make_target(**overrides: Any) -> Target:
    values: dict[str, Any] = {
        "kind": TargetKind.SUBMISSION,
        "target_id": new_id(),
        "author_id": "alice",
        "created_at": NOW,
        "rules": RULES,
        "challenge_id": "challenge-1",
        "owner_id": "teacher-1",
        "author_cohorts": ("7a",),
        "tags": ("biology",),
        "points": 30,
    }
    values.update(overrides)
    return Target(**values)


def make_revision_target(**overrides: Any) -> Target:
    values: dict[str, Any] = {
        "kind": TargetKind.REVISION,
        "rules": ReviewRules(reviewers=2, due_hours=72, blind=False, rubric=()),
        "challenge_id": None,
        "owner_id": "olga",
        "author_id": "pete",
        "resource_id": "resource-1",
        "details": {"changes": {"title": {"old": "Pluto", "new": "Pluto (dwarf)"}}, "note": "IAU 2006"},
    }
    values.update(overrides)
    return make_target(**values)


def make_assignment(target: Target, reviewer_id: str = "bob", **overrides: Any) -> Assignment:
    values: dict[str, Any] = {
        "id": new_id(),
        "kind": target.kind,
        "target_id": target.target_id,
        "reviewer_id": reviewer_id,
        "author_id": target.author_id,
        "created_at": NOW,
        "due_at": NOW + timedelta(hours=72),
        "challenge_id": target.challenge_id,
        "reviewer_cohorts": ("7b",),
    }
    values.update(overrides)
    return Assignment(**values)


def make_review(assignment: Assignment, **overrides: Any) -> Review:
    values: dict[str, Any] = {
        "id": new_id(),
        "assignment_id": assignment.id,
        "kind": assignment.kind,
        "target_id": assignment.target_id,
        "reviewer_id": assignment.reviewer_id,
        "author_id": assignment.author_id,
        "challenge_id": assignment.challenge_id,
        "comment": "Clear, but say where the sugar goes next.",
        "submitted_at": NOW,
        "late": False,
        "outside_cohorts": True,
        "scores": {"Accuracy": 4, "Clarity": 2},
        "rubric_total": 8,
    }
    values.update(overrides)
    return Review(**values)


def added(storage: Storage, *assignments: Assignment, origin: str = "allocation") -> list[str]:
    return storage.assignments.add_many([(assignment, [an_event()]) for assignment in assignments], origin=origin)


# ---------------------------------------------------------------------------------------------------------------
# Targets


def test_a_target_is_added_once_and_read_back_as_it_was_stored(storage: Storage) -> None:
    # With the challenge's own points for rules, whose names hold dots (kept as values, not field names).
    target = replace(make_target(), rule_points=(("review.helpful", 7), ("review.submitted", 15)))
    revision = make_revision_target()
    assert storage.targets.add(target)
    assert storage.targets.add(revision)
    assert not storage.targets.add(replace(target, author_id="mallory", points=0))
    assert storage.targets.get(TargetKind.SUBMISSION, target.target_id) == target
    assert storage.targets.get(TargetKind.REVISION, revision.target_id) == revision
    # The key is kind and id: the same id of the other kind is another target.
    assert storage.targets.get(TargetKind.REVISION, target.target_id) is None


def test_a_target_saves_only_over_the_sequence_it_was_read_at_and_keeps_its_creation_time(storage: Storage) -> None:
    target = make_target()
    storage.targets.add(target)
    grade = Grade(grade=0.75, scores={"Accuracy": 4.0, "Clarity": 2.0}, graded_at=NOW, aggregator="median")
    graded = replace(
        target, status=TargetStatus.GRADED, grade=grade, sequence=2, created_at=NOW + timedelta(days=1), version=2
    )
    event = an_event(EventType.TARGET_GRADED)
    assert storage.targets.save(graded, 1, [event])
    lost = replace(target, status=TargetStatus.WITHDRAWN, sequence=2)
    assert not storage.targets.save(lost, 1, [an_event(EventType.REVIEW_DECLINED)])
    assert not storage.targets.save(make_target(sequence=2), 1, [an_event()])
    assert storage.targets.get(TargetKind.SUBMISSION, target.target_id) == replace(graded, created_at=NOW)
    assert [recorded.id for recorded in storage.log.events] == [event.id]


def test_a_challenges_targets_and_the_open_ones_come_oldest_first(storage: Storage) -> None:
    newest = make_target(created_at=NOW + timedelta(minutes=2))
    oldest = make_target(created_at=NOW - timedelta(minutes=2), author_id="bob")
    graded = make_target(created_at=NOW, status=TargetStatus.GRADED, author_id="carol")
    elsewhere = make_target(created_at=NOW - timedelta(hours=1), challenge_id="challenge-2")
    revision = make_revision_target(created_at=NOW - timedelta(hours=2))
    for target in (newest, oldest, graded, elsewhere, revision):
        storage.targets.add(target)

    assert storage.targets.of_challenge("challenge-1") == [oldest, graded, newest]
    assert storage.targets.open_targets(kind=None, challenge_id=None, limit=10) == [revision, elsewhere, oldest, newest]
    assert storage.targets.open_targets(kind=None, challenge_id=None, limit=2) == [revision, elsewhere]
    assert storage.targets.open_targets(kind="submission", challenge_id="challenge-1", limit=10) == [oldest, newest]
    assert storage.targets.open_targets(kind="revision", challenge_id=None, limit=10) == [revision]


# ---------------------------------------------------------------------------------------------------------------
# Assignments


def test_a_reviewer_is_on_a_target_once_whatever_became_of_the_first_assignment(storage: Storage) -> None:
    target = make_target()
    first = make_assignment(target)
    assert added(storage, first) == [first.id]
    assert added(storage, make_assignment(target)) == []
    declined = replace(first, status=AssignmentStatus.DECLINED, ended_at=NOW)
    assert storage.assignments.save(declined, AssignmentStatus.ASSIGNED)
    assert added(storage, make_assignment(target)) == []
    assert storage.assignments.of_target(target.kind, target.target_id) == [declined]
    assert len(storage.log.events) == 1


def test_a_batch_skips_a_pair_it_repeats_and_pairs_stored_by_an_earlier_batch(storage: Storage) -> None:
    target = make_target()
    other = make_target(author_id="bob")
    bob, bob_again, carol = make_assignment(target), make_assignment(target), make_assignment(target, "carol")
    events = {assignment.id: an_event() for assignment in (bob, bob_again, carol)}
    stored = storage.assignments.add_many([(a, [events[a.id]]) for a in (bob, bob_again, carol)], origin="allocation")
    assert stored == [bob.id, carol.id]
    # The same reviewer on another target is another pair.
    dave, carol_again, carol_on_other = (
        make_assignment(target, "dave"),
        make_assignment(target, "carol"),
        make_assignment(other, "carol"),
    )
    assert added(storage, carol_again, dave, carol_on_other) == [dave.id, carol_on_other.id]
    assert {a.reviewer_id for a in storage.assignments.of_target(target.kind, target.target_id)} == {
        "bob",
        "carol",
        "dave",
    }
    assert [event.id for event in storage.log.events[:2]] == [events[bob.id].id, events[carol.id].id]
    assert len(storage.log.events) == 4


def test_an_assignments_status_saves_only_over_the_status_it_was_read_with(storage: Storage) -> None:
    target = make_target()
    assignment = make_assignment(target)
    added(storage, assignment)
    reviewed = replace(assignment, status=AssignmentStatus.SUBMITTED, ended_at=NOW, review_id="review-1")
    event = an_event(EventType.REVIEW_DECLINED)
    assert storage.assignments.save(reviewed, AssignmentStatus.ASSIGNED, [event])
    expired = replace(assignment, status=AssignmentStatus.EXPIRED, ended_at=NOW)
    assert not storage.assignments.save(expired, AssignmentStatus.ASSIGNED, [an_event(EventType.REVIEW_DECLINED)])
    assert not storage.assignments.save(make_assignment(target, "zoe"), AssignmentStatus.ASSIGNED)
    # A save writes the life cycle only: who reviews what stays as it was made.
    moved = replace(reviewed, status=AssignmentStatus.CANCELLED, reviewer_id="mallory", due_at=NOW)
    assert storage.assignments.save(moved, AssignmentStatus.SUBMITTED)
    assert storage.assignments.get(assignment.id) == replace(reviewed, status=AssignmentStatus.CANCELLED)
    assert [recorded.id for recorded in storage.log.events[1:]] == [event.id]


def test_only_open_claims_from_the_queue_past_their_due_time_lapse_oldest_due_first(storage: Storage) -> None:
    target = make_target()
    due = NOW - timedelta(hours=1)
    on_time = make_assignment(target, "bob", mode=AssignmentMode.PULL, due_at=due)
    earliest = make_assignment(target, "carol", mode=AssignmentMode.PULL, due_at=due - timedelta(hours=1))
    exactly_now = make_assignment(target, "dave", mode=AssignmentMode.PULL, due_at=NOW)
    not_yet = make_assignment(target, "erin", mode=AssignmentMode.PULL, due_at=NOW + timedelta(seconds=1))
    pushed = make_assignment(target, "fay", mode=AssignmentMode.PUSH, due_at=due)
    reviewed = make_assignment(target, "gus", mode=AssignmentMode.PULL, due_at=due, status=AssignmentStatus.SUBMITTED)
    declined = make_assignment(target, "hal", mode=AssignmentMode.PULL, due_at=due, status=AssignmentStatus.DECLINED)
    added(storage, on_time, earliest, exactly_now, not_yet, pushed, reviewed, declined, origin="queue")

    assert [a.reviewer_id for a in storage.assignments.lapsed_claims(NOW, 10)] == ["carol", "bob", "dave"]
    assert [a.reviewer_id for a in storage.assignments.lapsed_claims(NOW, 1)] == ["carol"]


def test_assignments_made_are_counted_by_reviewer_challenge_and_origin(storage: Storage) -> None:
    first, second, elsewhere = make_target(), make_target(author_id="carol"), make_target(challenge_id="challenge-2")
    added(storage, make_assignment(first), make_assignment(second), origin="arrival")
    added(storage, make_assignment(elsewhere), make_assignment(second, "dave"), origin="arrival")
    added(storage, make_assignment(make_target(author_id="erin")), origin="allocation")
    assert storage.assignments.count_made_for("bob", "challenge-1", "arrival") == 2
    assert storage.assignments.count_made_for("bob", "challenge-1", "allocation") == 1
    assert storage.assignments.count_made_for("bob", "challenge-2", "arrival") == 1
    assert storage.assignments.count_made_for("dave", "challenge-1", "allocation") == 0


def test_a_reviewers_assignments_are_filtered_and_paged_newest_first(storage: Storage) -> None:
    made = []
    for minutes in range(5):
        target = make_target(challenge_id="challenge-1" if minutes % 2 else "challenge-2")
        made.append(make_assignment(target, created_at=NOW + timedelta(minutes=minutes)))
    revision = make_revision_target()
    verifying = make_assignment(revision, created_at=NOW + timedelta(minutes=9), status=AssignmentStatus.DECLINED)
    added(storage, *made, verifying, make_assignment(make_target(), "carol"))

    def listed(**criteria: Any) -> tuple[list[int], int]:
        query: dict[str, Any] = {"statuses": None, "kind": None, "challenge_id": None, "limit": 10, "offset": 0}
        query.update(criteria)
        items, total = storage.assignments.of_reviewer("bob", **query)
        everything = [*made, verifying]
        return [everything.index(next(m for m in everything if m.id == item.id)) for item in items], total

    assert listed() == ([5, 4, 3, 2, 1, 0], 6)
    assert listed(limit=2, offset=1) == ([4, 3], 6)
    assert listed(statuses=[AssignmentStatus.ASSIGNED]) == ([4, 3, 2, 1, 0], 5)
    assert listed(statuses=[AssignmentStatus.DECLINED, AssignmentStatus.EXPIRED]) == ([5], 1)
    assert listed(kind="revision") == ([5], 1)
    assert listed(challenge_id="challenge-1") == ([3, 1], 2)
    assert listed(kind="submission", challenge_id="challenge-2", limit=1) == ([4], 3)


def test_assignments_are_read_by_target_by_targets_and_by_challenge_oldest_first(storage: Storage) -> None:
    target, other = make_target(), make_target(author_id="carol")
    later = make_assignment(target, "dave", created_at=NOW + timedelta(minutes=1))
    earlier = make_assignment(target, "bob", created_at=NOW - timedelta(minutes=1))
    on_other = make_assignment(other, "bob")
    elsewhere = make_assignment(make_target(challenge_id="challenge-2"))
    added(storage, later, earlier, on_other, elsewhere)
    assert storage.assignments.of_target(target.kind, target.target_id) == [earlier, later]
    keys = [target.key, other.key]
    assert sorted(a.id for a in storage.assignments.of_targets(keys)) == sorted([earlier.id, later.id, on_other.id])
    assert storage.assignments.of_targets([]) == []
    assert storage.assignments.of_challenge("challenge-1") == [earlier, on_other, later]
    assert storage.assignments.get(elsewhere.id) == elsewhere
    assert storage.assignments.get(new_id()) is None


# ---------------------------------------------------------------------------------------------------------------
# Reviews


def test_an_assignment_has_one_review_and_a_second_answers_with_the_first(storage: Storage) -> None:
    assignment = make_assignment(make_target())
    first = make_review(assignment)
    event = an_event(EventType.REVIEW_SUBMITTED)
    assert storage.reviews.add(first, [event]) == first
    assert storage.reviews.add(make_review(assignment, comment="Changed my mind."), [an_event()]) == first
    assert storage.reviews.of_assignment(assignment.id) == first
    assert storage.reviews.get(first.id) == first
    assert storage.reviews.of_assignment(new_id()) is None
    assert [recorded.id for recorded in storage.log.events] == [event.id]


def test_a_review_saves_with_its_events_only_if_it_exists(storage: Storage) -> None:
    assignment = make_assignment(make_target())
    review = make_review(assignment)
    storage.reviews.add(review)
    rated = replace(review, helpfulness=4, rated_at=NOW, comment="Edited", edited_at=NOW, scores={"Accuracy": 5})
    event = an_event(EventType.REVIEW_RATED)
    assert storage.reviews.save(rated, [event])
    assert not storage.reviews.save(make_review(assignment), [an_event()])
    assert storage.reviews.get(review.id) == rated
    assert [recorded.id for recorded in storage.log.events] == [event.id]


def test_reviews_are_read_by_target_in_the_order_they_came_and_by_reviewer_newest_first(storage: Storage) -> None:
    target = make_target()
    later = make_review(make_assignment(target, "carol"), submitted_at=NOW + timedelta(minutes=1))
    earlier = make_review(make_assignment(target, "bob"), submitted_at=NOW)
    bobs_other = make_review(make_assignment(make_target(), "bob"), submitted_at=NOW + timedelta(minutes=2))
    verdict = make_review(
        make_assignment(make_revision_target(), "bob"),
        submitted_at=NOW + timedelta(minutes=3),
        scores=None,
        verdict=Verdict.APPROVE,
        rubric_total=0,
    )
    for review in (later, earlier, bobs_other, verdict):
        storage.reviews.add(review)
    assert storage.reviews.of_target(target.kind, target.target_id) == [earlier, later]
    assert storage.reviews.of_reviewer("bob") == [verdict, bobs_other, earlier]
    assert storage.reviews.of_reviewer("bob", limit=1) == [verdict]


def test_graded_history_holds_scored_reviews_with_an_accuracy_newest_first(storage: Storage) -> None:
    target = make_target()
    reviews = [
        make_review(make_assignment(target, f"r{minute}"), submitted_at=NOW + timedelta(minutes=minute))
        for minute in range(4)
    ]
    verdict = make_review(
        make_assignment(make_revision_target(), "vera"), scores=None, verdict=Verdict.REJECT, rubric_total=0
    )
    for review in (*reviews, verdict):
        storage.reviews.add(review)
    assert storage.reviews.graded_history(10) == []
    storage.reviews.record_accuracy({reviews[0].id: 0.5, reviews[2].id: 1.0, verdict.id: 1.0, new_id(): 0.1})
    storage.reviews.record_accuracy({reviews[3].id: 0.0})
    assert storage.reviews.graded_history(10) == [
        replace(reviews[3], accuracy=0.0),
        replace(reviews[2], accuracy=1.0),
        replace(reviews[0], accuracy=0.5),
    ]
    assert storage.reviews.graded_history(1) == [replace(reviews[3], accuracy=0.0)]
    assert storage.reviews.get(verdict.id) == replace(verdict, accuracy=1.0)


# ---------------------------------------------------------------------------------------------------------------
# People


def test_people_are_found_by_the_tags_they_were_active_in_most_recent_first(storage: Storage) -> None:
    storage.people.note_active("alice", ["7a"], ["biology"], NOW)
    storage.people.note_active("bob", ["7b"], ["biology", "maths"], NOW + timedelta(minutes=1))
    storage.people.note_active("carol", ["7a"], ["maths"], NOW + timedelta(minutes=2))
    storage.people.note_active("dave", ["7c"], [], NOW + timedelta(minutes=3))
    # A later note replaces the cohorts, adds the tags, and makes the person the most recent.
    storage.people.note_active("alice", ["7c"], ["history"], NOW + timedelta(minutes=4))

    assert storage.people.active_in(["biology"], limit=10) == [
        Person("alice", frozenset({"7c"})),
        Person("bob", frozenset({"7b"})),
    ]
    assert [p.user_id for p in storage.people.active_in(["maths", "history"], limit=10)] == ["alice", "carol", "bob"]
    assert [p.user_id for p in storage.people.active_in(["maths", "history"], limit=2)] == ["alice", "carol"]
    assert storage.people.active_in([], limit=10) == []
    assert storage.people.active_in(["chemistry"], limit=10) == []
    assert storage.people.cohorts_of(["alice", "dave", "zoe"]) == {
        "alice": frozenset({"7c"}),
        "dave": frozenset({"7c"}),
    }
    assert storage.people.cohorts_of([]) == {}


# ---------------------------------------------------------------------------------------------------------------
# Challenges


def test_a_challenge_is_noted_with_its_teacher_and_audience(storage: Storage) -> None:
    assert storage.challenges.owner_of("challenge-1") is None
    assert storage.challenges.cohorts_of("challenge-1") is None
    assert storage.challenges.closed_at("challenge-1") is None
    storage.challenges.note("challenge-1", "teacher-1", ["7a", "7b"])
    storage.challenges.note("challenge-2", "teacher-2")
    assert storage.challenges.owner_of("challenge-1") == "teacher-1"
    assert storage.challenges.cohorts_of("challenge-1") == ("7a", "7b")
    assert storage.challenges.cohorts_of("challenge-2") == ()
    assert storage.challenges.closed_at("challenge-1") is None
    storage.challenges.note("challenge-1", "teacher-3", ["7c"])
    assert (storage.challenges.owner_of("challenge-1"), storage.challenges.cohorts_of("challenge-1")) == (
        "teacher-3",
        ("7c",),
    )


def test_the_first_close_of_a_challenge_stands(storage: Storage) -> None:
    storage.challenges.note("challenge-1", "teacher-1", ["7a"])
    storage.challenges.close("challenge-1", "teacher-1", NOW)
    storage.challenges.close("challenge-1", "teacher-1", NOW + timedelta(hours=1))
    assert storage.challenges.closed_at("challenge-1") == NOW
    # A close that happened earlier but arrived later is the first close.
    storage.challenges.close("challenge-1", "teacher-1", NOW - timedelta(minutes=5))
    assert storage.challenges.closed_at("challenge-1") == NOW - timedelta(minutes=5)
    # Noting the challenge again (a later `challenge.published`) keeps its close and takes the audience.
    storage.challenges.note("challenge-1", "teacher-1", ["7b"])
    assert storage.challenges.closed_at("challenge-1") == NOW - timedelta(minutes=5)
    assert storage.challenges.cohorts_of("challenge-1") == ("7b",)


def test_a_close_of_a_challenge_never_noted_records_its_teacher_and_an_open_audience(storage: Storage) -> None:
    storage.challenges.close("challenge-9", "teacher-9", NOW)
    assert storage.challenges.closed_at("challenge-9") == NOW
    assert storage.challenges.owner_of("challenge-9") == "teacher-9"
    assert storage.challenges.cohorts_of("challenge-9") == ()
