"""Peer review over HTTP on FerretDB: every endpoint's answers, what each write enqueues, and blind review.

The world arrives as the challenges service's events (tests/integration/peer_review_world.py); everything
after that goes through the API, and what peer review announces is read from the `challenges` RQ queue. The
rules behind the answers (allocation, consensus) are unit-tested in tests/unit/test_peer_review_*.py; who gets
which status on every endpoint is in test_peer_review_access.py, hostile input in test_peer_review_bad_input.py.

Give-to-get in a class of four (reviewers_per_submission=2, arriving in the order ann, ben, cat, dan) gives:
ben -> ann's; cat -> ann's and ben's; dan -> ben's and cat's. So ann's and ben's submissions have their two
reviewers, cat's needs one more, dan's two.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from devstack.servers import RedisServer
from tests.factories import bearer
from tests.integration import api
from tests.integration.peer_review_world import (
    ADMIN,
    AUTHOR,
    COMMENT,
    OTHER_LEARNER,
    OWNER_TEACHER,
    REVIEWER,
    Classroom,
    PeerReviewHost,
    Unchanged,
    build_world,
    hosted_peer_review,
    review_body,
    verdict_body,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
FOUR = ("ann", "ben", "cat", "dan")


@pytest.fixture(scope="module")
def review_host(
    redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any
) -> Iterator[PeerReviewHost]:
    """Return this module's peer-review app on FerretDB (mongo_client: the session drops its databases)."""
    with hosted_peer_review(redis_server.url, mongo_server_url, database_prefix) as host:
        yield host


@pytest.fixture
def unchanged(review_host: PeerReviewHost) -> Iterator[Unchanged]:
    """Return the module's shared world (build_world, on the real clock) and a snapshot taken before the test."""
    with review_host.shared() as view:
        yield view


@pytest.fixture
def classroom(review_host: PeerReviewHost) -> Classroom:
    """Return an empty classroom whose clock stands at NOW."""
    classroom = review_host.empty_classroom()
    classroom.set_clock(NOW)
    return classroom


@dataclass(frozen=True)
class Class:
    """A challenge and its submitters: each one's submission and token."""

    challenge_id: str
    submissions: dict[str, str]
    headers: dict[str, dict[str, str]]

    def submission(self, name: str) -> str:
        """Return the id of this learner's submission."""
        return self.submissions[name]


def _class(classroom: Classroom, names: tuple[str, ...] = FOUR, **challenge: Any) -> Class:
    """Publish a challenge (two reviewers each unless told) and deliver each learner's submission in order."""
    challenge.setdefault("reviewers", 2)
    challenge_id = classroom.publish_challenge(**challenge)
    headers = {name: bearer(name, "learner", cohorts=("7a",)) for name in names}
    submissions = {name: classroom.submit(challenge_id, name) for name in names}
    return Class(challenge_id, submissions, headers)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _types(classroom: Classroom) -> list[str]:
    return [envelope["type"] for envelope in classroom.enqueued()]


def _reviews_of(client: FlaskClient, target_id: str, headers: dict[str, str], kind: str = "submission") -> Any:
    return api.ok(client.get(f"/targets/{kind}/{target_id}/reviews", headers=headers))


# ---------------------------------------------------------------------------------------------------------------
# GET /assignments


def test_each_reviewer_lists_exactly_their_own_assignments(classroom: Classroom) -> None:
    group = _class(classroom)
    expected = {
        "ann": set(),
        "ben": {group.submission("ann")},
        "cat": {group.submission("ann"), group.submission("ben")},
        "dan": {group.submission("ben"), group.submission("cat")},
    }
    seen: set[str] = set()
    for name, targets in expected.items():
        listing = api.ok(classroom.client.get("/assignments", headers=group.headers[name]))
        assert {item["target_id"] for item in listing["items"]} == targets, name
        assert listing["total"] == len(targets)
        assert all("reviewer_id" not in item for item in listing["items"])
        ids = {item["id"] for item in listing["items"]}
        assert not ids & seen, "an assignment is listed for two people"
        seen |= ids
    # Every assignment of the challenge is someone's: the lists above are the whole allocation.
    allocation = api.ok(
        classroom.client.get("/allocations", query_string={"challenge_id": group.challenge_id}, headers=OWNER_TEACHER)
    )
    assert {a["id"] for item in allocation["items"] for a in item["assignments"]} == seen


def test_assignments_are_listed_newest_first(classroom: Classroom) -> None:
    challenge_id = classroom.publish_challenge(reviewers=3)
    for minutes, author in enumerate(("ann", "ben", "cat")):
        classroom.set_clock(NOW + timedelta(minutes=minutes))
        classroom.submit(challenge_id, author)
    classroom.set_clock(NOW + timedelta(minutes=5))
    second = classroom.publish_challenge(reviewers=3)
    classroom.submit(second, "erin")
    classroom.set_clock(NOW + timedelta(minutes=6))
    classroom.submit(second, "dan")
    classroom.set_clock(NOW + timedelta(minutes=7))
    classroom.submit(challenge_id, "dan")
    items = classroom.assignments(bearer("dan", "learner", cohorts=("7a",)))
    created = [_at(item["created_at"]) for item in items]
    assert created == sorted(created, reverse=True)
    assert created[0] > created[-1]
    assert [item["challenge_id"] for item in items] == [challenge_id] * 3 + [second]


def test_assignments_filter_by_status_kind_and_challenge(unchanged: Unchanged) -> None:
    world, classroom = unchanged.world, unchanged.classroom

    def targets(**query: str) -> list[str]:
        return [item["target_id"] for item in classroom.assignments(REVIEWER, **query)]

    assert sorted(targets()) == sorted([world.submission_id, world.second_submission_id, world.revision_id])
    assert targets(status="submitted") == [world.submission_id]
    assert sorted(targets(status="assigned")) == sorted([world.second_submission_id, world.revision_id])
    assert targets(kind="revision") == [world.revision_id]
    assert targets(challenge_id=world.second_challenge_id) == [world.second_submission_id]
    assert targets(status="assigned", kind="submission") == [world.second_submission_id]
    assert targets(status="declined") == []
    assert targets(challenge_id=uuid.uuid4().hex[:24]) == []
    unchanged.assert_unchanged()


