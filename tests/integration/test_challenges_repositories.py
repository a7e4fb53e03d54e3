"""One contract for the challenges service's storage, run over MongoDB (FerretDB) and over the in-memory fakes.

The use cases' unit tests run on the fakes; these tests are what entitles them to: every condition a
use case relies on (versions, unique keys, pinned reads, a decision recorded once) holds in both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from services.challenges.bootstrap import build
from services.challenges.domain import revisions as revision_rules
from services.challenges.domain import submissions as submission_rules
from services.challenges.domain.challenges import ChallengeKind, ChallengeQuery, ChallengeSort, ChallengeStatus
from services.challenges.domain.errors import DuplicateResource
from services.challenges.domain.resources import (
    Decision,
    FlagReason,
    FreshnessPolicy,
    ResourceQuery,
    ResourceSort,
    add_flag,
)
from services.challenges.domain.revisions import FieldChange, RevisionStatus
from services.challenges.domain.submissions import DuplicateSubmission, Grade, SubmissionQuery, SubmissionStatus
from services.challenges.usecases.context import (
    ChallengeRepository,
    ResourceRepository,
    RevisionRepository,
    SubmissionRepository,
)
from shared.contracts.events import Event, EventType
from tests.builders import NOW, make_challenge, make_flag, make_resource, make_revision, make_submission
from tests.conftest import SettingsFactory
from tests.fakes.challenges import EventLog, FakeWorld

pytestmark = pytest.mark.integration

OWNER_DECIDES = Decision(decided_by=None, decider_id="alice")
POLICY = FreshnessPolicy()


@dataclass
class Storage:
    """One implementation of the four repositories, and the events its writes dispatched."""

    challenges: ChallengeRepository
    submissions: SubmissionRepository
    resources: ResourceRepository
    revisions: RevisionRepository
    log: EventLog


@pytest.fixture(params=["mongo", "fake"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    """Return the MongoDB repositories on FerretDB, or the fakes."""
    if request.param == "fake":
        world = FakeWorld(NOW)
        yield Storage(world.challenges, world.submissions, world.resources, world.revisions, world.log)
        return
    settings: SettingsFactory = request.getfixturevalue("real_settings")
    dependencies = build(settings("challenges"), freshness=POLICY)
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
        repositories.challenges, repositories.submissions, repositories.resources, repositories.revisions, log
    )
    dependencies.runtime.mongo.close()


def an_event(event_type: EventType = EventType.RESOURCE_SHARED) -> Event:
    return Event(type=event_type, producer="challenges", actor_id="alice", data={}, occurred_at=NOW)


# ---------------------------------------------------------------------------------------------------------------
# Challenges


def test_a_challenges_own_points_for_rules_are_stored_and_read_back(storage: Storage) -> None:
    # Rule names hold dots, which MongoDB field names cannot: the store keeps them as values.
    challenge = make_challenge(rule_points={"review.submitted": 15, "resource.shared": 0})
    storage.challenges.add(challenge)
    assert storage.challenges.get(challenge.id) == challenge


def test_a_challenge_saves_only_over_the_version_it_was_read_at(storage: Storage) -> None:
    challenge = make_challenge(status=ChallengeStatus.DRAFT, published_at=None)
    storage.challenges.add(challenge)
    edited = replace(challenge, title="Edited", version=2)
    event = an_event(EventType.CHALLENGE_PUBLISHED)
    assert storage.challenges.save(edited, 1, [event])
    assert not storage.challenges.save(replace(challenge, title="Lost", version=2), 1, [an_event()])
    assert storage.challenges.get(challenge.id) == edited
    assert [recorded.id for recorded in storage.log.events] == [event.id]


def test_challenges_are_found_by_status_as_of_now_audience_and_openness(storage: Storage) -> None:
    ended = make_challenge(title="b", ends_at=NOW - timedelta(minutes=1), cohorts=("7a",))
    future = make_challenge(title="a", starts_at=NOW + timedelta(days=1), kind=ChallengeKind.RESOURCE)
    running = make_challenge(title="c", ends_at=None, cohorts=("7b",), tags=("maths",))
    draft = make_challenge(title="d", status=ChallengeStatus.DRAFT, published_at=None, owner_id="teacher-2")
    for challenge in (ended, future, running, draft):
        storage.challenges.add(challenge)

    def titles(**criteria: Any) -> list[str]:
        items, total = storage.challenges.search(ChallengeQuery(now=NOW, **criteria), limit=10, offset=0)
        assert total == len(items)
        return [challenge.title for challenge in items]

    assert titles(statuses=(ChallengeStatus.CLOSED,)) == ["b"]
    assert titles(statuses=(ChallengeStatus.PUBLISHED,), sort=ChallengeSort.TITLE) == ["a", "c"]
    assert titles(open_now=True) == ["c"]
    assert titles(open_now=False, sort=ChallengeSort.TITLE) == ["a", "b", "d"]
    assert titles(open_to_cohorts=("7a",), sort=ChallengeSort.TITLE) == ["a", "b", "d"]
    assert titles(cohort="7b", sort=ChallengeSort.TITLE) == ["a", "c", "d"]
    assert titles(tag="maths") == ["c"]
    # A learner asking for drafts asks for no status they may see: nothing matches (and the query is valid).
    assert titles(statuses=()) == []
    assert titles(kind=ChallengeKind.RESOURCE) == ["a"]
    assert titles(owner_id="teacher-2") == ["d"]
    # Equal ends are ordered by id (creation); challenges without an end come last.
    assert titles(sort=ChallengeSort.ENDING_SOONEST) == ["b", "a", "d", "c"]
    assert titles(sort=ChallengeSort.ENDING_LATEST) == ["c", "d", "a", "b"]
    assert storage.challenges.due_to_close(NOW, 10) == [ended]


# ---------------------------------------------------------------------------------------------------------------
# Submissions


def test_a_second_submission_of_a_learner_to_a_challenge_is_refused_naming_the_first(storage: Storage) -> None:
    challenge = make_challenge()
    first = make_submission(challenge)
    storage.submissions.add(first, [an_event(EventType.SUBMISSION_SUBMITTED)])
    with pytest.raises(DuplicateSubmission) as refused:
        storage.submissions.add(make_submission(challenge), [an_event(EventType.SUBMISSION_SUBMITTED)])
    assert refused.value.existing_id == first.id
    assert storage.submissions.find_by_author(challenge.id, "alice") == first
    assert len(storage.log.events) == 1


def test_a_submission_saves_only_as_it_was_read_and_keeps_every_version(storage: Storage) -> None:
    challenge = make_challenge()
    first = make_submission(challenge)
    storage.submissions.add(first)
    mine = submission_rules.revise(first, challenge, "mine", (), NOW)
    theirs = submission_rules.revise(first, challenge, "theirs", (), NOW)
    assert storage.submissions.save(mine, expected_version=1, was_withdrawn=False)
    assert not storage.submissions.save(theirs, expected_version=1, was_withdrawn=False)
    withdrawn = submission_rules.withdraw(mine, challenge, NOW)
    assert not storage.submissions.save(withdrawn, expected_version=2, was_withdrawn=True)
    assert storage.submissions.save(withdrawn, expected_version=2, was_withdrawn=False)
    assert [version.content for version in storage.submissions.versions(first.id)] == [first.content, "mine"]
    assert storage.submissions.submitted_challenges("alice", [challenge.id]) == set()
    # A revision read before that withdrawal does not overwrite it.
    late = submission_rules.revise(mine, challenge, "late", (), NOW)
    assert not storage.submissions.save(late, expected_version=2, was_withdrawn=False)
    stored = storage.submissions.get(first.id)
    assert stored is not None
    assert (stored.status, stored.content) == (SubmissionStatus.WITHDRAWN, "mine")


def test_a_grade_is_stored_only_over_the_grade_and_status_it_was_read_with(storage: Storage) -> None:
    submission = make_submission()
    storage.submissions.add(submission)
    grade = Grade(grade=0.8, graded_at=NOW, event_id="e1", scores={"Accuracy": 4})
    graded = submission_rules.record_grade(submission, grade)
    assert graded is not None
    assert storage.submissions.save_grade(submission, graded)
    later = submission_rules.record_grade(submission, replace(grade, event_id="e2", graded_at=NOW + timedelta(1)))
    assert later is not None
    assert not storage.submissions.save_grade(submission, later)  # read before the first grade landed
    stored = storage.submissions.get(submission.id)
    assert stored is not None
    assert (stored.status, stored.grade) == (SubmissionStatus.GRADED, grade)


def test_reviewers_are_added_once_and_unknown_submissions_say_so(storage: Storage) -> None:
    submission = make_submission()
    storage.submissions.add(submission)
    assert storage.submissions.add_reviewer(submission.id, "carol")
    assert storage.submissions.add_reviewer(submission.id, "carol")
    assert not storage.submissions.add_reviewer("0" * 24, "carol")
    assert storage.submissions.get(submission.id) == replace(submission, reviewer_ids=("carol",))


def test_a_revoked_reviewer_never_regains_access_whichever_event_comes_first(storage: Storage) -> None:
    submission = make_submission()
    storage.submissions.add(submission)
    assert storage.submissions.add_reviewer(submission.id, "carol")
    assert storage.submissions.remove_reviewer(submission.id, "carol")
    assert storage.submissions.remove_reviewer(submission.id, "carol")
    # review.declined may overtake review.assigned: the late assignment must not grant access again.
    assert storage.submissions.remove_reviewer(submission.id, "dave")
    assert storage.submissions.add_reviewer(submission.id, "dave")
    assert storage.submissions.add_reviewer(submission.id, "erin")
    stored = storage.submissions.get(submission.id)
    assert stored is not None
    assert stored.reviewer_ids == ("erin",)
    assert not storage.submissions.remove_reviewer("0" * 24, "carol")


def test_submissions_are_listed_newest_first_by_challenge_author_owner_and_status(storage: Storage) -> None:
    challenge, other = make_challenge(), make_challenge(owner_id="teacher-2")
    older = make_submission(challenge, "alice", created_at=NOW - timedelta(hours=3))
    newer = make_submission(challenge, "bob", created_at=NOW - timedelta(hours=2))
    elsewhere = make_submission(other, "alice", status=SubmissionStatus.WITHDRAWN)
    for submission in (older, newer, elsewhere):
        storage.submissions.add(submission)

    def found(**criteria: Any) -> list[str]:
        return [s.id for s in storage.submissions.search(SubmissionQuery(**criteria), limit=10, offset=0)[0]]

    assert found(challenge_id=challenge.id) == [newer.id, older.id]
    assert found(author_id="alice", status=SubmissionStatus.WITHDRAWN) == [elsewhere.id]
    assert found(challenge_owner_id="teacher-2") == [elsewhere.id]


# ---------------------------------------------------------------------------------------------------------------
# Resources


def test_a_resource_with_a_taken_canonical_url_is_refused_naming_the_owner_of_it(storage: Storage) -> None:
    first = make_resource()
    storage.resources.add(first, [an_event()])
    with pytest.raises(DuplicateResource) as refused:
        storage.resources.add(make_resource(url=first.url), [an_event()])
    assert refused.value.existing_id == first.id
    assert storage.resources.find_by_canonical_url(first.canonical_url) == first
    assert len(storage.log.events) == 1


def test_an_endorsement_is_counted_once_per_person_and_never_for_the_owner(storage: Storage) -> None:
    resource = make_resource()
    storage.resources.add(resource)
    assert storage.resources.endorse(resource.id, "bob", [an_event(EventType.RESOURCE_ENDORSED)]) == 1
    assert storage.resources.endorse(resource.id, "carol", [an_event(EventType.RESOURCE_ENDORSED)]) == 2
    assert storage.resources.endorse(resource.id, "bob", [an_event(EventType.RESOURCE_ENDORSED)]) is None
    assert storage.resources.endorse(resource.id, "alice", [an_event(EventType.RESOURCE_ENDORSED)]) is None
    assert storage.resources.endorse("0" * 24, "bob", [an_event(EventType.RESOURCE_ENDORSED)]) is None
    assert storage.resources.has_endorsed(resource.id, "bob")
    assert not storage.resources.has_endorsed(resource.id, "alice")
    stored = storage.resources.get(resource.id)
    assert stored is not None
    assert stored.endorsement_count == 2
    assert len(storage.log.events) == 2


def test_a_flag_is_added_only_to_the_flags_it_was_read_with(storage: Storage) -> None:
    resource = make_resource()
    storage.resources.add(resource)
    first, second = make_flag(user_id="bob"), make_flag(FlagReason.BROKEN, user_id="carol")
    assert storage.resources.add_flag(resource, add_flag(resource, first), first, [an_event()])
    assert not storage.resources.add_flag(resource, add_flag(resource, second), second, [an_event()])
    stored = storage.resources.get(resource.id)
    assert stored is not None
    assert stored.flags == (first,)
    assert storage.resources.add_flag(stored, add_flag(stored, second), second, [an_event()])
    flagged = storage.resources.search(ResourceQuery(now=NOW, flag=FlagReason.BROKEN), limit=10, offset=0)[0]
    assert [item.id for item in flagged] == [resource.id]


@pytest.mark.parametrize("first", ["accept", "reject"])
@pytest.mark.parametrize("second", ["accept", "reject"])
def test_a_revision_is_decided_on_its_resource_once(storage: Storage, first: str, second: str) -> None:
    resource = make_resource()
    storage.resources.add(resource)
    revision = make_revision(resource)

    def decided(how: str) -> Any:
        if how == "accept":
            return revision_rules.apply_revision(resource, revision, OWNER_DECIDES, NOW, POLICY)
        return revision_rules.reject_revision(resource, revision, OWNER_DECIDES, NOW)

    assert storage.resources.record_decision(resource, decided(first), [an_event()])
    assert not storage.resources.record_decision(resource, decided(second), [an_event()])
    stored = storage.resources.get(resource.id)
    assert stored is not None
    record = stored.decision_on(revision.id)
    assert record is not None
    assert record.accepted == (first == "accept")
    assert stored.version == (2 if first == "accept" else 1)
    assert len(storage.log.events) == 1


def test_an_acceptance_needs_the_version_and_flags_it_was_read_with(storage: Storage) -> None:
    resource = make_resource()
    storage.resources.add(resource)
    flag = make_flag()
    read = storage.resources.get(resource.id)
    assert read is not None
    storage.resources.add_flag(read, add_flag(read, flag), flag, [])
    accepted = revision_rules.apply_revision(resource, make_revision(resource), OWNER_DECIDES, NOW, POLICY)
    assert not storage.resources.record_decision(resource, accepted, [an_event()])
    rejected = revision_rules.reject_revision(resource, make_revision(resource), OWNER_DECIDES, NOW)
    assert storage.resources.record_decision(resource, rejected, [an_event()])
    stored = storage.resources.get(resource.id)
    assert stored is not None
    assert (stored.version, stored.flags) == (1, (flag,))


def test_an_accepted_url_another_resource_has_is_refused_naming_it(storage: Storage) -> None:
    taken, resource = make_resource(), make_resource()
    storage.resources.add(taken)
    storage.resources.add(resource)
    revision = make_revision(resource, changes={"url": FieldChange(old=resource.url, new=taken.url)})
    accepted = revision_rules.apply_revision(resource, revision, OWNER_DECIDES, NOW, POLICY)
    with pytest.raises(DuplicateResource) as refused:
        storage.resources.record_decision(resource, accepted, [an_event()])
    assert refused.value.existing_id == taken.id
    assert storage.resources.get(resource.id) == resource
    assert storage.log.events == []


def test_resources_are_found_by_tag_text_freshness_and_flags_in_the_order_asked(storage: Storage) -> None:
    stale = make_resource(title="Pluto basics", tags=("astronomy",), endorsement_count=0)
    fresh = make_resource(
        title="Mars",
        summary="The red PLUTO-free planet",
        tags=("mars",),
        created_at=NOW - timedelta(days=1),
        last_verified_at=NOW - timedelta(days=1),
        review_by=NOW + timedelta(days=300),
        owner_id="bob",
    )
    for resource in (stale, fresh):
        storage.resources.add(resource)
    storage.resources.endorse(fresh.id, "carol", [])

    def found(**criteria: Any) -> list[str]:
        return [r.title for r in storage.resources.search(ResourceQuery(now=NOW, **criteria), limit=10, offset=0)[0]]

    assert found() == ["Mars", "Pluto basics"]
    assert found(text="pluto") == ["Mars", "Pluto basics"]
    assert found(text="basics", tag="astronomy") == ["Pluto basics"]
    assert found(stale=True) == ["Pluto basics"]
    assert found(stale=False, owner_id="bob") == ["Mars"]
    assert found(flagged=True) == []
    assert found(sort=ResourceSort.STALENESS) == ["Pluto basics", "Mars"]
    assert found(sort=ResourceSort.FRESHNESS) == ["Mars", "Pluto basics"]
    assert found(sort=ResourceSort.ENDORSEMENTS) == ["Mars", "Pluto basics"]


# ---------------------------------------------------------------------------------------------------------------
# Revisions


def test_a_revision_is_marked_decided_once_and_listed_newest_first(storage: Storage) -> None:
    resource = make_resource()
    older = make_revision(resource, created_at=NOW - timedelta(hours=3))
    newer = make_revision(resource, proposer_id="dave")
    storage.revisions.add(older, [an_event(EventType.RESOURCE_REVISION_PROPOSED)])
    storage.revisions.add(newer)
    assert storage.revisions.pending_of(resource.id, "carol") == older
    after = revision_rules.reject_revision(resource, older, OWNER_DECIDES, NOW)
    decided = revision_rules.decided(older, after.decisions[-1])
    assert storage.revisions.mark_decided(decided)
    assert not storage.revisions.mark_decided(decided)
    assert storage.revisions.pending_of(resource.id, "carol") is None
    assert storage.revisions.get(older.id) == decided
    items, total = storage.revisions.of_resource(resource.id, status=None, limit=10, offset=0)
    assert ([item.id for item in items], total) == ([newer.id, older.id], 2)
    pending, _ = storage.revisions.of_resource(resource.id, status=RevisionStatus.PENDING, limit=10, offset=0)
    assert [item.id for item in pending] == [newer.id]
