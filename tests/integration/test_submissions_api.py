"""Learners' submissions over HTTP: submitting, revising, withdrawing, versions, visibility, reviewers and grades."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.domain import submissions as rules
from services.challenges.domain.challenges import Challenge
from services.challenges.usecases import submissions as usecases
from services.challenges.usecases.context import Context
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from tests.factories import bearer, challenge_body, submission_body
from tests.integration import api
from tests.integration.conftest import EventRecorder

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher")
OTHER_TEACHER = bearer("teacher-2", "teacher")
ADMIN = bearer("admin-1", "admin")
SERVICE = bearer("peer-review", "service")
ALICE = bearer("alice", "learner", cohorts=("c1",))
BOB = bearer("bob", "learner", cohorts=("c2",))
CAROL = bearer("carol", "learner", cohorts=("c1",))
NOW = datetime.now(UTC).replace(microsecond=0)
END = NOW + timedelta(days=1)


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _challenge(client: FlaskClient, **overrides: Any) -> str:
    """Create and publish a challenge ending at END; return its id."""
    body = challenge_body(ends_at=END.isoformat(), **overrides)
    challenge_id: str = api.created(client.post("/challenges", json=body, headers=TEACHER))["id"]
    api.ok(client.post(f"/challenges/{challenge_id}/publish", headers=TEACHER))
    return challenge_id


def _submit(client: FlaskClient, challenge_id: str, headers: dict[str, str] = ALICE, **body: Any) -> dict[str, Any]:
    return api.created(
        client.post(f"/challenges/{challenge_id}/submissions", json=submission_body(**body), headers=headers)
    )


def _context(app: Flask) -> Context:
    context: Context = app.extensions["connective"].dependencies.context()
    return context


def _read_back(client: FlaskClient, app: Flask) -> tuple[Context, rules.Submission, Challenge]:
    """Submit alice's answer to a new challenge; read both back through the repositories, as a request would."""
    challenge_id = _challenge(client)
    submission_id = _submit(client, challenge_id)["id"]
    context = _context(app)
    submission = context.repositories.submissions.get(submission_id)
    challenge = context.repositories.challenges.get(challenge_id)
    assert submission is not None
    assert challenge is not None
    return context, submission, challenge


def _save_over_version_1(context: Context, submission: rules.Submission) -> bool:
    """Save a revision made from version 1 of a submission not withdrawn when read; return whether it was saved."""
    saved: bool = context.repositories.submissions.save(
        submission, expected_version=1, was_withdrawn=False, events=[], now=NOW
    )
    return saved


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


# ---------------------------------------------------------------------------------------------------------------
# Submitting


def test_a_learner_submits_and_submission_submitted_carries_what_peer_review_needs(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    challenge_id = _challenge(challenges, cohorts=["c1"], review={"reviewers_per_submission": 2, "blind": True})
    submission = _submit(challenges, challenge_id)
    assert submission["challenge_id"] == challenge_id
    assert submission["author_id"] == "alice"
    assert (submission["version"], submission["status"], submission["grade"]) == (1, "submitted", None)
    assert submission["content"] == submission_body()["content"]
    assert submission["links"] == submission_body()["links"]
    assert submission["submitted_at"] and submission["updated_at"]
    (stored,) = api.documents(challenges_app, "submissions")
    assert stored["_id"] == submission["id"]
    assert [version["version"] for version in stored["versions"]] == [1]
    assert "_outbox" not in stored
    (event,) = published.of_type("submission.submitted")
    data = load_payload(event.type, event.data)
    assert event.actor_id == "alice"
    assert data["submission_id"] == submission["id"]
    assert data["challenge_owner_id"] == "teacher-1"
    assert (data["version"], data["cohorts"], data["tags"]) == (1, ["c1"], ["biology"])
    assert data["review"] == {"reviewers_per_submission": 2, "due_hours": 72, "blind": True}
    assert data["rubric"] == [{"criterion": "Accuracy", "max_score": 5}]
    assert data["ends_at"] == END


@pytest.mark.parametrize("headers", [TEACHER, ADMIN, SERVICE], ids=["teacher", "admin", "service"])
def test_only_learners_submit(challenges: FlaskClient, challenges_app: Flask, headers: dict[str, str]) -> None:
    challenge_id = _challenge(challenges)
    response = challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=headers)
    api.problem(response, 403)
    assert api.documents(challenges_app, "submissions") == []