def test_assignments_page_with_limit_and_offset_and_count_every_match(unchanged: Unchanged) -> None:
    classroom = unchanged.classroom
    everything = [item["id"] for item in classroom.assignments(REVIEWER)]
    assert len(everything) == 3
    pages = []
    for offset in (0, 2, 3):
        listing = api.ok(
            classroom.client.get("/assignments", query_string={"limit": 2, "offset": offset}, headers=REVIEWER)
        )
        assert listing["total"] == 3
        pages.append([item["id"] for item in listing["items"]])
    assert pages == [everything[:2], everything[2:], []]
    unchanged.assert_unchanged()


def test_an_open_assignment_past_its_due_time_is_listed_late_and_a_reviewed_one_is_not(
    classroom: Classroom,
) -> None:
    world = build_world(classroom)
    before = {item["target_id"]: item for item in classroom.assignments(REVIEWER)}
    assert not any(item["late"] for item in before.values())
    due = _at(before[world.second_submission_id]["due_at"])
    assert due == NOW + timedelta(hours=72)
    classroom.set_clock(due + timedelta(seconds=1))
    after = {item["target_id"]: item for item in classroom.assignments(REVIEWER)}
    assert after[world.second_submission_id]["late"] is True
    assert after[world.revision_id]["late"] is True
    assert after[world.submission_id]["late"] is False  # reviewed in time
    assert after[world.second_submission_id]["due_at"] == before[world.second_submission_id]["due_at"]
    (one,) = classroom.assignments(REVIEWER, status="assigned", kind="submission")
    assert api.ok(classroom.client.get(f"/assignments/{one['id']}", headers=REVIEWER))["late"] is True


# ---------------------------------------------------------------------------------------------------------------
# POST /assignments/next


def test_a_claim_from_the_queue_is_the_target_with_fewest_reviews_due_after_the_challenge_s_due_hours(
    classroom: Classroom,
) -> None:
    challenge_id = classroom.publish_challenge(reviewers=2, due_hours=48)
    classroom.submit(challenge_id, "ann")
    bens = classroom.submit(challenge_id, "ben")  # ben reviews ann's, so ben's has the fewest reviews
    classroom.forget_enqueued()
    claimed = api.created(classroom.client.post("/assignments/next", json={}, headers=OTHER_LEARNER))
    assert (claimed["target_id"], claimed["challenge_id"], claimed["kind"]) == (bens, challenge_id, "submission")
    assert (claimed["status"], claimed["mode"], claimed["late"], claimed["review_id"]) == (
        "assigned",
        "pull",
        False,
        None,
    )
    assert _at(claimed["due_at"]) == NOW + timedelta(hours=48)
    assert [item["id"] for item in classroom.assignments(OTHER_LEARNER)] == [claimed["id"]]
    assert [job.func_name for job in classroom.jobs()] == ["services.challenges.jobs.handle_events"]
    (assigned,) = classroom.enqueued()
    assert assigned["type"] == "review.assigned"
    data = assigned["data"]
    assert (data["assignment_id"], data["reviewer_id"], data["target_id"]) == (claimed["id"], "carol", bens)
    assert (data["mode"], _at(data["due_at"])) == ("pull", NOW + timedelta(hours=48))


def test_the_queue_hands_out_only_the_challenge_asked_for(classroom: Classroom) -> None:
    first = classroom.publish_challenge(reviewers=2)
    second = classroom.publish_challenge(reviewers=2)
    classroom.submit(first, "ann")
    later = classroom.submit(second, "ben")
    claimed = api.created(classroom.client.post("/assignments/next", json={"challenge_id": second}, headers=AUTHOR))
    assert claimed["target_id"] == later


def test_nothing_due_answers_204_and_changes_nothing(classroom: Classroom) -> None:
    world = build_world(classroom)
    before = api.snapshot(classroom.app)
    # bob is on every target but his own; teachers hold no cohort of these challenges' audience.
    for body, headers in (
        ({}, REVIEWER),
        ({"kind": "submission"}, OWNER_TEACHER),
        ({"kind": "submission"}, ADMIN),
        ({"kind": "revision"}, AUTHOR),  # her own revision
        ({"challenge_id": world.challenge_id, "kind": "revision"}, OTHER_LEARNER),
        ({"challenge_id": uuid.uuid4().hex[:24]}, OTHER_LEARNER),
    ):
        response = classroom.client.post("/assignments/next", json=body, headers=headers)
        assert response.status_code == 204, (body, response.get_data(as_text=True))
        assert response.get_data() == b""
    assert api.snapshot(classroom.app) == before


def test_the_queue_hands_out_a_revision_with_the_change_to_verify(classroom: Classroom) -> None:
    challenge_id = classroom.publish_challenge()
    classroom.submit(challenge_id, "ann")  # a submission to review too: `kind` picks the revision
    # Nobody is active in astronomy, so this revision waits in the queue for verifiers.
    revision_id = classroom.propose_revision("dan", "olga", tags=("astronomy",))
    proposed = classroom.revision(revision_id)
    claimed = api.created(classroom.client.post("/assignments/next", json={"kind": "revision"}, headers=OTHER_LEARNER))
    assert (claimed["kind"], claimed["target_id"], claimed["challenge_id"]) == ("revision", revision_id, None)
    assert claimed["resource_id"] == proposed["resource_id"]
    assert claimed["details"] == {
        "changes": proposed["changes"],
        "note": proposed["note"],
        "sources": proposed["sources"],
        "flagged_outdated": False,
    }
    (listed,) = classroom.assignments(OTHER_LEARNER, kind="revision")
    assert listed == claimed
    for proposer_or_owner in ("dan", "olga"):
        response = classroom.client.post(
            "/assignments/next", json={"kind": "revision"}, headers=bearer(proposer_or_owner, "learner")
        )
        assert response.status_code == 204, proposer_or_owner


