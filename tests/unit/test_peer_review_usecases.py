"""Peer-review use cases over the in-memory fakes: what each one stores, refuses and announces.

The fakes honour the storage conditions the MongoDB repositories do (tests/integration/test_peer_review_repositories.py
runs one contract over both). Consumed events arrive as the worker hands them on: validated by their payload
schema, and delivered again at will (a redelivery must change nothing). Every event a use case emits is checked
against its payload schema when each test ends.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.peer_review.domain.allocation import Person
from services.peer_review.domain.consensus import Criterion
from services.peer_review.domain.reviews import (
    Assignment,
    AssignmentMode,
    AssignmentStatus,
    Review,
    ReviewRules,
    Target,
    TargetStatus,
    Viewer,
    review_of,
)
from services.peer_review.schemas.reviews import ReviewSchema, TargetReviewsSchema
from services.peer_review.usecases import assignments, intake, reviews
from services.peer_review.usecases.context import ReviewPolicy
from shared.consumer import Received
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.contracts.vocabulary import TargetKind
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound
from shared.ids import new_id
from tests.builders import NOW, admin, learner, teacher
from tests.fakes.peer_review import FakePeerReview

TEACHER = teacher("teacher-1")
OTHER_TEACHER = teacher("teacher-2")
ADMIN = admin("admin-1")
SERVICE = Principal(user_id="challenges", roles=frozenset({Role.SERVICE}))
RUBRIC = [{"criterion": "Accuracy", "max_score": 5}, {"criterion": "Clarity", "max_score": 5}]
GOOD = {"Accuracy": 4, "Clarity": 4}
COMMENT = "Clear and well sourced; say where the sugar goes next."
MEDIAN = ReviewPolicy(aggregator="median")
ARRIVAL_GAP = timedelta(minutes=1)

Handler = Callable[..., None]
RECEIVERS: Mapping[str, Handler] = {
    EventType.CHALLENGE_PUBLISHED: intake.receive_challenges,
    EventType.CHALLENGE_CLOSED: intake.receive_challenges,
    EventType.SUBMISSION_SUBMITTED: intake.receive_submissions,
    EventType.SUBMISSION_REVISED: intake.receive_submissions,
    EventType.SUBMISSION_WITHDRAWN: intake.receive_submissions,
    EventType.RESOURCE_REVISION_PROPOSED: intake.receive_revisions,
    EventType.RESOURCE_REVISION_ACCEPTED: intake.receive_revisions,
    EventType.RESOURCE_REVISION_REJECTED: intake.receive_revisions,
}


def test_these_tests_route_each_consumed_event_as_the_worker_does() -> None:
    from services.peer_review import jobs

    assert set(RECEIVERS) == set(jobs.HANDLERS)
    # Types the worker hands to one use case reach one use case here too.
    for first in RECEIVERS:
        for second in RECEIVERS:
            assert (RECEIVERS[first] is RECEIVERS[second]) == (jobs.HANDLERS[first] is jobs.HANDLERS[second])


def check_payloads(world: FakePeerReview) -> None:
    """Fail unless every event the fakes dispatched passes its payload schema."""
    for event in world.log.events:
        load_payload(event.type, event.data)


@pytest.fixture
def world() -> Iterator[FakePeerReview]:
    """Return empty in-memory repositories of the peer-review service, their clock at `NOW`."""
    world = FakePeerReview(NOW)
    yield world
    check_payloads(world)


def deliver(world: FakePeerReview, event: Event, policy: ReviewPolicy | None = None) -> None:
    """Hand a consumed event to its use case, as the worker does after validating its payload."""
    received: Received = (event, load_payload(event.type, event.data))
    RECEIVERS[event.type]([received], context=world.context(policy))


def news(world: FakePeerReview, event_type: EventType, data: Mapping[str, Any]) -> Event:
    """Deliver an event of the challenges service happening now; return it (to deliver it again)."""
    event = Event(type=event_type, producer="challenges", actor_id=None, data=dict(data), occurred_at=world.now)
    deliver(world, event)
    return event


def payloads(world: FakePeerReview, event_type: EventType) -> list[dict[str, Any]]:
    """Return the validated payloads of the emitted events of one type, oldest first."""
    return [load_payload(event.type, event.data) for event in world.log.of_type(event_type)]


@dataclass
class Course:
    """One challenge of teacher-1 as peer review hears of it, and the submissions its learners make."""

    world: FakePeerReview
    reviewers: int = 2
    blind: bool = True
    audience: tuple[str, ...] = ()
    due_hours: int = 72
    challenge_id: str = field(default_factory=new_id)
    submissions: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    cohorts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def _challenge(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "owner_id": TEACHER.user_id,
            "kind": "submission",
            "title": "Explain photosynthesis",
            "points": 30,
            "tags": ["biology"],
            "cohorts": list(self.audience),
            "rubric": RUBRIC,
            "review": {"reviewers_per_submission": self.reviewers, "due_hours": self.due_hours, "blind": self.blind},
        }

    def publish(self) -> Event:
        """Deliver `challenge.published`."""
        return news(self.world, EventType.CHALLENGE_PUBLISHED, self._challenge())

    def close(self) -> Event:
        """Deliver `challenge.closed`."""
        return news(
            self.world, EventType.CHALLENGE_CLOSED, {**self._challenge(), "closed_at": self.world.now.isoformat()}
        )

    def _submission(self, author: str, version: int) -> dict[str, Any]:
        return {
            "submission_id": self.submissions[author],
            "challenge_id": self.challenge_id,
            "author_id": author,
            "challenge_owner_id": TEACHER.user_id,
            "version": version,
            "review": {"reviewers_per_submission": self.reviewers, "due_hours": self.due_hours, "blind": self.blind},
            "rubric": RUBRIC,
            "points": 30,
            "tags": ["biology"],
            "cohorts": list(self.cohorts[author]),
            "challenge_cohorts": list(self.audience),
        }

    def submit(self, author: str, *cohorts: str) -> Event:
        """Deliver `submission.submitted` of the author's first version (or next, after a withdrawal)."""
        self.world.now += ARRIVAL_GAP
        self.submissions.setdefault(author, new_id())
        self.cohorts.setdefault(author, cohorts or ("7a",))
        self.versions[author] = self.versions.get(author, 0) + 1
        return news(self.world, EventType.SUBMISSION_SUBMITTED, self._submission(author, self.versions[author]))

    def revise(self, author: str) -> Event:
        """Deliver `submission.revised` with the author's next version."""
        self.versions[author] += 1
        return news(self.world, EventType.SUBMISSION_REVISED, self._submission(author, self.versions[author]))

    def withdraw(self, author: str, version: int | None = None) -> Event:
        """Deliver `submission.withdrawn` of the author's current version (or an older one)."""
        data = self._submission(author, version or self.versions[author])
        return news(self.world, EventType.SUBMISSION_WITHDRAWN, data)

    def target(self, author: str) -> Target:
        """Return the author's target as stored."""
        found = self.world.targets.get(TargetKind.SUBMISSION, self.submissions[author])
        assert found is not None
        return found

    def on(self, author: str) -> list[Assignment]:
        """Return every assignment ever made on the author's submission."""
        return self.world.assignments.of_target(TargetKind.SUBMISSION, self.submissions[author])

    def reviewers_of(self, author: str) -> set[str]:
        """Return who is on the author's submission now (assigned or reviewed)."""
        return {assignment.reviewer_id for assignment in self.on(author) if assignment.active}

    def assignment(self, reviewer: str, author: str) -> Assignment:
        """Return the reviewer's assignment on the author's submission."""
        return next(assignment for assignment in self.on(author) if assignment.reviewer_id == reviewer)

    def class_of(self, *learners: tuple[str, str]) -> None:
        """Publish the challenge, then have each (learner, cohort) submit in turn."""
        self.publish()
        for user_id, cohort in learners:
            self.submit(user_id, cohort)


def actor_of(user_id: str, cohorts: Sequence[str] = ("7a",)) -> Principal:
    return learner(user_id, *cohorts)


def review(
    world: FakePeerReview,
    assignment: Assignment,
    scores: Mapping[str, int] | None = None,
    *,
    comment: str = COMMENT,
    verdict: str | None = None,
    policy: ReviewPolicy = MEDIAN,
) -> Review:
    """Review as the assignee, with these scores (or a verdict, for a revision)."""
    fields: dict[str, Any] = {"comment": comment}
    if verdict is None:
        fields["scores"] = dict(scores or GOOD)
    else:
        fields["verdict"] = verdict
    actor = actor_of(assignment.reviewer_id, assignment.reviewer_cohorts or ("7a",))
    return reviews.submit_review(assignment.id, fields, actor=actor, context=world.context(policy))


def stored_review(world: FakePeerReview, review_id: str) -> Review:
    """Return a review as stored."""
    found = world.reviews.get(review_id)
    assert found is not None
    return found