def test_a_challenge_hidden_from_the_learner_does_not_exist_for_submissions(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    draft = challenges.post("/challenges", json=challenge_body(), headers=TEACHER).get_json()["id"]
    other_cohort = _challenge(challenges, cohorts=["c9"])
    for challenge_id in (draft, other_cohort, "0" * 24):
        api.problem(
            challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=ALICE), 404
        )
    assert api.documents(challenges_app, "submissions") == []


def test_a_resource_challenge_takes_no_submissions(challenges: FlaskClient, challenges_app: Flask) -> None:
    challenge_id = _challenge(challenges, kind="resource")
    response = challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=ALICE)
    assert "does not take submissions" in api.problem(response, 409)["detail"]
    assert api.documents(challenges_app, "submissions") == []


def test_submissions_are_refused_before_the_start_and_after_the_end(
    challenges: FlaskClient, challenges_app: Flask, set_clock: Callable[[datetime], None]
) -> None:
    later = _challenge(challenges, starts_at=(NOW + timedelta(hours=2)).isoformat())
    assert (
        "opens at"
        in api.problem(challenges.post(f"/challenges/{later}/submissions", json=submission_body(), headers=ALICE), 409)[
            "detail"
        ]
    )
    ending = _challenge(challenges)
    set_clock(END + timedelta(seconds=1))
    api.problem(challenges.post(f"/challenges/{ending}/submissions", json=submission_body(), headers=ALICE), 409)
    assert api.documents(challenges_app, "submissions") == []


def test_a_closed_challenge_takes_no_submissions(challenges: FlaskClient, challenges_app: Flask) -> None:
    challenge_id = _challenge(challenges)
    assert challenges.post(f"/challenges/{challenge_id}/close", headers=TEACHER).status_code == 200
    api.problem(challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=ALICE), 409)
    assert api.documents(challenges_app, "submissions") == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"links": []}, {"content"}),
        (submission_body(content=""), {"content"}),
        (submission_body(content="   \n"), {"content"}),
        (submission_body(content="x" * 20_001), {"content"}),
        (submission_body(content={"$gt": ""}), {"content"}),
        (submission_body(content=42), {"content"}),
        (submission_body(links=[f"https://example.org/{index}" for index in range(11)]), {"links"}),
        (submission_body(links=["not a url"]), {"links.0"}),
        (submission_body(links=["ftp://example.org/file"]), {"links.0"}),
        (submission_body(links=["https://example.org/" + "a" * 2048]), {"links.0"}),
        (submission_body(links=["https://example.org/a", "https://example.org/a"]), {"links"}),
        (submission_body(links="https://example.org/a"), {"links"}),
        (submission_body(author_id="someone-else"), {"author_id"}),
    ],
    ids=[
        "missing-content",
        "empty-content",
        "blank-content",
        "overlong-content",
        "operator-in-content",
        "number-content",
        "too-many-links",
        "not-a-url",
        "not-http",
        "overlong-link",
        "repeated-link",
        "links-not-a-list",
        "unknown-field",
    ],
)
def test_invalid_submissions_are_refused_naming_the_fields(
    challenges: FlaskClient, challenges_app: Flask, body: dict[str, Any], fields: set[str]
) -> None:
    challenge_id = _challenge(challenges)
    response = challenges.post(f"/challenges/{challenge_id}/submissions", json=body, headers=ALICE)
    assert set(api.problem(response, 422)["errors"]) == fields
    assert api.documents(challenges_app, "submissions") == []