# ---------------------------------------------------------------------------------------------------------------
# POST /assignments/{id}/decline


def test_declining_hands_the_target_to_someone_else_and_announces_both(classroom: Classroom) -> None:
    group = _class(classroom)
    anns = group.submission("ann")
    assignment = classroom.assignment_on(anns, group.headers["ben"])
    classroom.forget_enqueued()
    declined = api.ok(classroom.client.post(f"/assignments/{assignment['id']}/decline", headers=group.headers["ben"]))
    assert (declined["id"], declined["status"]) == (assignment["id"], "declined")
    assert _at(declined["ended_at"]) == NOW
    assert anns not in [item["target_id"] for item in classroom.assignments(group.headers["ben"], status="assigned")]
    assert classroom.assignment_on(anns, group.headers["ben"], status="declined")["id"] == assignment["id"]
    # dan is the only one left who may review ann's work: neither its author, nor on it, nor its decliner.
    replacement = classroom.assignment_on(anns, group.headers["dan"])
    assert classroom.reviewers_of(anns) == ["cat", "dan"]
    assert sorted(_types(classroom)) == ["review.assigned", "review.declined"]
    events = {envelope["type"]: envelope["data"] for envelope in classroom.enqueued()}
    assert (events["review.declined"]["assignment_id"], events["review.declined"]["reviewer_id"]) == (
        assignment["id"],
        "ben",
    )
    assert events["review.declined"]["reason"] == "declined"
    assert (events["review.assigned"]["assignment_id"], events["review.assigned"]["reviewer_id"]) == (
        replacement["id"],
        "dan",
    )


def test_declining_twice_answers_409_and_changes_nothing(classroom: Classroom) -> None:
    world = build_world(classroom)
    path = f"/assignments/{world.open_assignment_id}/decline"
    api.ok(classroom.client.post(path, json={}, headers=REVIEWER))
    before = api.snapshot(classroom.app)
    api.problem(classroom.client.post(path, json={}, headers=REVIEWER), 409)
    reviewed = classroom.client.post(f"/assignments/{world.reviewed_assignment_id}/decline", headers=REVIEWER)
    assert "submitted" in api.problem(reviewed, 409)["detail"]
    assert api.snapshot(classroom.app) == before


def test_a_declined_verification_goes_to_another_verifier(classroom: Classroom) -> None:
    """Like a submission's, a revision's decline hands it on ("the target goes to someone else")."""
    challenge_id = classroom.publish_challenge(reviewers=1)
    for name in ("ben", "cat", "dan"):
        classroom.submit(challenge_id, name)  # all three active in biology
    revision_id = classroom.propose_revision("alice", "olga")
    verifiers = [name for name in ("ben", "cat", "dan") if classroom.assignments(bearer(name), kind="revision")]
    assert len(verifiers) == 2
    (spare,) = {"ben", "cat", "dan"} - set(verifiers)
    declining = bearer(verifiers[0])
    (assignment,) = classroom.assignments(declining, kind="revision")
    api.ok(classroom.client.post(f"/assignments/{assignment['id']}/decline", headers=declining))
    handed_on = classroom.assignments(bearer(spare), kind="revision")
    assert [item["target_id"] for item in handed_on] == [revision_id]


# ---------------------------------------------------------------------------------------------------------------
# POST /assignments/{id}/review


def test_a_review_is_stored_and_its_assignment_is_marked_submitted(classroom: Classroom) -> None:
    world = build_world(classroom)
    path = f"/assignments/{world.open_assignment_id}/review"
    review = api.created(classroom.client.post(path, json=review_body(), headers=REVIEWER))
    assert (review["assignment_id"], review["kind"], review["target_id"], review["challenge_id"]) == (
        world.open_assignment_id,
        "submission",
        world.second_submission_id,
        world.second_challenge_id,
    )
    assert (review["scores"], review["verdict"], review["comment"]) == (review_body()["scores"], None, COMMENT)
    assert (review["late"], review["edited_at"], review["helpfulness"]) == (False, None, None)
    assert _at(review["submitted_at"]) == NOW
    assignment = api.ok(classroom.client.get(f"/assignments/{world.open_assignment_id}", headers=REVIEWER))
    assert (assignment["status"], assignment["review_id"], _at(assignment["ended_at"])) == (
        "submitted",
        review["id"],
        NOW,
    )
    (shown,) = _reviews_of(classroom.client, world.second_submission_id, REVIEWER)["reviews"]
    assert (shown["id"], shown["mine"], shown["comment"]) == (review["id"], True, COMMENT)


def test_a_comment_is_stored_without_surrounding_whitespace(classroom: Classroom) -> None:
    world = build_world(classroom)
    path = f"/assignments/{world.open_assignment_id}/review"
    review = api.created(classroom.client.post(path, json=review_body(comment=f"  {COMMENT}\n"), headers=REVIEWER))
    assert review["comment"] == COMMENT


def test_a_second_review_of_one_assignment_answers_409_naming_the_first_and_changes_nothing(
    classroom: Classroom,
) -> None:
    world = build_world(classroom)
    before = api.snapshot(classroom.app)
    path = f"/assignments/{world.reviewed_assignment_id}/review"
    body = api.problem(classroom.client.post(path, json=review_body(comment="A" * 40), headers=REVIEWER), 409)
    assert body["existing_id"] == world.review_id
    assert "PUT /reviews/" in body["detail"]
    assert api.snapshot(classroom.app) == before