def snapshot(world: FakePeerReview) -> tuple[Any, ...]:
    """Return everything the fakes hold, to show that a refused call changed nothing."""
    return (
        dict(world.targets.items),
        dict(world.assignments.items),
        dict(world.reviews.items),
        len(world.log.events),
    )


# Four learners, amy the first to submit: give-to-get alone puts bob, cat and dan on amy's work when three
# reviewers are wanted (each arriving author reviews the neediest earlier work).
FOUR = (("amy", "7a"), ("bob", "7b"), ("cat", "7a"), ("dan", "7a"))


# ---------------------------------------------------------------------------------------------------------------
# Intake: challenges


def test_a_published_challenge_is_noted_with_its_teacher_and_audience_and_assigns_nothing(
    world: FakePeerReview,
) -> None:
    course = Course(world, audience=("7a", "7b"))
    course.publish()
    assert world.challenges.owner_of(course.challenge_id) == "teacher-1"
    assert world.challenges.cohorts_of(course.challenge_id) == ("7a", "7b")
    assert world.challenges.closed_at(course.challenge_id) is None
    assert world.log.events == []


def test_the_close_allocates_every_submission_still_short_and_a_redelivered_close_adds_nothing(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=3)
    course.class_of(*FOUR)
    # Before the close, give-to-get covered the early work only.
    assert [len(course.reviewers_of(author)) for author, _ in FOUR] == [3, 2, 1, 0]
    close = course.close()
    assert world.challenges.closed_at(course.challenge_id) == world.now
    for author, _ in FOUR:
        assert course.reviewers_of(author) == {user for user, _ in FOUR} - {author}
    assigned = world.log.of_type(EventType.REVIEW_ASSIGNED)
    assert len(assigned) == 12
    origins = Counter(world.assignments.origins.values())
    assert origins == {"arrival": 6, "allocation": 6}
    before = snapshot(world)
    deliver(world, close)
    assert snapshot(world) == before


# ---------------------------------------------------------------------------------------------------------------
# Intake: submissions


def test_a_submission_becomes_one_target_however_often_it_arrives(world: FakePeerReview) -> None:
    course = Course(world, reviewers=3)
    course.publish()
    arrival = course.submit("amy", "7a")
    target = course.target("amy")
    assert (target.author_id, target.version, target.status, target.points) == ("amy", 1, TargetStatus.OPEN, 30)
    assert target.rules == ReviewRules(
        reviewers=3, due_hours=72, blind=True, rubric=(Criterion("Accuracy", 5), Criterion("Clarity", 5))
    )
    assert (target.owner_id, target.author_cohorts, target.tags) == ("teacher-1", ("7a",), ("biology",))
    deliver(world, arrival)
    assert world.targets.items == {target.key: target}
    assert world.people.cohorts_of(["amy"]) == {"amy": frozenset({"7a"})}