def test_the_limits_themselves_are_accepted(challenges: FlaskClient) -> None:
    challenge_id = _challenge(challenges)
    links = [f"http://localhost/{index}" for index in range(9)] + ["https://example.org/" + "a" * 2000]
    submission = _submit(challenges, challenge_id, content="x" * 20_000, links=links)
    assert len(submission["content"]) == 20_000
    assert submission["links"] == links


@pytest.mark.parametrize(("data", "status"), [("{not json", 400), ("x" * 1_100_000, 413)], ids=["malformed", "huge"])
def test_malformed_or_oversized_bodies_change_nothing(
    challenges: FlaskClient, challenges_app: Flask, data: str, status: int
) -> None:
    challenge_id = _challenge(challenges)
    submission_id = _submit(challenges, challenge_id)["id"]
    for method, path in (
        ("POST", f"/challenges/{challenge_id}/submissions"),
        ("PUT", f"/submissions/{submission_id}"),
    ):
        response = challenges.open(path, method=method, data=data, content_type="application/json", headers=ALICE)
        api.problem(response, status)
    (stored,) = api.documents(challenges_app, "submissions")
    assert stored["version"] == 1


def test_missing_prerequisites_are_listed_until_submitted_and_count_again_once_withdrawn(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    first = _challenge(challenges)
    second = _challenge(challenges)
    final = _challenge(challenges, prerequisites=[first, second])
    path = f"/challenges/{final}/submissions"
    problem = api.problem(challenges.post(path, json=submission_body(), headers=ALICE), 409)
    assert problem["missing_prerequisites"] == [first, second]
    _submit(challenges, first)
    prerequisite = _submit(challenges, second)
    # Another learner's submissions do not count for alice.
    api.problem(challenges.post(path, json=submission_body(), headers=CAROL), 409)
    assert challenges.post(f"/submissions/{prerequisite['id']}/withdraw", headers=ALICE).status_code == 200
    assert api.problem(challenges.post(path, json=submission_body(), headers=ALICE), 409)["missing_prerequisites"] == [
        second
    ]
    assert len(api.documents(challenges_app, "submissions")) == 2
    _submit(challenges, second)
    _submit(challenges, final)


def test_a_second_submission_is_refused_naming_the_first(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    challenge_id = _challenge(challenges)
    first = _submit(challenges, challenge_id)
    response = challenges.post(
        f"/challenges/{challenge_id}/submissions", json=submission_body(content="again"), headers=ALICE
    )
    problem = api.problem(response, 409)
    assert problem["existing_id"] == first["id"]
    assert problem["type"].endswith("/duplicate-submission")
    assert "PUT" in problem["detail"]
    (stored,) = api.documents(challenges_app, "submissions")
    assert stored["content"] == first["content"]
    assert len(published.of_type("submission.submitted")) == 1


def test_the_unique_index_refuses_a_second_submission_that_slipped_past_the_check(challenges_app: Flask) -> None:
    context, first, challenge = _read_back(challenges_app.test_client(), challenges_app)
    racing = rules.submit(challenge, submission_id="f" * 24, author_id="alice", content="x", links=(), now=NOW)
    with pytest.raises(rules.DuplicateSubmission) as refused:
        context.repositories.submissions.add(racing)
    assert refused.value.existing_id == first.id
    assert len(api.documents(challenges_app, "submissions")) == 1


def test_a_withdrawn_submission_is_submitted_again_as_its_next_version(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    challenge_id = _challenge(challenges)
    first = _submit(challenges, challenge_id)
    assert challenges.post(f"/submissions/{first['id']}/withdraw", headers=ALICE).status_code == 200
    again = _submit(challenges, challenge_id, content="Back with a better answer")
    assert again["id"] == first["id"]
    assert (again["version"], again["status"], again["withdrawn_at"]) == (2, "submitted", None)
    (stored,) = api.documents(challenges_app, "submissions")
    assert [version["content"] for version in stored["versions"]] == [first["content"], "Back with a better answer"]
    versions = [load_payload(event.type, event.data)["version"] for event in published.of_type("submission.submitted")]
    assert versions == [1, 2]


# ---------------------------------------------------------------------------------------------------------------
# Reading


@pytest.mark.parametrize(
    ("headers", "status"),
    [(ALICE, 200), (TEACHER, 200), (ADMIN, 200), (SERVICE, 200), (CAROL, 404), (BOB, 404), (OTHER_TEACHER, 404)],
    ids=["author", "owning-teacher", "admin", "service", "classmate", "other-learner", "other-teacher"],
)
def test_a_submission_is_visible_only_to_its_author_teacher_admins_and_services(
    challenges: FlaskClient, headers: dict[str, str], status: int
) -> None:
    submission = _submit(challenges, _challenge(challenges))
    response = challenges.get(f"/submissions/{submission['id']}", headers=headers)
    if status == 404:
        api.problem(response, 404)
    else:
        assert api.ok(response)["author_id"] == "alice"


def test_an_unknown_or_malformed_submission_id_is_not_found(challenges: FlaskClient) -> None:
    api.problem(challenges.get(f"/submissions/{'0' * 24}", headers=ALICE), 404)
    assert challenges.get("/submissions/not-an-id", headers=ALICE).status_code == 404


def test_a_blind_reviewer_sees_the_current_version_without_author_or_grade(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    challenge_id = _challenge(challenges, review={"blind": True})
    submission = _submit(challenges, challenge_id)
    challenges.put(f"/submissions/{submission['id']}", json=submission_body(content="Second draft"), headers=ALICE)
    context = _context(challenges_app)
    usecases.record_assignments([_assigned(submission["id"], "carol")], context=context)
    usecases.record_grades([_graded(submission["id"], 0.8, NOW)], context=context)
    view = api.ok(challenges.get(f"/submissions/{submission['id']}", headers=CAROL))
    assert view["author_id"] is None
    assert view["grade"] is None
    assert (view["version"], view["content"]) == (2, "Second draft")
    api.problem(challenges.get(f"/submissions/{submission['id']}/versions", headers=CAROL), 404)
    api.problem(challenges.get(f"/submissions/{submission['id']}/versions/1", headers=CAROL), 404)
    author_view = challenges.get(f"/submissions/{submission['id']}", headers=ALICE).get_json()
    assert author_view["author_id"] == "alice"
    assert author_view["grade"]["grade"] == 0.8


def test_a_reviewer_of_an_open_review_sees_the_author(challenges: FlaskClient, challenges_app: Flask) -> None:
    submission = _submit(challenges, _challenge(challenges, review={"blind": False}))
    usecases.record_assignments([_assigned(submission["id"], "bob")], context=_context(challenges_app))
    assert challenges.get(f"/submissions/{submission['id']}", headers=BOB).get_json()["author_id"] == "alice"


def test_recording_assignments_is_idempotent_and_skips_unknown_and_revision_targets(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    submission = _submit(challenges, _challenge(challenges))
    assignment = _assigned(submission["id"], "carol")
    before = api.documents(challenges_app, "submissions")[0]
    usecases.record_assignments(
        [
            assignment,
            assignment,
            _assigned(submission["id"], "carol"),
            _assigned("0" * 24, "dave"),
            _assigned(submission["id"], "erin", target_kind="revision"),
        ],
        context=_context(challenges_app),
    )
    (stored,) = api.documents(challenges_app, "submissions")
    assert stored["reviewer_ids"] == ["carol"]
    assert stored["updated_at"] == before["updated_at"]
    assert len(api.documents(challenges_app, "submissions")) == 1


# ---------------------------------------------------------------------------------------------------------------
# Revising


def test_the_author_revises_into_a_new_version_and_keeps_the_old_one(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    submission = _submit(challenges, _challenge(challenges, cohorts=["c1"]))
    revised = api.ok(
        challenges.put(
            f"/submissions/{submission['id']}", json=submission_body(content="Better", links=[]), headers=ALICE
        )
    )
    assert (revised["version"], revised["content"], revised["links"], revised["status"]) == (
        2,
        "Better",
        [],
        "submitted",
    )
    assert revised["created_at"] == submission["created_at"]
    (stored,) = api.documents(challenges_app, "submissions")
    assert [version["version"] for version in stored["versions"]] == [1, 2]
    assert stored["versions"][0]["content"] == submission["content"]
    assert "_outbox" not in stored
    (event,) = published.of_type("submission.revised")
    data = load_payload(event.type, event.data)
    assert (data["submission_id"], data["version"], data["cohorts"]) == (submission["id"], 2, ["c1"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [(TEACHER, 403), (ADMIN, 403), (CAROL, 404), (OTHER_TEACHER, 404)],
    ids=["owning-teacher", "admin", "classmate", "other-teacher"],
)
def test_only_the_author_revises(
    challenges: FlaskClient, challenges_app: Flask, headers: dict[str, str], status: int
) -> None:
    submission = _submit(challenges, _challenge(challenges))
    api.problem(challenges.put(f"/submissions/{submission['id']}", json=submission_body(), headers=headers), status)
    assert api.documents(challenges_app, "submissions")[0]["version"] == 1


def test_a_reviewer_may_read_but_not_revise(challenges: FlaskClient, challenges_app: Flask) -> None:
    submission = _submit(challenges, _challenge(challenges))
    usecases.record_assignments([_assigned(submission["id"], "carol")], context=_context(challenges_app))
    api.problem(challenges.put(f"/submissions/{submission['id']}", json=submission_body(), headers=CAROL), 403)
    api.problem(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=CAROL), 403)


def test_revising_after_the_challenge_ends_or_closes_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, set_clock: Callable[[datetime], None]
) -> None:
    ending = _submit(challenges, _challenge(challenges))
    closing_id = _challenge(challenges)
    closing = _submit(challenges, closing_id)
    assert challenges.post(f"/challenges/{closing_id}/close", headers=TEACHER).status_code == 200
    api.problem(
        challenges.put(f"/submissions/{closing['id']}", json=submission_body(content="late"), headers=ALICE), 409
    )
    set_clock(END + timedelta(seconds=1))
    api.problem(
        challenges.put(f"/submissions/{ending['id']}", json=submission_body(content="late"), headers=ALICE), 409
    )
    assert [document["version"] for document in api.documents(challenges_app, "submissions")] == [1, 1]
    assert published.of_type("submission.revised") == []


def test_a_withdrawn_submission_is_not_revised_but_submitted_again(challenges: FlaskClient) -> None:
    submission = _submit(challenges, _challenge(challenges))
    challenges.post(f"/submissions/{submission['id']}/withdraw", headers=ALICE)
    problem = api.problem(
        challenges.put(f"/submissions/{submission['id']}", json=submission_body(), headers=ALICE), 409
    )
    assert "POST" in problem["detail"]


def test_a_submission_stops_at_fifty_versions(challenges: FlaskClient, challenges_app: Flask) -> None:
    submission = _submit(challenges, _challenge(challenges))
    submissions = api.database(challenges_app)["submissions"]
    # Skip 48 revisions: the cap reads the version counter.
    submissions.update_one({"_id": submission["id"]}, {"$set": {"version": rules.MAX_VERSIONS}})
    problem = api.problem(
        challenges.put(f"/submissions/{submission['id']}", json=submission_body(), headers=ALICE), 409
    )
    assert problem["max_versions"] == rules.MAX_VERSIONS
    (stored,) = api.documents(challenges_app, "submissions")
    assert (stored["version"], len(stored["versions"])) == (rules.MAX_VERSIONS, 1)


def test_of_two_revisions_of_the_same_version_only_one_is_saved(challenges: FlaskClient, challenges_app: Flask) -> None:
    context, read, challenge = _read_back(challenges, challenges_app)
    mine = rules.revise(read, challenge, "mine", (), NOW)
    theirs = rules.revise(read, challenge, "theirs", (), NOW)
    assert _save_over_version_1(context, mine)
    assert not _save_over_version_1(context, theirs)
    (stored,) = api.documents(challenges_app, "submissions")
    assert (stored["version"], stored["content"], len(stored["versions"])) == (2, "mine", 2)


def test_a_revision_racing_a_withdrawal_is_refused(challenges: FlaskClient, challenges_app: Flask) -> None:
    context, read, challenge = _read_back(challenges, challenges_app)
    assert challenges.post(f"/submissions/{read.id}/withdraw", headers=ALICE).status_code == 200
    assert not _save_over_version_1(context, rules.revise(read, challenge, "too late", (), NOW))
    assert api.documents(challenges_app, "submissions")[0]["status"] == "withdrawn"


# ---------------------------------------------------------------------------------------------------------------
# Withdrawing


def test_the_author_withdraws_once_before_the_deadline(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    submission = _submit(challenges, _challenge(challenges))
    withdrawn = api.ok(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=ALICE))
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["withdrawn_at"]
    (event,) = published.of_type("submission.withdrawn")
    assert load_payload(event.type, event.data)["submission_id"] == submission["id"]
    api.problem(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=ALICE), 409)
    assert len(published.of_type("submission.withdrawn")) == 1
    assert challenges.get(f"/submissions/{submission['id']}", headers=ALICE).get_json()["status"] == "withdrawn"


@pytest.mark.parametrize(("headers", "status"), [(TEACHER, 403), (CAROL, 404)], ids=["owning-teacher", "classmate"])
def test_only_the_author_withdraws(
    challenges: FlaskClient, challenges_app: Flask, headers: dict[str, str], status: int
) -> None:
    submission = _submit(challenges, _challenge(challenges))
    api.problem(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=headers), status)
    assert api.documents(challenges_app, "submissions")[0]["status"] == "submitted"


def test_withdrawing_after_the_deadline_is_refused(
    challenges: FlaskClient, challenges_app: Flask, set_clock: Callable[[datetime], None]
) -> None:
    submission = _submit(challenges, _challenge(challenges))
    set_clock(END)
    api.problem(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=ALICE), 409)
    assert api.documents(challenges_app, "submissions")[0]["status"] == "submitted"


# ---------------------------------------------------------------------------------------------------------------
# Versions


def test_versions_are_listed_newest_first_and_read_one_by_one(challenges: FlaskClient) -> None:
    submission_id = _submit(challenges, _challenge(challenges), content="v1")["id"]
    for content in ("v2", "v3"):
        api.ok(challenges.put(f"/submissions/{submission_id}", json=submission_body(content=content), headers=ALICE))
    listing = challenges.get(f"/submissions/{submission_id}/versions", headers=ALICE).get_json()
    assert listing["total"] == 3
    assert [(item["version"], item["content"]) for item in listing["items"]] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert set(listing["items"][0]) == {"version", "content", "links", "submitted_at"}
    paged = challenges.get(
        f"/submissions/{submission_id}/versions", query_string={"limit": 1, "offset": 1}, headers=TEACHER
    ).get_json()
    assert (paged["total"], [item["version"] for item in paged["items"]]) == (3, [2])
    assert api.ok(challenges.get(f"/submissions/{submission_id}/versions/1", headers=ADMIN))["content"] == "v1"
    api.problem(challenges.get(f"/submissions/{submission_id}/versions/4", headers=ALICE), 404)
    assert challenges.get(f"/submissions/{submission_id}/versions/0", headers=ALICE).status_code == 404


@pytest.mark.parametrize("headers", [CAROL, OTHER_TEACHER], ids=["classmate", "other-teacher"])
def test_strangers_cannot_read_versions(challenges: FlaskClient, headers: dict[str, str]) -> None:
    submission_id = _submit(challenges, _challenge(challenges))["id"]
    api.problem(challenges.get(f"/submissions/{submission_id}/versions", headers=headers), 404)
    api.problem(challenges.get(f"/submissions/{submission_id}/versions/1", headers=headers), 404)


# ---------------------------------------------------------------------------------------------------------------
# Listing a challenge's submissions


def test_the_teacher_lists_every_submission_newest_first_and_a_learner_only_their_own(
    challenges: FlaskClient, set_clock: Callable[[datetime], None]
) -> None:
    challenge_id = _challenge(challenges)
    path = f"/challenges/{challenge_id}/submissions"
    set_clock(NOW + timedelta(minutes=1))
    alice = _submit(challenges, challenge_id)
    set_clock(NOW + timedelta(minutes=2))
    carol = _submit(challenges, challenge_id, headers=CAROL)
    challenges.post(f"/submissions/{carol['id']}/withdraw", headers=CAROL)
    everything = challenges.get(path, headers=TEACHER).get_json()
    assert (everything["total"], [item["id"] for item in everything["items"]]) == (2, [carol["id"], alice["id"]])
    standing = challenges.get(path, query_string={"status": "submitted"}, headers=ADMIN).get_json()
    assert [item["id"] for item in standing["items"]] == [alice["id"]]
    paged = challenges.get(path, query_string={"limit": 1, "offset": 1}, headers=TEACHER).get_json()
    assert (paged["total"], [item["id"] for item in paged["items"]]) == (2, [alice["id"]])
    own = challenges.get(path, headers=ALICE).get_json()
    assert (own["total"], [item["id"] for item in own["items"]]) == (1, [alice["id"]])
    withdrawn = challenges.get(path, query_string={"status": "submitted"}, headers=CAROL).get_json()
    assert withdrawn == {"items": [], "total": 0}


def test_other_teachers_may_not_list_a_challenges_submissions(challenges: FlaskClient) -> None:
    challenge_id = _challenge(challenges)
    _submit(challenges, challenge_id)
    api.problem(challenges.get(f"/challenges/{challenge_id}/submissions", headers=OTHER_TEACHER), 403)


def test_listing_refuses_hidden_challenges_and_bad_filters(challenges: FlaskClient) -> None:
    hidden = _challenge(challenges, cohorts=["c9"])
    api.problem(challenges.get(f"/challenges/{hidden}/submissions", headers=ALICE), 404)
    visible = _challenge(challenges)
    problem = api.problem(
        challenges.get(f"/challenges/{visible}/submissions", query_string={"status": "lost"}, headers=TEACHER), 422
    )
    assert set(problem["errors"]) == {"status"}


# ---------------------------------------------------------------------------------------------------------------
# Grades


def test_a_grade_is_stored_and_only_a_later_event_replaces_it(challenges: FlaskClient, challenges_app: Flask) -> None:
    submission_id = _submit(challenges, _challenge(challenges))["id"]
    context = _context(challenges_app)
    first = _graded(submission_id, 0.6, NOW + timedelta(hours=1))
    usecases.record_grades([first], context=context)
    graded = challenges.get(f"/submissions/{submission_id}", headers=ALICE).get_json()
    assert graded["status"] == "graded"
    assert graded["grade"]["grade"] == 0.6
    assert graded["grade"]["scores"] == {"Accuracy": 3}
    assert (graded["grade"]["review_count"], graded["grade"]["version"], graded["grade"]["overridden"]) == (3, 1, False)
    stored_before = api.documents(challenges_app, "submissions")[0]["grade"]
    assert stored_before["event_id"] == first[0].id
    # A repeat of the same event, and an older one, change nothing.
    usecases.record_grades([first, _graded(submission_id, 0.1, NOW)], context=context)
    assert api.documents(challenges_app, "submissions")[0]["grade"] == stored_before
    later = _graded(submission_id, 0.9, NOW + timedelta(hours=2))
    usecases.record_grades([later, first], context=context)
    stored = api.documents(challenges_app, "submissions")[0]["grade"]
    assert (stored["grade"], stored["event_id"]) == (0.9, later[0].id)
    assert challenges.get(f"/submissions/{submission_id}", headers=TEACHER).get_json()["grade"]["grade"] == 0.9


def test_a_withdrawn_submission_keeps_its_status_when_graded(challenges: FlaskClient, challenges_app: Flask) -> None:
    submission_id = _submit(challenges, _challenge(challenges))["id"]
    challenges.post(f"/submissions/{submission_id}/withdraw", headers=ALICE)
    usecases.record_grades([_graded(submission_id, 0.5, NOW)], context=_context(challenges_app))
    (stored,) = api.documents(challenges_app, "submissions")
    assert stored["status"] == "withdrawn"
    assert stored["grade"]["grade"] == 0.5


def test_grades_of_revisions_and_unknown_submissions_are_skipped(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    submission_id = _submit(challenges, _challenge(challenges))["id"]
    usecases.record_grades(
        [_graded(submission_id, 0.5, NOW, target_kind="revision"), _graded("0" * 24, 0.5, NOW)],
        context=_context(challenges_app),
    )
    (stored,) = api.documents(challenges_app, "submissions")
    assert (stored["status"], stored["grade"]) == ("submitted", None)


def test_a_revision_after_grading_awaits_review_and_keeps_the_grade(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    submission_id = _submit(challenges, _challenge(challenges))["id"]
    usecases.record_grades([_graded(submission_id, 0.7, NOW)], context=_context(challenges_app))
    body = api.ok(challenges.put(f"/submissions/{submission_id}", json=submission_body(content="v2"), headers=ALICE))
    assert (body["status"], body["version"], body["grade"]["grade"], body["grade"]["version"]) == (
        "submitted",
        2,
        0.7,
        1,
    )


def test_the_submission_endpoints_are_documented_with_their_errors(challenges: FlaskClient) -> None:
    spec = challenges.get("/openapi.json").get_json()
    post = spec["paths"]["/challenges/{challenge_id}/submissions"]["post"]
    assert {"201", "400", "401", "403", "404", "409", "413", "422"} <= set(post["responses"])
    put = spec["paths"]["/submissions/{submission_id}"]["put"]
    assert {"200", "400", "401", "403", "404", "409", "413", "422"} <= set(put["responses"])
    assert "/submissions/{submission_id}/versions/{version}" in spec["paths"]
    assert "/submissions/{submission_id}/withdraw" in spec["paths"]


def test_stored_submissions_read_back_as_domain_objects(challenges: FlaskClient, challenges_app: Flask) -> None:
    submission = _submit(challenges, _challenge(challenges))
    read = _context(challenges_app).repositories.submissions.get(submission["id"])
    assert isinstance(read, rules.Submission)
    assert isinstance(read.status, rules.SubmissionStatus)
    assert (read.version, read.current_version.content) == (1, submission["content"])
    assert read.links == tuple(submission_body()["links"])


def test_each_caller_lists_their_own_submissions_across_challenges(challenges: FlaskClient) -> None:
    first, second = _challenge(challenges), _challenge(challenges)
    by_other_teacher = challenges.post("/challenges", json=challenge_body(), headers=OTHER_TEACHER).get_json()["id"]
    assert challenges.post(f"/challenges/{by_other_teacher}/publish", headers=OTHER_TEACHER).status_code == 200
    alice_first = _submit(challenges, first)["id"]
    alice_second = _submit(challenges, second)["id"]
    carol_first = _submit(challenges, first, headers=CAROL)["id"]
    carol_other = _submit(challenges, by_other_teacher, headers=CAROL)["id"]

    def listed(headers: dict[str, str], **query: Any) -> list[str]:
        return api.ids(challenges.get("/submissions", query_string=query, headers=headers))

    assert listed(ALICE) == [alice_second, alice_first]
    assert listed(ALICE, challenge_id=first) == [alice_first]
    assert listed(CAROL) == [carol_other, carol_first]
    assert listed(BOB) == []
    assert listed(TEACHER) == [carol_first, alice_second, alice_first]
    assert listed(OTHER_TEACHER) == [carol_other]
    assert listed(ADMIN, limit=2) == [carol_other, carol_first]
    assert challenges.get("/submissions", headers=ADMIN).get_json()["total"] == 4
    challenges.post(f"/submissions/{alice_first}/withdraw", headers=ALICE)
    assert listed(ALICE, status="withdrawn") == [alice_first]
    api.problem(challenges.get("/submissions?challenge_id=nope", headers=ALICE), 422)