@pytest.mark.parametrize(
    ("target", "body", "field"),
    [
        ("submission", review_body(scores={"Accuracy": 4}), "scores"),
        ("submission", review_body(scores={"Accuracy": 4, "Clarity": 3, "Style": 2}), "scores"),
        ("submission", review_body(scores={"Accuracy": 6, "Clarity": 3}), "scores"),
        ("submission", review_body(scores={}), "scores"),
        ("submission", {"comment": COMMENT}, "scores"),
        ("submission", review_body(comment="Too short."), "comment"),
        ("submission", review_body(comment=" " * 40), "comment"),
        ("submission", {"scores": review_body()["scores"]}, "comment"),
        ("submission", review_body(verdict="approve"), "verdict"),
        ("revision", {"comment": COMMENT}, "verdict"),
        ("revision", verdict_body(scores={"Accuracy": 4}), "scores"),
        ("revision", verdict_body(comment="Fine."), "comment"),
    ],
    ids=[
        "a criterion unscored",
        "an unknown criterion",
        "a score above the maximum",
        "no scores",
        "scores missing",
        "a short comment",
        "a blank comment",
        "comment missing",
        "a verdict on a submission",
        "a revision without verdict",
        "scores on a revision",
        "a revision's short comment",
    ],
)
def test_an_invalid_review_is_refused_naming_its_field_and_stores_nothing(
    unchanged: Unchanged, target: str, body: dict[str, Any], field: str
) -> None:
    world = unchanged.world
    assignment_id = world.open_assignment_id if target == "submission" else world.revision_assignment_id
    response = unchanged.client.post(f"/assignments/{assignment_id}/review", json=body, headers=REVIEWER)
    assert set(api.problem(response, 422)["errors"]) == {field}
    unchanged.assert_unchanged()


def test_a_review_after_the_due_time_is_accepted_and_marked_late(classroom: Classroom) -> None:
    world = build_world(classroom)
    classroom.set_clock(NOW + timedelta(hours=72, minutes=1))
    review = classroom.review(world.open_assignment_id, REVIEWER)
    assert review["late"] is True
    shown = _reviews_of(classroom.client, world.second_submission_id, AUTHOR)["reviews"]
    assert [item["late"] for item in shown] == [True]
    # The one reviewed in time stays on time.
    assert [item["late"] for item in _reviews_of(classroom.client, world.submission_id, AUTHOR)["reviews"]] == [False]


def test_the_review_that_completes_a_submission_grades_it_and_announces_target_graded(classroom: Classroom) -> None:
    group = _class(classroom)
    anns = group.submission("ann")
    classroom.forget_enqueued()
    first = classroom.review(
        classroom.assignment_on(anns, group.headers["ben"])["id"],
        group.headers["ben"],
        scores={"Accuracy": 4, "Clarity": 5},
    )
    assert "target.graded" not in _types(classroom)
    assert _reviews_of(classroom.client, anns, group.headers["ann"])["status"] == "open"
    second = classroom.review(
        classroom.assignment_on(anns, group.headers["cat"])["id"],
        group.headers["cat"],
        scores={"Accuracy": 2, "Clarity": 5},
    )
    (graded,) = classroom.enqueued("target.graded")
    data = graded["data"]
    assert (data["target_kind"], data["target_id"], data["author_id"], data["challenge_id"]) == (
        "submission",
        anns,
        "ann",
        group.challenge_id,
    )
    assert (data["grade"], data["scores"], data["review_count"], data["overridden"]) == (
        0.8,
        {"Accuracy": 3.0, "Clarity": 5.0},
        2,
        False,
    )
    assert (data["version"], data["points"], data["cohorts"], data["tags"]) == (1, 50, ["7a"], ["biology"])
    assert {(item["review_id"], item["reviewer_id"]) for item in data["reviews"]} == {
        (first["id"], "ben"),
        (second["id"], "cat"),
    }
    assert all(0 <= item["accuracy"] <= 1 for item in data["reviews"])
    # The author reads the same consensus, from the reviews under aliases.
    shown = _reviews_of(classroom.client, anns, group.headers["ann"])
    assert (shown["status"], shown["reviews_wanted"]) == ("graded", 2)
    assert (shown["grade"]["grade"], shown["grade"]["scores"], shown["grade"]["overridden_by"]) == (
        0.8,
        {"Accuracy": 3.0, "Clarity": 5.0},
        None,
    )
    assert [(item["id"], item["reviewer"], item["reviewer_id"]) for item in shown["reviews"]] == [
        (first["id"], "Reviewer 1", None),
        (second["id"], "Reviewer 2", None),
    ]
    assert all(item["accuracy"] is not None for item in shown["reviews"])


def test_the_verifiers_majority_decides_a_revision_and_revision_verified_announces_it(classroom: Classroom) -> None:
    revision_id = classroom.propose_revision("alice", "olga", tags=("astronomy",))
    proposed = classroom.revision(revision_id)
    verdicts = {"carol": "approve", "dan": "approve"}
    for name, verdict in verdicts.items():
        claimed = classroom.claim(bearer(name), kind="revision")
        classroom.forget_enqueued()
        classroom.verify(claimed["id"], bearer(name), verdict)
    (verified,) = classroom.enqueued("revision.verified")
    data = verified["data"]
    assert (data["revision_id"], data["resource_id"], data["verdict"]) == (
        revision_id,
        proposed["resource_id"],
        "approve",
    )
    assert (sorted(data["verifier_ids"]), data["dissenter_ids"], data["decided_by_teacher"]) == (
        ["carol", "dan"],
        [],
        None,
    )
    shown = _reviews_of(classroom.client, revision_id, AUTHOR, kind="revision")
    assert (shown["status"], shown["grade"]) == ("decided", None)
    assert [item["verdict"] for item in shown["reviews"]] == ["approve", "approve"]