def test_an_arriving_author_reviews_the_neediest_earlier_work_at_most_as_many_as_wanted_never_their_own(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    # amy found nothing to review, bob took amy's, cat took bob's (neediest) and amy's.
    assert course.reviewers_of("amy") == {"bob", "cat"}
    assert course.reviewers_of("bob") == {"cat"}
    arrival = course.submit("dan", "7a")
    dans = [a for a in world.assignments.items.values() if a.reviewer_id == "dan"]
    assert sorted(a.author_id for a in dans) == ["bob", "cat"]
    assert all(world.assignments.origins[a.id] == "arrival" for a in dans)
    assigned = payloads(world, EventType.REVIEW_ASSIGNED)[-2:]
    assert {(p["reviewer_id"], p["target_id"], p["mode"]) for p in assigned} == {
        ("dan", course.submissions["bob"], "push"),
        ("dan", course.submissions["cat"], "push"),
    }
    before = snapshot(world)
    deliver(world, arrival)
    assert snapshot(world) == before


def test_an_arriving_author_reviews_no_more_than_the_reviewers_wanted_however_much_is_short(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=2)
    course.publish()
    rules = ReviewRules(reviewers=2, rubric=(Criterion("Accuracy", 5), Criterion("Clarity", 5)))
    # Three earlier submissions nobody reviews yet (say, their reviewers declined and nobody was left).
    for minutes, author in ((3, "amy"), (2, "bob"), (1, "cat")):
        early = Target(
            TargetKind.SUBMISSION, new_id(), author, NOW - timedelta(minutes=minutes), rules, course.challenge_id
        )
        world.targets.add(early)
    course.submit("dan", "7a")
    dans = sorted((a for a in world.assignments.items.values() if a.reviewer_id == "dan"), key=lambda a: a.author_id)
    # Of equally needy work, the oldest.
    assert [a.author_id for a in dans] == ["amy", "bob"]


def test_a_redelivered_arrival_never_puts_the_author_on_the_same_work_twice(world: FakePeerReview) -> None:
    course = Course(world, reviewers=3)
    course.publish()
    course.submit("amy", "7a")
    arrival = course.submit("bob", "7a")
    assert course.reviewers_of("amy") == {"bob"}
    # bob is owed two more reviews, but the only other work is amy's, which he is on already.
    deliver(world, arrival)
    deliver(world, arrival)
    assert [a.reviewer_id for a in course.on("amy")] == ["bob"]
    assert course.on("bob") == []


def test_a_late_submission_after_the_close_gets_its_reviewers_at_once(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    course.close()
    course.submit("dan", "7b")
    late = course.reviewers_of("dan")
    assert len(late) == 2
    assert late <= {"amy", "bob", "cat"}
    assert all(world.assignments.origins[a.id] == "allocation" for a in course.on("dan"))


def test_a_revised_submission_is_reviewed_at_its_new_version_and_an_older_version_never_wins(
    world: FakePeerReview,
) -> None:
    course = Course(world)
    course.publish()
    first = course.submit("amy", "7a")
    revised = course.revise("amy")
    assert course.target("amy").version == 2
    deliver(world, first)
    deliver(world, revised)
    target = course.target("amy")
    assert (target.version, target.status) == (2, TargetStatus.OPEN)


def test_a_withdrawal_withdraws_the_target_and_cancels_its_open_assignments_as_withdrawn(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    kept = review(world, course.assignment("cat", "amy"))
    withdrawal = course.withdraw("amy")
    assert course.target("amy").status == TargetStatus.WITHDRAWN
    statuses = {a.reviewer_id: a.status for a in course.on("amy")}
    assert statuses == {"bob": AssignmentStatus.CANCELLED, "cat": AssignmentStatus.SUBMITTED}
    declined = payloads(world, EventType.REVIEW_DECLINED)
    assert [(p["reviewer_id"], p["target_id"], p["reason"]) for p in declined] == [
        ("bob", course.submissions["amy"], "withdrawn")
    ]
    assert world.reviews.get(kept.id) == kept
    before = snapshot(world)
    deliver(world, withdrawal)
    assert snapshot(world) == before


def test_a_stale_withdrawal_of_an_older_version_is_ignored(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"))
    course.revise("amy")
    course.withdraw("amy", version=1)
    assert course.target("amy").status == TargetStatus.OPEN
    assert course.reviewers_of("amy") == {"bob"}
    assert world.log.of_type(EventType.REVIEW_DECLINED) == []


def test_a_resubmission_after_a_withdrawal_reopens_the_target_at_its_new_version(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    course.withdraw("amy")
    course.submit("amy")
    target = course.target("amy")
    assert (target.status, target.version) == (TargetStatus.OPEN, 2)
    # Those whose assignments were cancelled are never put on it again; the close finds others.
    course.submit("dan", "7a")
    course.close()
    assert course.reviewers_of("amy") == {"dan"}


def test_a_resubmission_after_a_graded_withdrawal_is_not_graded_with_the_withdrawn_versions_reviews(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    review(world, course.assignment("bob", "amy"))
    review(world, course.assignment("cat", "amy"))
    assert course.target("amy").status == TargetStatus.GRADED
    course.withdraw("amy")
    course.submit("amy")
    assert course.target("amy").version == 2
    reviews.grade_complete_targets(context=world.context(MEDIAN))
    # Nobody has reviewed version 2: no grade may be announced for it.
    assert [graded["version"] for graded in payloads(world, EventType.TARGET_GRADED)] == [1]


def test_a_graded_submission_revised_is_reviewed_afresh_by_new_reviewers_and_graded_on_their_reviews(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    first_reviewer = next(
        a.reviewer_id for a in world.assignments.of_target(TargetKind.SUBMISSION, course.target("amy").target_id)
    )
    review(world, course.assignment(first_reviewer, "amy"))
    assert course.target("amy").status == TargetStatus.GRADED
    course.revise("amy")
    reopened = course.target("amy")
    assert (reopened.status, reopened.round, reopened.grade) == (TargetStatus.OPEN, 2, None)
    # The close allocates the new version to someone who has not reviewed it before.
    news(world, EventType.CHALLENGE_CLOSED, course._challenge())
    on_target = world.assignments.of_target(TargetKind.SUBMISSION, reopened.target_id)
    current = [a for a in on_target if a.active and a.round == 2]
    assert len(current) == 1
    assert current[0].reviewer_id not in {first_reviewer, "amy"}
    review(world, current[0])
    graded = [payload for payload in payloads(world, EventType.TARGET_GRADED) if payload["author_id"] == "amy"]
    assert [payload["version"] for payload in graded] == [1, 2]
    assert [entry["reviewer_id"] for entry in graded[-1]["reviews"]] == [current[0].reviewer_id]


# ---------------------------------------------------------------------------------------------------------------
# Intake: knowledge updates


def propose(
    world: FakePeerReview, proposer: str = "pete", owner: str = "olga", tags: Sequence[str] = ("astronomy",)
) -> tuple[str, dict[str, Any]]:
    """Deliver `resource.revision_proposed`; return the revision id and the payload it came with."""
    data: dict[str, Any] = {
        "revision_id": new_id(),
        "resource_id": new_id(),
        "owner_id": owner,
        "proposer_id": proposer,
        "changed_fields": ["title"],
        "base_version": 1,
        "flagged_outdated": True,
        "changes": {"title": {"old": "Pluto, the ninth planet", "new": "Pluto, a dwarf planet"}},
        "note": "The IAU reclassified Pluto in 2006",
        "sources": ["https://example.org/iau-2006"],
        "tags": list(tags),
        "cohorts": ["7a"],
    }
    news(world, EventType.RESOURCE_REVISION_PROPOSED, data)
    return data["revision_id"], data


def verifiers_of(world: FakePeerReview, revision_id: str) -> list[Assignment]:
    return world.assignments.of_target(TargetKind.REVISION, revision_id)


def active_in_astronomy(world: FakePeerReview, *user_ids: str) -> None:
    for minutes, user_id in enumerate(user_ids):
        world.people.note_active(user_id, ["7a"], ["astronomy"], NOW - timedelta(minutes=minutes))


def test_a_proposed_revision_asks_two_verifiers_active_in_its_tags_never_its_proposer_or_the_owner(
    world: FakePeerReview,
) -> None:
    active_in_astronomy(world, "pete", "olga", "vera", "walt")
    world.people.note_active("zack", ["7a"], ["cooking"], NOW)
    revision_id, _ = propose(world)
    target = world.targets.get(TargetKind.REVISION, revision_id)
    assert target is not None
    assert (target.status, target.rules.blind, target.owner_id) == (TargetStatus.OPEN, False, "olga")
    assert {a.reviewer_id for a in verifiers_of(world, revision_id)} == {"vera", "walt"}
    assigned = payloads(world, EventType.REVIEW_ASSIGNED)
    assert {(p["target_kind"], p["target_id"]) for p in assigned} == {("revision", revision_id)}
    assert len(assigned) == 2
    # A verifier's assignment shows the change to verify.
    veras = next(a for a in verifiers_of(world, revision_id) if a.reviewer_id == "vera")
    view = assignments.get_own(veras.id, actor=actor_of("vera"), context=world.context())
    assert view.details is not None
    assert view.details["changes"]["title"]["new"] == "Pluto, a dwarf planet"


def test_a_revision_nobody_is_known_for_waits_for_the_queue(world: FakePeerReview) -> None:
    active_in_astronomy(world, "pete", "olga")
    revision_id, _ = propose(world)
    assert verifiers_of(world, revision_id) == []
    context = world.context()
    for excluded in ("pete", "olga"):
        assert assignments.next_assignment(actor=actor_of(excluded), context=context, kind=TargetKind.REVISION) is None
    claimed = assignments.next_assignment(actor=actor_of("vera"), context=context, kind=TargetKind.REVISION)
    assert claimed is not None
    assert (claimed.assignment.target_id, claimed.assignment.mode) == (revision_id, AssignmentMode.PULL)
    assert claimed.resource_id is not None


@pytest.mark.parametrize("decision", [EventType.RESOURCE_REVISION_ACCEPTED, EventType.RESOURCE_REVISION_REJECTED])
def test_a_revision_decided_elsewhere_leaves_review_and_its_open_assignments_are_cancelled(
    world: FakePeerReview, decision: EventType
) -> None:
    active_in_astronomy(world, "vera", "walt")
    revision_id, proposed = propose(world)
    decided = news(world, decision, {**proposed, "decided_by": "owner", "decider_id": "olga", "version": 2})
    target = world.targets.get(TargetKind.REVISION, revision_id)
    assert target is not None
    assert target.status == TargetStatus.DECIDED
    assert {a.status for a in verifiers_of(world, revision_id)} == {AssignmentStatus.CANCELLED}
    declined = payloads(world, EventType.REVIEW_DECLINED)
    assert sorted((p["reviewer_id"], p["reason"]) for p in declined) == [("vera", "withdrawn"), ("walt", "withdrawn")]
    before = snapshot(world)
    deliver(world, decided)
    assert snapshot(world) == before


# ---------------------------------------------------------------------------------------------------------------
# The pull queue


def test_the_queue_hands_out_the_oldest_eligible_target_with_the_fewest_reviewers(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    # amy's has two reviewers (full), bob's one, cat's none.
    context = world.context()
    first = assignments.next_assignment(actor=actor_of("eve"), context=context)
    assert first is not None
    assert (first.assignment.author_id, first.assignment.mode) == ("cat", AssignmentMode.PULL)
    assert first.assignment.due_at == world.now + timedelta(hours=72)
    assert world.assignments.origins[first.assignment.id] == "queue"
    # bob's and cat's now have one reviewer each: the older one, bob's, goes next.
    second = assignments.next_assignment(actor=actor_of("fay"), context=context)
    assert second is not None
    assert second.assignment.author_id == "bob"
    assigned = payloads(world, EventType.REVIEW_ASSIGNED)[-1]
    assert (assigned["reviewer_id"], assigned["mode"]) == ("fay", "pull")


def test_the_queue_never_hands_out_ones_own_work_nor_work_one_is_on_and_says_so_with_none(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    context = world.context()
    # cat is on amy's and bob's; the only work left short is cat's own.
    before = snapshot(world)
    assert assignments.next_assignment(actor=actor_of("cat"), context=context) is None
    assert snapshot(world) == before
    claimed = assignments.next_assignment(actor=actor_of("amy"), context=context)
    assert claimed is not None
    assert claimed.assignment.author_id in {"bob", "cat"}


def test_the_queue_serves_only_the_challenges_audience(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2, audience=("7a",))
    course.class_of(("amy", "7a"), ("bob", "7a"))
    context = world.context()
    assert assignments.next_assignment(actor=actor_of("xia", ["7b"]), context=context) is None
    claimed = assignments.next_assignment(actor=actor_of("yan", ["7b", "7a"]), context=context)
    assert claimed is not None


def test_a_lapsed_claim_expires_announces_it_and_its_target_returns_to_the_queue(world: FakePeerReview) -> None:
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"))
    context = world.context()
    claimed = assignments.next_assignment(actor=actor_of("eve"), context=context)
    assert claimed is not None
    assert assignments.next_assignment(actor=actor_of("fay"), context=context) is None
    world.now = claimed.assignment.due_at - timedelta(seconds=1)
    assert assignments.expire_lapsed_claims(context=context) == 0
    world.now = claimed.assignment.due_at
    assert assignments.expire_lapsed_claims(context=context) == 1
    expired = world.assignments.get(claimed.assignment.id)
    assert expired is not None
    assert (expired.status, expired.ended_at) == (AssignmentStatus.EXPIRED, world.now)
    declined = payloads(world, EventType.REVIEW_DECLINED)
    assert [(p["reviewer_id"], p["reason"]) for p in declined] == [("eve", "expired")]
    assert assignments.expire_lapsed_claims(context=context) == 0
    # The target is short again: someone else may claim it, but not the one whose claim lapsed.
    assert assignments.next_assignment(actor=actor_of("eve"), context=context) is None
    again = assignments.next_assignment(actor=actor_of("fay"), context=context)
    assert again is not None
    assert again.assignment.target_id == course.submissions["amy"]


def test_assignments_pushed_to_a_reviewer_never_lapse(world: FakePeerReview) -> None:
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"), ("bob", "7a"))
    world.now += timedelta(days=30)
    assert assignments.expire_lapsed_claims(context=world.context()) == 0
    assert course.assignment("bob", "amy").status == AssignmentStatus.ASSIGNED
    view = assignments.get_own(course.assignment("bob", "amy").id, actor=actor_of("bob"), context=world.context())
    assert view.late


# ---------------------------------------------------------------------------------------------------------------
# Declining


def four_with_two_reviewers(world: FakePeerReview) -> Course:
    """Return a class where amy's work has bob and cat, bob's cat and dan, cat's dan, dan's nobody."""
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"), ("dan", "7a"))
    assert (course.reviewers_of("amy"), course.reviewers_of("bob")) == ({"bob", "cat"}, {"cat", "dan"})
    assert (course.reviewers_of("cat"), course.reviewers_of("dan")) == ({"dan"}, set())
    return course


def test_only_the_assignee_declines_and_only_an_open_assignment(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    assignment = course.assignment("bob", "amy")
    context = world.context()
    before = snapshot(world)
    with pytest.raises(NotFound):
        assignments.decline(assignment.id, actor=actor_of("cat"), context=context)
    with pytest.raises(NotFound):
        assignments.decline(new_id(), actor=actor_of("bob"), context=context)
    assert snapshot(world) == before
    review(world, course.assignment("cat", "amy"))
    with pytest.raises(InvalidState):
        assignments.decline(course.assignment("cat", "amy").id, actor=actor_of("cat"), context=context)
    declined = assignments.decline(assignment.id, actor=actor_of("bob"), context=context)
    assert declined.assignment.status == AssignmentStatus.DECLINED
    with pytest.raises(InvalidState):
        assignments.decline(assignment.id, actor=actor_of("bob"), context=context)


def test_a_declined_assignment_goes_to_someone_eligible_at_once(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    events_before = len(world.log.events)
    assignments.decline(course.assignment("bob", "amy").id, actor=actor_of("bob"), context=world.context())
    # Neither amy herself, nor bob who declined, nor cat who is on it: dan.
    assert course.reviewers_of("amy") == {"cat", "dan"}
    emitted = world.log.events[events_before:]
    assert [(event.type, event.data["reviewer_id"]) for event in emitted] == [
        (EventType.REVIEW_DECLINED, "bob"),
        (EventType.REVIEW_ASSIGNED, "dan"),
    ]
    assert emitted[0].data["reason"] == "declined"
    assert world.assignments.origins[course.assignment("dan", "amy").id] == "allocation"


def test_a_declined_assignment_stays_short_when_nobody_eligible_is_left(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    assignments.decline(course.assignment("bob", "amy").id, actor=actor_of("bob"), context=world.context())
    assert course.reviewers_of("amy") == {"cat"}
    assert len(world.log.of_type(EventType.REVIEW_ASSIGNED)) == 3


def test_a_declined_verification_goes_to_another_person_active_in_the_resources_tags(world: FakePeerReview) -> None:
    active_in_astronomy(world, "vera", "walt", "xena")
    revision_id, _ = propose(world)
    first = verifiers_of(world, revision_id)[0]
    assignments.decline(first.id, actor=actor_of(first.reviewer_id), context=world.context())
    active = {a.reviewer_id for a in verifiers_of(world, revision_id) if a.active}
    assert len(active) == 2
    assert first.reviewer_id not in active


# ---------------------------------------------------------------------------------------------------------------
# Teachers: reassigning, allocating, and the allocation view


def test_the_challenges_teacher_reassigns_an_open_assignment_to_someone_new(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    world.people.note_active("eve", ["7c"], ["biology"], NOW)
    moved = assignments.reassign(course.assignment("cat", "amy").id, "eve", actor=TEACHER, context=world.context())
    assert (moved.reviewer_id, moved.reviewer_cohorts, moved.status) == ("eve", ("7c",), AssignmentStatus.ASSIGNED)
    assert world.assignments.origins[moved.id] == "teacher"
    assert course.assignment("cat", "amy").status == AssignmentStatus.CANCELLED
    assert course.reviewers_of("amy") == {"bob", "eve"}
    declined = payloads(world, EventType.REVIEW_DECLINED)
    assert [(p["reviewer_id"], p["reason"]) for p in declined] == [("cat", "reassigned")]
    assert payloads(world, EventType.REVIEW_ASSIGNED)[-1]["reviewer_id"] == "eve"
    # An admin may too.
    again = assignments.reassign(course.assignment("bob", "amy").id, "fay", actor=ADMIN, context=world.context())
    assert again.reviewer_id == "fay"


def test_reassigning_is_refused_to_others_than_the_teacher_and_to_the_author_and_past_or_present_reviewers(
    world: FakePeerReview,
) -> None:
    course = four_with_two_reviewers(world)
    assignments.decline(course.assignment("bob", "amy").id, actor=actor_of("bob"), context=world.context())
    open_one = course.assignment("cat", "amy")
    context = world.context()
    before = snapshot(world)
    for actor in (actor_of("amy"), actor_of("cat"), OTHER_TEACHER):
        with pytest.raises(Forbidden):
            assignments.reassign(open_one.id, "eve", actor=actor, context=context)
    for reviewer in ("amy", "bob", "dan", "cat"):
        with pytest.raises(InvalidField) as refused:
            assignments.reassign(open_one.id, reviewer, actor=TEACHER, context=context)
        assert refused.value.field == "reviewer_id"
    with pytest.raises(NotFound):
        assignments.reassign(new_id(), "eve", actor=TEACHER, context=context)
    assert snapshot(world) == before
    review(world, course.assignment("cat", "bob"))
    with pytest.raises(InvalidState):
        assignments.reassign(course.assignment("cat", "bob").id, "eve", actor=TEACHER, context=context)


def test_a_teacher_allocates_before_the_close_and_allocating_again_adds_nothing(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    context = world.context()
    for actor in (actor_of("amy"), OTHER_TEACHER):
        with pytest.raises(Forbidden):
            assignments.allocate_for_teacher(course.challenge_id, actor=actor, context=context)
    made = assignments.allocate_for_teacher(course.challenge_id, actor=TEACHER, context=context)
    assert len(made) == 3
    assert all(len(course.reviewers_of(author)) == 2 for author in ("amy", "bob", "cat"))
    assert all(world.assignments.origins[a.id] == "allocation" for a in made)
    before = snapshot(world)
    assert assignments.allocate_for_teacher(course.challenge_id, actor=ADMIN, context=context) == []
    assert snapshot(world) == before


def test_allocating_an_unknown_challenge_or_one_without_submissions_is_not_found(world: FakePeerReview) -> None:
    context = world.context()
    with pytest.raises(NotFound):
        assignments.allocate_for_teacher(new_id(), actor=TEACHER, context=context)
    course = Course(world)
    course.publish()
    with pytest.raises(NotFound):
        assignments.allocate_for_teacher(course.challenge_id, actor=TEACHER, context=context)


def test_a_challenges_allocation_is_shown_to_its_teacher_and_admins_only(world: FakePeerReview) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    context = world.context()
    items, total = assignments.challenge_allocation(
        course.challenge_id, actor=TEACHER, context=context, limit=10, offset=0
    )
    assert total == 3
    assert [(item.target.author_id, item.needed) for item in items] == [("amy", 0), ("bob", 1), ("cat", 2)]
    assert {a.reviewer_id for a in items[0].assignments} == {"bob", "cat"}
    page, total = assignments.challenge_allocation(course.challenge_id, actor=ADMIN, context=context, limit=1, offset=1)
    assert ([item.target.author_id for item in page], total) == (["bob"], 3)
    for actor in (actor_of("amy"), OTHER_TEACHER):
        with pytest.raises(Forbidden):
            assignments.challenge_allocation(course.challenge_id, actor=actor, context=context, limit=10, offset=0)
    with pytest.raises(NotFound):
        assignments.challenge_allocation(new_id(), actor=TEACHER, context=context, limit=10, offset=0)


def test_a_reviewer_lists_their_own_assignments_newest_first(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    world.now += timedelta(hours=1)
    claimed = assignments.next_assignment(actor=actor_of("cat"), context=world.context())
    assert claimed is not None
    assert claimed.assignment.author_id == "dan"
    context = world.context()
    items, total = assignments.list_own(actor=actor_of("cat"), context=context, limit=10, offset=0)
    assert total == 3
    assert items[0].assignment.id == claimed.assignment.id
    assert {view.assignment.author_id for view in items[1:]} == {"amy", "bob"}
    review(world, course.assignment("cat", "amy"))
    still_open, total = assignments.list_own(
        actor=actor_of("cat"),
        context=context,
        limit=10,
        offset=0,
        status=AssignmentStatus.ASSIGNED,
        challenge_id=course.challenge_id,
    )
    assert ({view.assignment.author_id for view in still_open}, total) == ({"bob", "dan"}, 2)
    page, total = assignments.list_own(actor=actor_of("cat"), context=context, limit=1, offset=1)
    assert (len(page), total) == (1, 3)
    assert page[0].assignment.id == items[1].assignment.id
    with pytest.raises(NotFound):
        assignments.get_own(course.assignment("cat", "amy").id, actor=actor_of("bob"), context=context)


# ---------------------------------------------------------------------------------------------------------------
# Reviewing


def test_only_the_assignee_reviews_and_a_second_review_answers_with_the_first(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    assignment = course.assignment("bob", "amy")
    fields = {"scores": GOOD, "comment": COMMENT}
    with pytest.raises(NotFound):
        reviews.submit_review(assignment.id, fields, actor=actor_of("cat"), context=world.context())
    first = review(world, assignment)
    assert course.assignment("bob", "amy").status == AssignmentStatus.SUBMITTED
    assert course.assignment("bob", "amy").review_id == first.id
    before = snapshot(world)
    with pytest.raises(InvalidState) as refused:
        review(world, assignment, {"Accuracy": 1, "Clarity": 1})
    assert refused.value.details["existing_id"] == first.id
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("scores", "verdict"),
    [
        ({"Accuracy": 4}, None),
        ({"Accuracy": 4, "Clarity": 4, "Style": 3}, None),
        ({"Accuracy": 6, "Clarity": 4}, None),
        ({"Accuracy": -1, "Clarity": 4}, None),
        ({}, None),
        (GOOD, "approve"),
    ],
)
def test_a_review_scores_every_criterion_of_the_rubric_within_its_range(
    world: FakePeerReview, scores: dict[str, int], verdict: str | None
) -> None:
    course = four_with_two_reviewers(world)
    assignment = course.assignment("bob", "amy")
    before = snapshot(world)
    fields: dict[str, Any] = {"scores": scores, "verdict": verdict, "comment": COMMENT}
    with pytest.raises(InvalidField):
        reviews.submit_review(assignment.id, fields, actor=actor_of("bob"), context=world.context())
    assert snapshot(world) == before


def test_a_comment_must_be_as_long_as_the_policy_says(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    assignment = course.assignment("bob", "amy")
    strict = ReviewPolicy(comment_min_length=60, aggregator="median")
    assert len(COMMENT) < 60
    with pytest.raises(InvalidField) as refused:
        review(world, assignment, comment=COMMENT, policy=strict)
    assert refused.value.field == "comment"
    with pytest.raises(InvalidField):
        # Padding does not count.
        review(world, assignment, comment=f"   {'ok':<10}   ")
    assert review(world, assignment, comment=f"  {COMMENT}  ").comment == COMMENT


def test_a_review_after_its_due_time_is_taken_and_flagged_late(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    on_time = review(world, course.assignment("cat", "bob"))
    world.now = course.assignment("bob", "amy").due_at + timedelta(seconds=1)
    late = review(world, course.assignment("bob", "amy"))
    assert (on_time.late, late.late) == (False, True)
    submitted = payloads(world, EventType.REVIEW_SUBMITTED)
    assert [(p["reviewer_id"], p["late"]) for p in submitted] == [("cat", False), ("bob", True)]


def test_review_flags_say_whether_it_came_late_from_another_cohort_and_from_a_reciprocal_pair(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=2)
    course.class_of(("amy", "7a"), ("bob", "7b"), ("cat", "7a"), ("dan", "7a"))
    course.close()
    cohort = {"amy": "7a", "bob": "7b", "cat": "7a", "dan": "7a"}
    seen: set[tuple[bool, bool]] = set()
    flags: dict[str, tuple[bool, bool, bool]] = {}
    for author in sorted(cohort):
        if author == "dan":
            # dan's reviewers are late.
            world.now = max(a.due_at for a in course.on("dan")) + timedelta(minutes=1)
        for reviewer in sorted(course.reviewers_of(author)):
            # Reciprocal: the author reviews this reviewer's work too.
            expected_reciprocal = author in course.reviewers_of(reviewer)
            given = review(world, course.assignment(reviewer, author))
            submitted = payloads(world, EventType.REVIEW_SUBMITTED)[-1]
            assert submitted["review_id"] == given.id
            assert submitted["reciprocal"] == expected_reciprocal
            assert submitted["outside_cohorts"] == given.outside_cohorts == (cohort[reviewer] != cohort[author])
            assert submitted["late"] == given.late == (author == "dan")
            assert (submitted["author_id"], submitted["tags"], submitted["challenge_id"]) == (
                author,
                ["biology"],
                course.challenge_id,
            )
            assert submitted["cohorts"] == [cohort[reviewer]]
            seen.add((expected_reciprocal, given.outside_cohorts))
            flags[given.id] = (given.late, given.outside_cohorts, expected_reciprocal)
    # The class is one where every combination of the two flags occurs.
    assert seen == {(True, True), (True, False), (False, True), (False, False)}
    # Each grade carries the same flags for each of its reviews, for the leaderboards.
    graded = payloads(world, EventType.TARGET_GRADED)
    assert len(graded) == 4
    carried = {
        entry["review_id"]: (entry["late"], entry["outside_cohorts"], entry["reciprocal"])
        for event in graded
        for entry in event["reviews"]
    }
    assert carried == flags


def test_the_review_that_completes_a_target_grades_it_and_announces_the_grade_with_every_review(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=3)
    course.class_of(*FOUR)
    given = {
        "bob": review(world, course.assignment("bob", "amy"), {"Accuracy": 5, "Clarity": 5}),
        "cat": review(world, course.assignment("cat", "amy"), {"Accuracy": 4, "Clarity": 3}),
    }
    assert course.target("amy").status == TargetStatus.OPEN
    assert world.log.of_type(EventType.TARGET_GRADED) == []
    given["dan"] = review(world, course.assignment("dan", "amy"), {"Accuracy": 3, "Clarity": 4}, policy=ReviewPolicy())
    target = course.target("amy")
    assert target.status == TargetStatus.GRADED
    assert target.grade is not None
    assert (target.grade.grade, dict(target.grade.scores)) == (0.8, {"Accuracy": 4.0, "Clarity": 4.0})
    [graded] = payloads(world, EventType.TARGET_GRADED)
    assert graded["grade"] == 0.8
    assert graded["scores"] == {"Accuracy": 4.0, "Clarity": 4.0}
    # Scores go out as floats (a median may fall between two integers), whatever the schema would coerce.
    emitted = world.log.of_type(EventType.TARGET_GRADED)[0].data
    assert all(isinstance(score, float) for score in [emitted["grade"], *emitted["scores"].values()])
    assert (graded["target_id"], graded["author_id"], graded["version"]) == (course.submissions["amy"], "amy", 1)
    assert (graded["points"], graded["cohorts"], graded["tags"]) == (30, ["7a"], ["biology"])
    assert (graded["review_count"], graded["overridden"], graded["aggregator"]) == (3, False, "median")
    shown = {entry["reviewer_id"]: entry for entry in graded["reviews"]}
    assert {user: entry["review_id"] for user, entry in shown.items()} == {u: r.id for u, r in given.items()}
    assert {user: entry["accuracy"] for user, entry in shown.items()} == {"bob": 0.8, "cat": 0.9, "dan": 0.9}
    assert {user: entry["outside_cohorts"] for user, entry in shown.items()} == {
        "bob": True,
        "cat": False,
        "dan": False,
    }
    assert not any(entry["late"] or entry["reciprocal"] or entry["collusion_suspected"] for entry in shown.values())
    # The feedback names reviewers by alias only.
    assert "Reviewer 1: " in graded["feedback"]
    assert not any(user in graded["feedback"] for user in given)
    # Each review keeps how close it came, for the reviewer model.
    assert {user: stored_review(world, r.id).accuracy for user, r in given.items()} == {
        "bob": 0.8,
        "cat": 0.9,
        "dan": 0.9,
    }


def test_a_crash_between_the_last_review_and_the_grade_is_finished_by_the_repair_with_one_grade(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=3)
    course.class_of(*FOUR)
    review(world, course.assignment("bob", "amy"))
    review(world, course.assignment("cat", "amy"))
    _crash_after_review_write(world, course.assignment("dan", "amy"), course.target("amy"))
    assert course.target("amy").status == TargetStatus.OPEN
    context = world.context(MEDIAN)
    assert reviews.grade_complete_targets(context=context) == 1
    assert reviews.grade_complete_targets(context=context) == 0
    assert course.target("amy").status == TargetStatus.GRADED
    [graded] = payloads(world, EventType.TARGET_GRADED)
    assert graded["review_count"] == 3


def test_two_graders_who_both_saw_a_target_open_announce_one_grading(world: FakePeerReview) -> None:
    # A request and the repair timer can both find a reviewed target open, and FerretDB 1.x acknowledges
    # both of two conditional writes of one document (the later overwrites the earlier): both grade it.
    course = Course(world, reviewers=3)
    course.class_of(*FOUR)
    review(world, course.assignment("bob", "amy"))
    review(world, course.assignment("cat", "amy"))
    _crash_after_review_write(world, course.assignment("dan", "amy"), course.target("amy"))
    seen_open = course.target("amy")
    context = world.context(MEDIAN)
    assert reviews.conclude(seen_open, context).status == TargetStatus.GRADED
    world.targets.items[seen_open.key] = seen_open  # the second grader's write matched the state it read
    assert reviews.conclude(seen_open, context).status == TargetStatus.GRADED
    first, second = world.log.of_type(EventType.TARGET_GRADED)
    assert first.id == second.id
    # A later grading (a teacher's binding grade) is a fact of its own.
    teacher_grade = reviews.override(
        TargetKind.SUBMISSION, seen_open.target_id, {"scores": GOOD}, actor=TEACHER, context=context
    )
    assert teacher_grade.sequence == seen_open.sequence + 2
    assert world.log.of_type(EventType.TARGET_GRADED)[-1].id != first.id


def _crash_after_review_write(world: FakePeerReview, assignment: Assignment, target: Target) -> Review:
    """Store a review with its event as `submit_review` does, and stop where the process would have died."""
    written = review_of(
        assignment,
        target,
        review_id=new_id(),
        reviewer_id=assignment.reviewer_id,
        scores=GOOD,
        verdict=None,
        comment=COMMENT,
        comment_min_length=20,
        outside_cohorts=False,
        now=world.now,
    )
    event = world.context().event(
        EventType.REVIEW_SUBMITTED,
        None,
        {
            "review_id": written.id,
            "assignment_id": assignment.id,
            "target_kind": "submission",
            "target_id": target.target_id,
            "reviewer_id": assignment.reviewer_id,
            "author_id": target.author_id,
            "challenge_id": target.challenge_id,
            "late": False,
            "outside_cohorts": False,
        },
        world.now,
    )
    return world.reviews.add(written, [event])


def test_a_review_stored_before_a_crash_is_never_expired_once_the_repair_ran(world: FakePeerReview) -> None:
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"))
    claimed = assignments.next_assignment(actor=actor_of("eve"), context=world.context())
    assert claimed is not None
    _crash_after_review_write(world, claimed.assignment, course.target("amy"))
    context = world.context(MEDIAN)
    reviews.grade_complete_targets(context=context)
    assert course.target("amy").status == TargetStatus.GRADED
    # The reviewer did review: their assignment must say so, and its claim must not lapse later.
    assert course.assignment("eve", "amy").status == AssignmentStatus.SUBMITTED
    world.now = claimed.assignment.due_at + timedelta(hours=1)
    assignments.expire_lapsed_claims(context=context)
    assert world.log.of_type(EventType.REVIEW_DECLINED) == []


def test_a_retried_review_finishes_what_a_crash_left_and_answers_with_the_stored_review(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"), ("bob", "7a"))
    stored = _crash_after_review_write(world, course.assignment("bob", "amy"), course.target("amy"))
    with pytest.raises(InvalidState) as answered:
        review(world, course.assignment("bob", "amy"))
    assert answered.value.details["existing_id"] == stored.id
    assert course.assignment("bob", "amy").status == AssignmentStatus.SUBMITTED
    assert course.target("amy").status == TargetStatus.GRADED
    assert len(world.log.of_type(EventType.TARGET_GRADED)) == 1


def test_once_submissions_close_a_class_too_small_for_the_reviewers_wanted_is_graded_with_what_it_can_give(
    world: FakePeerReview,
) -> None:
    course = Course(world, reviewers=3)
    course.class_of(("amy", "7a"), ("bob", "7a"), ("cat", "7a"))
    course.close()
    assert course.reviewers_of("amy") == {"bob", "cat"}
    review(world, course.assignment("bob", "amy"))
    assert course.target("amy").status == TargetStatus.OPEN
    review(world, course.assignment("cat", "amy"))
    assert course.target("amy").status == TargetStatus.GRADED
    assert payloads(world, EventType.TARGET_GRADED)[0]["review_count"] == 2


# ---------------------------------------------------------------------------------------------------------------
# Editing and rating


def edit(world: FakePeerReview, review_id: str, reviewer: str, scores: Mapping[str, int], comment: str) -> Review:
    fields = {"scores": dict(scores), "comment": comment}
    return reviews.edit(review_id, fields, actor=actor_of(reviewer), context=world.context(MEDIAN))


def test_a_review_is_edited_by_its_reviewer_until_its_target_is_graded(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    first = review(world, course.assignment("bob", "amy"))
    world.now += timedelta(hours=1)
    edited = edit(world, first.id, "bob", {"Accuracy": 2, "Clarity": 3}, "On second reading the sources are weak.")
    assert world.reviews.get(first.id) == edited
    assert (edited.scores, edited.comment) == ({"Accuracy": 2, "Clarity": 3}, "On second reading the sources are weak.")
    assert (edited.edited_at, edited.submitted_at) == (world.now, first.submitted_at)
    with pytest.raises(NotFound):
        edit(world, first.id, "cat", GOOD, COMMENT)
    with pytest.raises(InvalidField):
        edit(world, first.id, "bob", {"Accuracy": 9, "Clarity": 3}, COMMENT)
    with pytest.raises(InvalidField):
        edit(world, first.id, "bob", GOOD, "Too short")
    review(world, course.assignment("cat", "amy"))
    assert course.target("amy").status == TargetStatus.GRADED
    before = snapshot(world)
    with pytest.raises(InvalidState):
        edit(world, first.id, "bob", GOOD, COMMENT)
    assert snapshot(world) == before


def test_a_review_is_rated_once_by_the_author_of_the_work_from_1_to_5(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    bobs = review(world, course.assignment("bob", "amy"))
    cats = review(world, course.assignment("cat", "amy"))
    context = world.context()
    for rater in ("bob", "cat", "dan"):
        with pytest.raises(NotFound):
            reviews.rate(bobs.id, 4, actor=actor_of(rater), context=context)
    for helpfulness in (0, 6):
        with pytest.raises(InvalidField):
            reviews.rate(cats.id, helpfulness, actor=actor_of("amy"), context=context)
    with pytest.raises(NotFound):
        reviews.rate(new_id(), 4, actor=actor_of("amy"), context=context)
    rated = reviews.rate(bobs.id, 5, actor=actor_of("amy"), context=context)
    assert (rated.helpfulness, rated.rated_at) == (5, world.now)
    assert world.reviews.get(bobs.id) == rated
    before = snapshot(world)
    with pytest.raises(InvalidState):
        reviews.rate(bobs.id, 1, actor=actor_of("amy"), context=context)
    assert snapshot(world) == before
    [announced] = payloads(world, EventType.REVIEW_RATED)
    assert (announced["review_id"], announced["reviewer_id"], announced["author_id"], announced["helpfulness"]) == (
        bobs.id,
        "bob",
        "amy",
        5,
    )


# ---------------------------------------------------------------------------------------------------------------
# Who sees what of a target's reviews


def shown(world: FakePeerReview, course: Course, author: str, actor: Principal) -> reviews.TargetReviews:
    return reviews.target_reviews(
        TargetKind.SUBMISSION, course.submissions[author], actor=actor, context=world.context()
    )


def test_the_author_sees_aliases_a_reviewer_only_their_own_review_and_staff_who_reviewed(
    world: FakePeerReview,
) -> None:
    course = four_with_two_reviewers(world)
    bobs = review(world, course.assignment("bob", "amy"))

    author_view = shown(world, course, "amy", actor_of("amy"))
    assert (author_view.viewer, author_view.author_id, author_view.reviews_wanted) == (Viewer.AUTHOR, "amy", 2)
    assert [(r.id, r.reviewer, r.reviewer_id, r.mine) for r in author_view.reviews] == [
        (bobs.id, "Reviewer 1", None, False)
    ]

    reviewer_view = shown(world, course, "amy", actor_of("bob"))
    assert (reviewer_view.viewer, reviewer_view.author_id) == (Viewer.REVIEWER, None)
    assert [(r.id, r.mine, r.reviewer_id) for r in reviewer_view.reviews] == [(bobs.id, True, None)]
    # cat is on it too but has not reviewed: bob's review is not cat's to see.
    assert shown(world, course, "amy", actor_of("cat")).reviews == ()
    cats = review(world, course.assignment("cat", "amy"))
    assert [r.id for r in shown(world, course, "amy", actor_of("bob")).reviews] == [bobs.id]
    assert [r.id for r in shown(world, course, "amy", actor_of("cat")).reviews] == [cats.id]
    assert [r.reviewer for r in shown(world, course, "amy", actor_of("amy")).reviews] == ["Reviewer 1", "Reviewer 2"]

    for staff in (TEACHER, ADMIN):
        staff_view = shown(world, course, "amy", staff)
        assert staff_view.viewer == Viewer.STAFF
        assert (staff_view.author_id, [r.reviewer_id for r in staff_view.reviews]) == ("amy", ["bob", "cat"])

    for stranger in (actor_of("dan"), OTHER_TEACHER):
        with pytest.raises(NotFound):
            shown(world, course, "amy", stranger)
    with pytest.raises(NotFound):
        reviews.target_reviews(TargetKind.SUBMISSION, new_id(), actor=TEACHER, context=world.context())


def test_a_reviewer_sees_the_author_when_review_is_not_blind(world: FakePeerReview) -> None:
    course = Course(world, reviewers=1, blind=False)
    course.class_of(("amy", "7a"), ("bob", "7a"))
    assert shown(world, course, "amy", actor_of("bob")).author_id == "amy"


def _strings(value: Any) -> Iterator[str]:
    """Yield every string inside a value: dataclass fields, mapping keys and values, sequence items."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for each in dataclasses.fields(value):
            yield from _strings(getattr(value, each.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


def test_nothing_an_author_can_see_of_their_work_names_a_reviewer(world: FakePeerReview) -> None:
    course = Course(world, reviewers=3)
    reviewers = ("rev-bob-71", "rev-cat-72", "rev-dan-73")
    course.class_of(("amy", "7a"), *((user, "7b") for user in reviewers))
    course.close()
    views: list[Any] = []

    def look() -> None:
        view = shown(world, course, "amy", actor_of("amy"))
        views.append(view)
        views.append(
            TargetReviewsSchema().dump(
                {
                    "kind": view.target.kind,
                    "target_id": view.target.target_id,
                    "challenge_id": view.target.challenge_id,
                    "status": view.target.status,
                    "grade": view.target.grade,
                    "author_id": view.author_id,
                    "reviews_wanted": view.reviews_wanted,
                    "reviews": view.reviews,
                }
            )
        )

    look()
    for user in reviewers:
        review(world, course.assignment(user, "amy"))
        look()
    for written in world.reviews.of_target(TargetKind.SUBMISSION, course.submissions["amy"]):
        rated = reviews.rate(written.id, 4, actor=actor_of("amy"), context=world.context())
        views.append(ReviewSchema().dump(rated))
        look()
    reviews.override(
        TargetKind.SUBMISSION,
        course.submissions["amy"],
        {"scores": {"Accuracy": 5, "Clarity": 5}},
        actor=TEACHER,
        context=world.context(),
    )
    look()
    # What reaches the author through the challenges service: the feedback of each grade.
    views.extend(event["feedback"] for event in payloads(world, EventType.TARGET_GRADED))
    assert len(views) == 2 * 8 + 3 + 2
    leaks = {text for text in _strings(views) if any(user in text for user in reviewers)}
    assert leaks == set()
    # The scan does find a reviewer where one is shown (the teacher's view), so it can fail.
    assert any(reviewers[0] in text for text in _strings(shown(world, course, "amy", TEACHER)))


# ---------------------------------------------------------------------------------------------------------------
# Overrides


def test_the_challenges_teacher_overrides_a_grade_bindingly_and_announces_it(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    review(world, course.assignment("bob", "amy"), {"Accuracy": 2, "Clarity": 2})
    review(world, course.assignment("cat", "amy"), {"Accuracy": 2, "Clarity": 2})
    context = world.context()
    scores = {"scores": {"Accuracy": 5, "Clarity": 4}, "reason": "The sources were right after all"}
    before = snapshot(world)
    for actor in (actor_of("amy"), actor_of("bob"), OTHER_TEACHER):
        with pytest.raises(Forbidden):
            reviews.override(TargetKind.SUBMISSION, course.submissions["amy"], scores, actor=actor, context=context)
    for bad in ({"scores": {"Accuracy": 5}}, {"scores": {"Accuracy": 6, "Clarity": 4}}, {}):
        with pytest.raises(InvalidField):
            reviews.override(TargetKind.SUBMISSION, course.submissions["amy"], bad, actor=TEACHER, context=context)
    with pytest.raises(NotFound):
        reviews.override(TargetKind.SUBMISSION, new_id(), scores, actor=TEACHER, context=context)
    assert snapshot(world) == before

    overridden = reviews.override(
        TargetKind.SUBMISSION, course.submissions["amy"], scores, actor=TEACHER, context=context
    )
    assert overridden.grade is not None
    assert (overridden.grade.grade, overridden.grade.overridden_by, overridden.grade.aggregator) == (
        0.9,
        "teacher-1",
        "override",
    )
    assert course.target("amy") == overridden
    consensus, binding = payloads(world, EventType.TARGET_GRADED)
    assert (consensus["grade"], consensus["overridden"]) == (0.4, False)
    assert (binding["grade"], binding["overridden"], binding["scores"]) == (
        0.9,
        True,
        {"Accuracy": 5.0, "Clarity": 4.0},
    )
    assert binding["review_count"] == 2
    # An admin may override again; the last word stands.
    reviews.override(
        TargetKind.SUBMISSION, course.submissions["amy"], {"scores": GOOD}, actor=ADMIN, context=world.context()
    )
    assert payloads(world, EventType.TARGET_GRADED)[-1]["grade"] == 0.8


def test_an_override_before_any_review_is_binding_and_the_work_takes_no_more_reviews(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    reviews.override(
        TargetKind.SUBMISSION, course.submissions["amy"], {"scores": GOOD}, actor=TEACHER, context=world.context()
    )
    with pytest.raises(InvalidState):
        review(world, course.assignment("bob", "amy"))
    assert course.target("amy").status == TargetStatus.GRADED


CLOSE = {"close_review": True}


def test_a_teacher_closes_review_early_and_the_work_is_graded_on_the_reviews_in(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    target_id = course.submissions["amy"]
    with pytest.raises(InvalidState, match="No review"):
        reviews.override(TargetKind.SUBMISSION, target_id, CLOSE, actor=TEACHER, context=world.context())
    review(world, course.assignment("bob", "amy"))
    closed = reviews.override(TargetKind.SUBMISSION, target_id, CLOSE, actor=TEACHER, context=world.context())
    assert closed.status == TargetStatus.GRADED
    assert closed.grade is not None
    assert (closed.grade.closed_by, closed.grade.overridden_by) == (TEACHER.user_id, None)
    (graded,) = [p for p in payloads(world, EventType.TARGET_GRADED) if p["target_id"] == target_id]
    assert (graded["review_count"], graded["overridden"]) == (1, False)
    # cat's open assignment ends: the work takes no more reviews.
    assert course.assignment("cat", "amy").status == AssignmentStatus.CANCELLED
    with pytest.raises(InvalidState):
        review(world, course.assignment("cat", "amy"))


# ---------------------------------------------------------------------------------------------------------------
# Verifying knowledge updates


def verify(world: FakePeerReview, verdicts: Sequence[str]) -> str:
    """Propose a revision to vera and walt, who give these verdicts in turn; return the revision's id."""
    active_in_astronomy(world, "vera", "walt")
    revision_id, _ = propose(world)
    assigned = sorted(verifiers_of(world, revision_id), key=lambda a: a.reviewer_id)
    for assignment, verdict in zip(assigned, verdicts, strict=False):
        review(world, assignment, verdict=verdict, comment=f"I checked the IAU source and {verdict}.")
    return revision_id


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_two_verifiers_agreeing_decide_a_revision(world: FakePeerReview, verdict: str) -> None:
    revision_id = verify(world, [verdict])
    target = world.targets.get(TargetKind.REVISION, revision_id)
    assert target is not None
    assert target.status == TargetStatus.OPEN
    assert world.log.of_type(EventType.REVISION_VERIFIED) == []
    revision_id = verify(world, [verdict, verdict])
    target = world.targets.get(TargetKind.REVISION, revision_id)
    assert target is not None
    assert target.status == TargetStatus.DECIDED
    [verified] = payloads(world, EventType.REVISION_VERIFIED)
    assert (verified["revision_id"], verified["verdict"], verified["decided_by_teacher"]) == (
        revision_id,
        verdict,
        None,
    )
    assert sorted(verified["verifier_ids"]) == ["vera", "walt"]
    assert verified["dissenter_ids"] == []
    assert world.log.of_type(EventType.TARGET_GRADED) == []


def test_split_verifiers_leave_a_tie_that_a_teacher_breaks(world: FakePeerReview) -> None:
    revision_id = verify(world, ["approve", "reject"])
    target = world.targets.get(TargetKind.REVISION, revision_id)
    assert target is not None
    assert target.status == TargetStatus.TIED
    assert world.log.of_type(EventType.REVISION_VERIFIED) == []
    context = world.context()
    with pytest.raises(Forbidden):
        reviews.override(
            TargetKind.REVISION, revision_id, {"verdict": "approve"}, actor=actor_of("vera"), context=context
        )
    with pytest.raises(InvalidField):
        reviews.override(TargetKind.REVISION, revision_id, {"scores": GOOD}, actor=OTHER_TEACHER, context=context)
    decided = reviews.override(
        TargetKind.REVISION,
        revision_id,
        {"verdict": "reject", "reason": "The source is a blog"},
        actor=OTHER_TEACHER,
        context=context,
    )
    assert decided.status == TargetStatus.DECIDED
    [verified] = payloads(world, EventType.REVISION_VERIFIED)
    assert (verified["verdict"], verified["decided_by_teacher"], verified["reasons"]) == (
        "reject",
        "teacher-2",
        ["The source is a blog"],
    )
    with pytest.raises(InvalidState):
        reviews.override(TargetKind.REVISION, revision_id, {"verdict": "approve"}, actor=ADMIN, context=context)


def test_a_teachers_verdict_on_a_revision_still_under_verification_ends_its_open_verifications(
    world: FakePeerReview,
) -> None:
    active_in_astronomy(world, "vera", "walt")
    revision_id, proposed = propose(world)
    reviews.override(TargetKind.REVISION, revision_id, {"verdict": "approve"}, actor=TEACHER, context=world.context())
    # The challenges service then accepts the revision; peer review hears of it.
    news(
        world,
        EventType.RESOURCE_REVISION_ACCEPTED,
        {**proposed, "decided_by": "teacher", "decider_id": "teacher-1", "version": 2},
    )
    assert {a.status for a in verifiers_of(world, revision_id)} == {AssignmentStatus.CANCELLED}
    assert sorted(p["reviewer_id"] for p in payloads(world, EventType.REVIEW_DECLINED)) == ["vera", "walt"]


def test_a_teacher_who_may_break_a_tie_reads_the_verifiers_reviews(world: FakePeerReview) -> None:
    revision_id = verify(world, ["approve", "reject"])
    shown_to_teacher = reviews.target_reviews(
        TargetKind.REVISION, revision_id, actor=OTHER_TEACHER, context=world.context()
    )
    assert sorted(str(r.verdict) for r in shown_to_teacher.reviews) == ["approve", "reject"]


# ---------------------------------------------------------------------------------------------------------------
# Reviewers' records and collusion


def test_a_reviewers_record_is_shown_to_them_teachers_and_admins(world: FakePeerReview) -> None:
    course = four_with_two_reviewers(world)
    review(world, course.assignment("bob", "amy"), {"Accuracy": 5, "Clarity": 5})
    world.now = course.assignment("cat", "amy").due_at + timedelta(hours=1)
    review(world, course.assignment("cat", "amy"), {"Accuracy": 3, "Clarity": 3})
    reviews.rate(course.assignment("bob", "amy").review_id or "", 4, actor=actor_of("amy"), context=world.context())
    context = world.context()
    for actor in (actor_of("bob"), TEACHER, OTHER_TEACHER, ADMIN, SERVICE):
        record = reviews.reviewer_record("bob", actor=actor, context=context)
        assert (record.review_count, record.graded_count, record.late_count) == (1, 1, 0)
        assert (record.mean_accuracy, record.mean_helpfulness) == (0.8, 4.0)
        assert 0 < record.reliability.trust < 1
    assert reviews.reviewer_record("cat", actor=actor_of("cat"), context=context).late_count == 1
    for actor in (actor_of("amy"), actor_of("cat")):
        with pytest.raises(Forbidden):
            reviews.reviewer_record("bob", actor=actor, context=context)


def graded_target(world: FakePeerReview, challenge_id: str, author: str, scores: Mapping[str, int]) -> list[str]:
    """Put a target of the author under review by the given reviewers, each scoring it alike on both criteria."""
    target = Target(
        kind=TargetKind.SUBMISSION,
        target_id=new_id(),
        author_id=author,
        created_at=world.now,
        rules=ReviewRules(reviewers=len(scores), rubric=(Criterion("Accuracy", 5), Criterion("Clarity", 5))),
        challenge_id=challenge_id,
        owner_id=TEACHER.user_id,
        author_cohorts=("7a",),
        tags=("biology",),
        points=30,
    )
    world.targets.add(target)
    context = world.context(MEDIAN)
    made = assignments.create_assignments(
        [(target, Person(reviewer, frozenset({"7a"}))) for reviewer in scores],
        mode=AssignmentMode.PUSH,
        origin="teacher",
        context=context,
    )
    given = [
        review(
            world, assignment, {"Accuracy": scores[assignment.reviewer_id], "Clarity": scores[assignment.reviewer_id]}
        )
        for assignment in made
    ]
    return [item.id for item in given]


def test_a_pair_generous_to_each_other_is_suspected_and_their_reviews_are_marked(world: FakePeerReview) -> None:
    challenge_id = new_id()
    bobs_of_amy = graded_target(world, challenge_id, "amy", {"bob": 5, "nia": 2, "ola": 2})
    amys_of_bob = graded_target(world, challenge_id, "bob", {"amy": 5, "nia": 2, "ola": 2})
    graded_target(world, challenge_id, "cat", {"nia": 3, "ola": 3, "amy": 3})
    [suspicion] = reviews.suspected_collusion(challenge_id, world.context())
    assert suspicion.people == ("amy", "bob")
    assert set(suspicion.review_ids) == {bobs_of_amy[0], amys_of_bob[0]}
    first, second, third = payloads(world, EventType.TARGET_GRADED)
    # The pair shows only once both generous reviews are graded.
    assert not any(entry["collusion_suspected"] for entry in first["reviews"])
    marked = {entry["reviewer_id"]: entry["collusion_suspected"] for entry in second["reviews"]}
    assert marked == {"amy": True, "nia": False, "ola": False}
    assert not any(entry["collusion_suspected"] for entry in third["reviews"])


def test_a_ring_of_three_generous_round_the_ring_is_suspected(world: FakePeerReview) -> None:
    challenge_id = new_id()
    graded_target(world, challenge_id, "amy", {"cat": 5, "nia": 2, "ola": 2})
    graded_target(world, challenge_id, "bob", {"amy": 5, "nia": 2, "ola": 2})
    graded_target(world, challenge_id, "cat", {"bob": 5, "nia": 2, "ola": 2})
    suspicions = reviews.suspected_collusion(challenge_id, world.context())
    assert [suspicion.people for suspicion in suspicions] == [("amy", "bob", "cat")]
    assert len(suspicions[0].review_ids) == 3
    assert reviews.suspected_collusion(new_id(), world.context()) == []


def test_generous_reviews_that_are_not_returned_are_not_suspected(world: FakePeerReview) -> None:
    challenge_id = new_id()
    graded_target(world, challenge_id, "amy", {"bob": 5, "nia": 2, "ola": 2})
    graded_target(world, challenge_id, "bob", {"amy": 2, "nia": 2, "ola": 2})
    assert reviews.suspected_collusion(challenge_id, world.context()) == []


# ---------------------------------------------------------------------------------------------------------------
# Windows of the queue and of the repair


def older_open_targets(world: FakePeerReview, count: int, *, reviewed_by_a_peer: bool) -> None:
    """Store `count` open targets of a day ago, each with its one reviewer assigned if asked (none reviewed)."""
    challenge_id = new_id()
    world.challenges.note(challenge_id, TEACHER.user_id)
    rules = ReviewRules(reviewers=1, rubric=(Criterion("Accuracy", 5), Criterion("Clarity", 5)))
    made = [
        Target(TargetKind.SUBMISSION, new_id(), f"learner-{index}", NOW - timedelta(days=1), rules, challenge_id)
        for index in range(count)
    ]
    for target in made:
        world.targets.add(target)
    if reviewed_by_a_peer:
        pairs = [(target, Person(f"learner-{(index + 1) % count}")) for index, target in enumerate(made)]
        assignments.create_assignments(pairs, mode=AssignmentMode.PUSH, origin="allocation", context=world.context())


def test_the_queue_finds_work_short_of_reviewers_behind_many_older_targets_that_are_fully_assigned(
    world: FakePeerReview,
) -> None:
    # Classes that closed and wait for their reviews: every older target has the one reviewer it wants.
    older_open_targets(world, assignments.QUEUE_WINDOW, reviewed_by_a_peer=True)
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"))
    claimed = assignments.next_assignment(actor=actor_of("eve"), context=world.context())
    assert claimed is not None
    assert claimed.assignment.author_id == "amy"


def test_the_repair_grades_complete_work_behind_a_thousand_older_open_targets(world: FakePeerReview) -> None:
    older_open_targets(world, 1000, reviewed_by_a_peer=False)
    course = Course(world, reviewers=1)
    course.class_of(("amy", "7a"), ("bob", "7a"))
    _crash_after_review_write(world, course.assignment("bob", "amy"), course.target("amy"))
    reviews.grade_complete_targets(context=world.context(MEDIAN))
    assert course.target("amy").status == TargetStatus.GRADED


# ---------------------------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda wanted: st.tuples(
            st.just(wanted),
            st.lists(st.sampled_from(["7a", "7b", "7c"]), min_size=wanted + 1, max_size=wanted + 3),
            st.randoms(use_true_random=False),
            st.integers(min_value=0, max_value=1),
        )
    )
)
def test_any_arrivals_then_a_close_give_every_submission_its_reviewers_never_its_author_nor_anyone_twice(
    case: tuple[int, list[str], random.Random, int],
) -> None:
    wanted, cohorts, rng, late = case
    world = FakePeerReview(NOW)
    course = Course(world, reviewers=wanted)
    course.publish()
    learners = [f"p{index}" for index in range(len(cohorts))]
    rng.shuffle(learners)
    on_time = learners[: len(learners) - late]
    arrivals = []
    for user_id in on_time:
        arrivals.append(course.submit(user_id, cohorts[int(user_id[1:])]))
        if rng.random() < 0.3:
            deliver(world, rng.choice(arrivals))
    close = course.close()
    for user_id in learners[len(on_time) :]:
        course.submit(user_id, cohorts[int(user_id[1:])])
    deliver(world, close)
    for event in arrivals:
        deliver(world, event)

    pairs = [(a.target_key, a.reviewer_id) for a in world.assignments.items.values()]
    assert len(pairs) == len(set(pairs))
    for author in learners:
        reviewers_on = course.reviewers_of(author)
        assert len(reviewers_on) == wanted
        assert author not in reviewers_on
    assert len(world.log.of_type(EventType.REVIEW_ASSIGNED)) == wanted * len(learners)
    check_payloads(world)