# ---------------------------------------------------------------------------------------------------------------
# PUT /reviews/{id}


def test_a_reviewer_edits_their_review_until_the_target_is_graded_then_409(classroom: Classroom) -> None:
    group = _class(classroom)
    anns = group.submission("ann")
    review = classroom.review(classroom.assignment_on(anns, group.headers["ben"])["id"], group.headers["ben"])
    classroom.set_clock(NOW + timedelta(hours=1))
    changed = review_body(scores={"Accuracy": 5, "Clarity": 5}, comment="On second reading: every step is right.")
    edited = api.ok(classroom.client.put(f"/reviews/{review['id']}", json=changed, headers=group.headers["ben"]))
    assert (edited["id"], edited["scores"], edited["comment"]) == (review["id"], changed["scores"], changed["comment"])
    assert (_at(edited["edited_at"]), edited["submitted_at"]) == (NOW + timedelta(hours=1), review["submitted_at"])
    (shown,) = _reviews_of(classroom.client, anns, group.headers["ann"])["reviews"]
    assert (shown["scores"], shown["comment"], shown["edited_at"]) == (
        changed["scores"],
        changed["comment"],
        edited["edited_at"],
    )
    classroom.review(classroom.assignment_on(anns, group.headers["cat"])["id"], group.headers["cat"])
    before = api.snapshot(classroom.app)
    response = classroom.client.put(f"/reviews/{review['id']}", json=review_body(), headers=group.headers["ben"])
    assert "graded" in api.problem(response, 409)["detail"]
    assert api.snapshot(classroom.app) == before


def test_an_invalid_edit_is_refused_naming_its_field_and_changes_nothing(classroom: Classroom) -> None:
    world = build_world(classroom)
    before = api.snapshot(classroom.app)
    for body, field in (
        (review_body(scores={"Accuracy": 4}), "scores"),
        (review_body(comment="Short."), "comment"),
        (review_body(verdict="reject"), "verdict"),
    ):
        response = classroom.client.put(f"/reviews/{world.review_id}", json=body, headers=REVIEWER)
        assert set(api.problem(response, 422)["errors"]) == {field}
    assert api.snapshot(classroom.app) == before


# ---------------------------------------------------------------------------------------------------------------
# POST /reviews/{id}/rating


def test_the_author_rates_a_review_once(classroom: Classroom) -> None:
    world = build_world(classroom)
    path = f"/reviews/{world.review_id}/rating"
    rated = api.created(classroom.client.post(path, json={"helpfulness": 5}, headers=AUTHOR))
    assert (rated["id"], rated["helpfulness"]) == (world.review_id, 5)
    assert "reviewer_id" not in rated
    assert [item["helpfulness"] for item in _reviews_of(classroom.client, world.submission_id, AUTHOR)["reviews"]] == [
        5
    ]
    before = api.snapshot(classroom.app)
    again = classroom.client.post(path, json={"helpfulness": 1}, headers=AUTHOR)
    assert "already" in api.problem(again, 409)["detail"]
    assert api.snapshot(classroom.app) == before


def test_nobody_but_the_author_may_rate_a_review_and_they_are_told_it_does_not_exist(classroom: Classroom) -> None:
    world = build_world(classroom)
    before = api.snapshot(classroom.app)
    for headers in (REVIEWER, OTHER_LEARNER, OWNER_TEACHER, ADMIN):
        response = classroom.client.post(f"/reviews/{world.review_id}/rating", json={"helpfulness": 5}, headers=headers)
        assert api.problem(response, 404)["detail"] == f"No review with id {world.review_id}"
    assert api.snapshot(classroom.app) == before


@pytest.mark.parametrize("helpfulness", [0, 6, -1, 100])
def test_a_rating_outside_one_to_five_is_refused_and_changes_nothing(unchanged: Unchanged, helpfulness: int) -> None:
    response = unchanged.client.post(
        f"/reviews/{unchanged.world.review_id}/rating", json={"helpfulness": helpfulness}, headers=AUTHOR
    )
    assert set(api.problem(response, 422)["errors"]) == {"helpfulness"}
    unchanged.assert_unchanged()


# ---------------------------------------------------------------------------------------------------------------
# GET /targets/{kind}/{id}/reviews


def test_each_viewer_sees_a_target_s_reviews_as_they_may(classroom: Classroom) -> None:
    group = _class(classroom, reviewers=3)
    anns = group.submission("ann")
    ben = classroom.review(classroom.assignment_on(anns, group.headers["ben"])["id"], group.headers["ben"])
    cat = classroom.review(classroom.assignment_on(anns, group.headers["cat"])["id"], group.headers["cat"])
    author = _reviews_of(classroom.client, anns, group.headers["ann"])
    assert (author["author_id"], author["status"], author["grade"], author["reviews_wanted"]) == (
        "ann",
        "open",
        None,
        3,
    )
    assert [(item["id"], item["reviewer"], item["reviewer_id"], item["mine"]) for item in author["reviews"]] == [
        (ben["id"], "Reviewer 1", None, False),
        (cat["id"], "Reviewer 2", None, False),
    ]
    teacher = _reviews_of(classroom.client, anns, OWNER_TEACHER)
    assert [(item["reviewer"], item["reviewer_id"]) for item in teacher["reviews"]] == [
        ("Reviewer 1", "ben"),
        ("Reviewer 2", "cat"),
    ]
    assert _reviews_of(classroom.client, anns, ADMIN)["reviews"] == teacher["reviews"]
    # A reviewer sees their own review only, and not whose work it is while review is blind.
    reviewer = _reviews_of(classroom.client, anns, group.headers["cat"])
    assert reviewer["author_id"] is None
    assert [(item["id"], item["reviewer"], item["mine"]) for item in reviewer["reviews"]] == [
        (cat["id"], "Reviewer 2", True)
    ]
    # dan is on ann's submission too now (reviewers=3 left a place) but has not reviewed yet.
    assert _reviews_of(classroom.client, anns, group.headers["dan"])["reviews"] == []


def test_a_reviewer_sees_the_author_when_review_is_not_blind(classroom: Classroom) -> None:
    group = _class(classroom, blind=False)
    shown = _reviews_of(classroom.client, group.submission("ann"), group.headers["ben"])
    assert shown["author_id"] == "ann"


def test_a_teacher_who_may_decide_a_tied_revision_can_read_its_verifications(classroom: Classroom) -> None:
    """A tie goes to a teacher (any teacher may override a revision), who must see the verifiers' reasons."""
    revision_id = classroom.propose_revision("alice", "olga", tags=("astronomy",))
    for name, verdict in (("carol", "approve"), ("dan", "reject")):
        claimed = classroom.claim(bearer(name), kind="revision")
        classroom.verify(claimed["id"], bearer(name), verdict)
    assert _reviews_of(classroom.client, revision_id, ADMIN, kind="revision")["status"] == "tied"
    shown = classroom.client.get(f"/targets/revision/{revision_id}/reviews", headers=OWNER_TEACHER)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert sorted(item["verdict"] for item in shown.get_json()["reviews"]) == ["approve", "reject"]


# ---------------------------------------------------------------------------------------------------------------
# POST /targets/{kind}/{id}/override


def test_the_teacher_overrides_a_grade_and_a_new_target_graded_replaces_the_consensus(classroom: Classroom) -> None:
    world = build_world(classroom)
    classroom.forget_enqueued()
    body = {"scores": {"Accuracy": 5, "Clarity": 4}, "reason": "The sources check out"}
    target = api.ok(
        classroom.client.post(f"/targets/submission/{world.submission_id}/override", json=body, headers=OWNER_TEACHER)
    )
    assert (target["kind"], target["target_id"], target["status"]) == ("submission", world.submission_id, "graded")
    grade = target["grade"]
    assert (grade["grade"], grade["scores"], grade["aggregator"], grade["overridden_by"]) == (
        0.9,
        {"Accuracy": 5.0, "Clarity": 4.0},
        "override",
        "teacher-1",
    )
    (graded,) = classroom.enqueued("target.graded")
    assert (graded["data"]["target_id"], graded["data"]["grade"], graded["data"]["overridden"]) == (
        world.submission_id,
        0.9,
        True,
    )
    assert _reviews_of(classroom.client, world.submission_id, AUTHOR)["grade"] == grade
    # Graded by the teacher: its reviews no longer change.
    api.problem(classroom.client.put(f"/reviews/{world.review_id}", json=review_body(), headers=REVIEWER), 409)


def test_an_override_without_the_decision_it_needs_is_refused_and_changes_nothing(classroom: Classroom) -> None:
    world = build_world(classroom)
    before = api.snapshot(classroom.app)
    for path, body, field in (
        (f"/targets/submission/{world.submission_id}/override", {"reason": "No scores"}, "scores"),
        (f"/targets/submission/{world.submission_id}/override", {"scores": {"Accuracy": 5}}, "scores"),
        (f"/targets/submission/{world.submission_id}/override", {"scores": {"Accuracy": 9, "Clarity": 1}}, "scores"),
        (f"/targets/revision/{world.revision_id}/override", {"scores": {"Accuracy": 5}}, "verdict"),
    ):
        response = classroom.client.post(path, json=body, headers=OWNER_TEACHER)
        assert set(api.problem(response, 422)["errors"]) == {field}, body
    assert api.snapshot(classroom.app) == before


def test_a_teacher_decides_a_revision_once_and_revision_verified_names_them(classroom: Classroom) -> None:
    world = build_world(classroom)
    classroom.forget_enqueued()
    path = f"/targets/revision/{world.revision_id}/override"
    decided = api.ok(
        classroom.client.post(path, json={"verdict": "reject", "reason": "No source"}, headers=OWNER_TEACHER)
    )
    assert (decided["kind"], decided["status"], decided["grade"]) == ("revision", "decided", None)
    events = classroom.enqueued()
    verified = [envelope["data"] for envelope in events if envelope["type"] == "revision.verified"]
    assert [(data["verdict"], data["decided_by_teacher"], data["reasons"]) for data in verified] == [
        ("reject", "teacher-1", ["No source"])
    ]
    before = api.snapshot(classroom.app)
    api.problem(classroom.client.post(path, json={"verdict": "approve"}, headers=ADMIN), 409)
    assert api.snapshot(classroom.app) == before


@pytest.mark.parametrize(
    ("path", "body", "assignment"),
    [
        ("/targets/submission/{second_submission}/override", {"scores": {"Accuracy": 5, "Clarity": 5}}, "open"),
        ("/targets/revision/{revision}/override", {"verdict": "approve"}, "revision"),
    ],
    ids=["a graded submission", "a decided revision"],
)
def test_an_override_ends_the_target_s_open_assignments_and_revokes_their_access(
    classroom: Classroom, path: str, body: dict[str, Any], assignment: str
) -> None:
    """Like a target withdrawn or decided elsewhere: nobody is left holding an assignment that takes no review."""
    world = build_world(classroom)
    assignment_id = world.open_assignment_id if assignment == "open" else world.revision_assignment_id
    classroom.forget_enqueued()
    api.ok(classroom.client.post(world.fill(path), json=body, headers=OWNER_TEACHER))
    response = classroom.client.post(f"/assignments/{assignment_id}/review", json=review_body(), headers=REVIEWER)
    api.problem(response, 409)  # the target takes no more reviews
    shown = api.ok(classroom.client.get(f"/assignments/{assignment_id}", headers=REVIEWER))
    assert shown["status"] != "assigned", "the assignment stays open (and turns late) though it takes no review"
    declined = [envelope["data"] for envelope in classroom.enqueued("review.declined")]
    assert [data["assignment_id"] for data in declined] == [assignment_id]


# ---------------------------------------------------------------------------------------------------------------
# GET /reviewers/{user_id}


def test_a_reviewer_s_record_counts_reviews_graded_late_and_rated(classroom: Classroom) -> None:
    group = _class(classroom)
    anns = group.submission("ann")
    fresh = api.ok(classroom.client.get("/reviewers/ben", headers=group.headers["ben"]))
    assert (fresh["review_count"], fresh["graded_count"], fresh["late_count"]) == (0, 0, 0)
    assert (fresh["mean_accuracy"], fresh["mean_helpfulness"]) == (None, None)
    classroom.set_clock(NOW + timedelta(hours=73))
    late = classroom.review(classroom.assignment_on(anns, group.headers["ben"])["id"], group.headers["ben"])
    classroom.review(classroom.assignment_on(anns, group.headers["cat"])["id"], group.headers["cat"])
    api.created(
        classroom.client.post(f"/reviews/{late['id']}/rating", json={"helpfulness": 4}, headers=group.headers["ann"])
    )
    record = api.ok(classroom.client.get("/reviewers/ben", headers=group.headers["ben"]))
    assert record["reviewer_id"] == "ben"
    assert (record["review_count"], record["graded_count"], record["late_count"]) == (1, 1, 1)
    assert (record["mean_accuracy"], record["mean_helpfulness"]) == (1.0, 4.0)
    assert 0 <= record["trust"] <= 1
    assert api.ok(classroom.client.get("/reviewers/ben", headers=OWNER_TEACHER)) == record


# ---------------------------------------------------------------------------------------------------------------
# POST /allocations, GET /allocations, POST /allocations/{id}/reassign


def test_allocating_gives_every_short_submission_its_reviewers_and_adds_nothing_when_run_again(
    classroom: Classroom,
) -> None:
    group = _class(classroom)
    classroom.forget_enqueued()
    result = api.ok(
        classroom.client.post("/allocations", json={"challenge_id": group.challenge_id}, headers=OWNER_TEACHER)
    )
    # cat's needs one more reviewer, dan's two.
    assert (result["challenge_id"], result["created"], len(result["assignments"])) == (group.challenge_id, 3, 3)
    assert sorted(item["target_id"] for item in result["assignments"]) == sorted(
        [group.submission("cat"), group.submission("dan"), group.submission("dan")]
    )
    assigned = classroom.enqueued("review.assigned")
    assert sorted(envelope["data"]["assignment_id"] for envelope in assigned) == sorted(
        item["id"] for item in result["assignments"]
    )
    for name in FOUR:
        reviewers = classroom.reviewers_of(group.submission(name))
        assert len(reviewers) == 2 and name not in reviewers, (name, reviewers)
    before = api.snapshot(classroom.app)
    again = api.ok(classroom.client.post("/allocations", json={"challenge_id": group.challenge_id}, headers=ADMIN))
    assert (again["created"], again["assignments"]) == (0, [])
    assert api.snapshot(classroom.app) == before


def test_allocating_answers_each_new_assignment_with_its_reviewer(classroom: Classroom) -> None:
    """The teacher is told who was allocated, as documented (the example names `reviewer_id`)."""
    group = _class(classroom)
    result = api.ok(
        classroom.client.post("/allocations", json={"challenge_id": group.challenge_id}, headers=OWNER_TEACHER)
    )
    assert result["assignments"]
    for item in result["assignments"]:
        assert item.get("reviewer_id") in FOUR, item


def test_allocating_a_challenge_without_submissions_answers_404(classroom: Classroom) -> None:
    challenge_id = classroom.publish_challenge()
    before = api.snapshot(classroom.app)
    for unknown in (challenge_id, uuid.uuid4().hex[:24]):
        api.problem(classroom.client.post("/allocations", json={"challenge_id": unknown}, headers=ADMIN), 404)
    api.problem(
        classroom.client.get(
            "/allocations", query_string={"challenge_id": uuid.uuid4().hex[:24]}, headers=OWNER_TEACHER
        ),
        404,
    )
    assert api.snapshot(classroom.app) == before


def test_the_allocation_lists_each_submission_with_its_reviewers_and_what_it_still_needs(classroom: Classroom) -> None:
    group = _class(classroom)
    query = {"challenge_id": group.challenge_id}
    listing = api.ok(classroom.client.get("/allocations", query_string=query, headers=OWNER_TEACHER))
    assert (listing["total"], listing["suspected_collusion"]) == (4, [])
    by_author = {item["author_id"]: item for item in listing["items"]}
    assert {name: by_author[name]["needed"] for name in FOUR} == {"ann": 0, "ben": 0, "cat": 1, "dan": 2}
    assert {name: sorted(a["reviewer_id"] for a in by_author[name]["assignments"]) for name in FOUR} == {
        "ann": ["ben", "cat"],
        "ben": ["cat", "dan"],
        "cat": ["dan"],
        "dan": [],
    }
    assert all(item["kind"] == "submission" and item["status"] == "open" for item in listing["items"])
    assert {item["target_id"] for item in listing["items"]} == set(group.submissions.values())
    pages = [
        api.ok(
            classroom.client.get("/allocations", query_string={**query, "limit": 3, "offset": offset}, headers=ADMIN)
        )
        for offset in (0, 3)
    ]
    assert [page["total"] for page in pages] == [4, 4]
    assert [item for page in pages for item in page["items"]] == listing["items"]


def test_reassigning_moves_an_open_assignment_to_another_reviewer_and_announces_both(classroom: Classroom) -> None:
    group = _class(classroom)
    anns = group.submission("ann")
    old = classroom.assignment_on(anns, group.headers["ben"])
    classroom.forget_enqueued()
    response = classroom.client.post(
        f"/allocations/{old['id']}/reassign", json={"reviewer_id": "erin"}, headers=OWNER_TEACHER
    )
    moved = api.created(response)
    assert (moved["reviewer_id"], moved["target_id"], moved["status"], moved["mode"]) == (
        "erin",
        anns,
        "assigned",
        "push",
    )
    assert moved["id"] != old["id"]
    assert classroom.assignment_on(anns, group.headers["ben"], status="cancelled")["id"] == old["id"]
    assert classroom.assignment_on(anns, bearer("erin"))["id"] == moved["id"]
    assert classroom.reviewers_of(anns) == ["cat", "erin"]
    assert sorted(_types(classroom)) == ["review.assigned", "review.declined"]
    events = {envelope["type"]: envelope["data"] for envelope in classroom.enqueued()}
    declined, assigned = events["review.declined"], events["review.assigned"]
    assert (declined["assignment_id"], declined["reviewer_id"], declined["reason"]) == (old["id"], "ben", "reassigned")
    assert (assigned["assignment_id"], assigned["reviewer_id"]) == (moved["id"], "erin")


def test_reassigning_to_the_author_or_to_someone_on_the_target_or_a_reviewed_assignment_is_refused(
    classroom: Classroom,
) -> None:
    group = _class(classroom)
    anns = group.submission("ann")
    open_one = classroom.assignment_on(anns, group.headers["ben"])["id"]
    reviewed = classroom.review(classroom.assignment_on(anns, group.headers["cat"])["id"], group.headers["cat"])
    before = api.snapshot(classroom.app)
    for reviewer_id in ("ann", "cat", "ben"):
        response = classroom.client.post(
            f"/allocations/{open_one}/reassign", json={"reviewer_id": reviewer_id}, headers=OWNER_TEACHER
        )
        assert set(api.problem(response, 422)["errors"]) == {"reviewer_id"}, reviewer_id
    response = classroom.client.post(
        f"/allocations/{reviewed['assignment_id']}/reassign", json={"reviewer_id": "erin"}, headers=OWNER_TEACHER
    )
    assert "submitted" in api.problem(response, 409)["detail"]
    assert api.snapshot(classroom.app) == before


# ---------------------------------------------------------------------------------------------------------------
# Blind review


def test_the_author_of_a_submission_never_learns_who_reviewed_it(classroom: Classroom) -> None:
    """Every JSON answer the author can get from every endpoint is scanned for any reviewer's id."""
    suffix = uuid.uuid4().hex[:6]
    names = ("author-" + suffix, "first-" + suffix, "second-" + suffix, "third-" + suffix)
    author, *reviewers = names
    group = _class(classroom, names)
    mine = group.submission(author)
    headers = group.headers[author]
    api.ok(classroom.client.post("/allocations", json={"challenge_id": group.challenge_id}, headers=OWNER_TEACHER))
    on_mine = {name: classroom.assignment_on(mine, group.headers[name]) for name in reviewers[:2]}
    reviews = [classroom.review(on_mine[name]["id"], group.headers[name]) for name in reviewers[:2]]
    other = group.submission(reviewers[0])
    others_assignment = classroom.assignments(group.headers[reviewers[1]])[0]["id"]
    own_assignment = classroom.assignments(headers)[0]["id"]
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/assignments", None),
        ("GET", "/assignments?status=submitted", None),
        ("GET", f"/assignments?challenge_id={group.challenge_id}", None),
        ("GET", f"/assignments/{own_assignment}", None),
        ("POST", "/assignments/next", {}),
        ("GET", f"/targets/submission/{mine}/reviews", None),
        ("POST", f"/reviews/{reviews[0]['id']}/rating", {"helpfulness": 4}),
        ("POST", f"/reviews/{reviews[0]['id']}/rating", {"helpfulness": 4}),
        ("POST", f"/reviews/{reviews[1]['id']}/rating", {"helpfulness": 9}),
        ("GET", f"/targets/submission/{mine}/reviews", None),
        ("GET", f"/reviewers/{author}", None),
        ("GET", f"/assignments/{on_mine[reviewers[0]]['id']}", None),
        ("GET", f"/assignments/{others_assignment}", None),
        ("POST", f"/assignments/{on_mine[reviewers[0]]['id']}/decline", {}),
        ("POST", f"/assignments/{on_mine[reviewers[0]]['id']}/review", review_body()),
        ("PUT", f"/reviews/{reviews[0]['id']}", review_body()),
        ("GET", f"/targets/submission/{other}/reviews", None),
        ("POST", f"/targets/submission/{mine}/override", {"scores": {"Accuracy": 5, "Clarity": 5}}),
        ("GET", f"/reviewers/{reviewers[0]}", None),
        ("POST", "/allocations", {"challenge_id": group.challenge_id}),
        ("GET", f"/allocations?challenge_id={group.challenge_id}", None),
        ("POST", f"/allocations/{on_mine[reviewers[0]]['id']}/reassign", {"reviewer_id": author}),
    ]
    answers = []
    for method, path, body in requests:
        response = classroom.client.open(path, method=method, json=body, headers=headers)
        if response.status_code == 204:
            assert response.get_data() == b""
        else:
            assert response.is_json, (method, path, response.status_code)
        answers.append(response.get_data(as_text=True))
    for reviewer in reviewers:
        leaks = [request for request, answer in zip(requests, answers, strict=True) if reviewer in answer]
        assert not leaks, f"{reviewer} is named to the author by {leaks}"
    # The scan saw the reviews themselves, and staff would have seen the names.
    assert all(review["id"] in answers[5] for review in reviews)
    staff_view = json.dumps(_reviews_of(classroom.client, mine, OWNER_TEACHER))
    assert all(name in staff_view for name in reviewers[:2])
