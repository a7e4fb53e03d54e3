"""Learners' submissions over HTTP: status codes, problems, schemas, visibility, paging and published events.

The rules behind them (prerequisites, races, grades, reviewers, who may change what) are unit-tested over
the in-memory fakes in tests/unit/test_submission_usecases.py; who gets which status on every endpoint is
in tests/integration/test_access_matrix.py, and generic bad bodies in tests/integration/test_bad_input.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.usecases import submissions as usecases
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
CAROL = bearer("carol", "learner", cohorts=("c1",))
NOW = datetime.now(UTC).replace(microsecond=0)
END = NOW + timedelta(days=1)


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _challenge(client: FlaskClient, headers: dict[str, str] = TEACHER, **overrides: Any) -> str:
    """Create and publish a challenge ending at END; return its id."""
    body = challenge_body(ends_at=END.isoformat(), **overrides)
    challenge_id: str = api.created(client.post("/challenges", json=body, headers=headers))["id"]
    api.ok(client.post(f"/challenges/{challenge_id}/publish", headers=headers))
    return challenge_id


def _submit(client: FlaskClient, challenge_id: str, headers: dict[str, str] = ALICE, **body: Any) -> dict[str, Any]:
    return api.created(
        client.post(f"/challenges/{challenge_id}/submissions", json=submission_body(**body), headers=headers)
    )


def _versions(client: FlaskClient, submission_id: str) -> list[str]:
    """Return the contents of a submission's versions, oldest first, as its author reads them."""
    listing = api.ok(client.get(f"/submissions/{submission_id}/versions", headers=ALICE))
    return [item["content"] for item in reversed(listing["items"])]


def _deliver(app: Flask, *, assigned: Sequence[tuple[str, str]] = (), graded: Sequence[tuple[str, float]] = ()) -> None:
    """Deliver `review.assigned` and `target.graded` events to the app's use cases, as its worker would."""
    context = app.extensions["connective"].dependencies.context()
    assignments = [
        _received(EventType.REVIEW_ASSIGNED, {"assignment_id": uuid.uuid4().hex[:24], "reviewer_id": reviewer}, target)
        for target, reviewer in assigned
    ]
    grades = [
        _received(
            EventType.TARGET_GRADED,
            {
                "author_id": "alice",
                "version": 1,
                "grade": grade,
                "scores": {"Accuracy": round(grade * 5)},
                "feedback": "Clear and well sourced",
                "review_count": 3,
            },
            target,
        )
        for target, grade in graded
    ]
    usecases.record_assignments(assignments, context=context)
    usecases.record_grades(grades, context=context)


def _received(event_type: EventType, data: dict[str, Any], target_id: str) -> tuple[Event, dict[str, Any]]:
    event = Event(
        type=event_type,
        producer="peer_review",
        actor_id=None,
        data={"target_kind": "submission", "target_id": target_id, **data},
    )
    return event, load_payload(event.type, event.data)


# ---------------------------------------------------------------------------------------------------------------
# Submitting


def test_a_learner_submits_and_submission_submitted_is_published(
    challenges: FlaskClient, published: EventRecorder
) -> None:
    challenge_id = _challenge(challenges, cohorts=["c1"], review={"reviewers_per_submission": 2, "blind": True})
    submission = _submit(challenges, challenge_id)
    assert (submission["challenge_id"], submission["author_id"]) == (challenge_id, "alice")
    assert (submission["version"], submission["status"], submission["grade"], submission["withdrawn_at"]) == (
        1,
        "submitted",
        None,
        None,
    )
    assert (submission["content"], submission["links"]) == (submission_body()["content"], submission_body()["links"])
    assert submission["created_at"] == submission["submitted_at"] == submission["updated_at"]
    assert _versions(challenges, submission["id"]) == [submission["content"]]
    (event,) = published.of_type("submission.submitted")
    data = load_payload(event.type, event.data)
    assert (event.actor_id, data["submission_id"], data["cohorts"]) == ("alice", submission["id"], ["c1"])
    assert data["review"] == {"reviewers_per_submission": 2, "due_hours": 72, "blind": True}
    assert data["rubric"] == [{"criterion": "Accuracy", "max_score": 5}]
    assert data["ends_at"] == END


def test_staff_and_services_may_not_submit_and_nothing_is_stored(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    challenge_id = _challenge(challenges)
    before = api.snapshot(challenges_app)
    for headers in (TEACHER, ADMIN, SERVICE):
        response = challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=headers)
        api.problem(response, 403)
    assert api.snapshot(challenges_app) == before


def test_a_challenge_hidden_from_the_learner_does_not_exist_for_submissions(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    draft = api.created(challenges.post("/challenges", json=challenge_body(), headers=TEACHER))["id"]
    other_cohort = _challenge(challenges, cohorts=["c9"])
    before = api.snapshot(challenges_app)
    for challenge_id in (draft, other_cohort, "0" * 24):
        response = challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=ALICE)
        api.problem(response, 404)
    assert api.snapshot(challenges_app) == before


def test_a_challenge_that_takes_no_submissions_now_answers_409_and_stores_nothing(
    challenges: FlaskClient, challenges_app: Flask, set_clock: Callable[[datetime], None]
) -> None:
    resource_challenge = _challenge(challenges, kind="resource")
    later = _challenge(challenges, starts_at=(NOW + timedelta(hours=2)).isoformat())
    closed = _challenge(challenges)
    api.ok(challenges.post(f"/challenges/{closed}/close", headers=TEACHER))
    ending = _challenge(challenges)
    before = api.snapshot(challenges_app)

    def refused(challenge_id: str) -> str:
        response = challenges.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=ALICE)
        detail: str = api.problem(response, 409)["detail"]
        return detail

    assert "does not take submissions" in refused(resource_challenge)
    assert "opens at" in refused(later)
    assert "closed" in refused(closed)
    set_clock(END + timedelta(seconds=1))
    assert "closed" in refused(ending)
    assert api.snapshot(challenges_app) == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"links": []}, {"content"}),
        (submission_body(content=""), {"content"}),
        (submission_body(content="   \n"), {"content"}),
        (submission_body(links=["https://example.org/" + "a" * 2048]), {"links.0"}),
        (submission_body(links=["https://example.org/a", "https://example.org/a"]), {"links"}),
        (submission_body(author_id="someone-else"), {"author_id"}),
    ],
    ids=["missing-content", "empty-content", "blank-content", "overlong-link", "repeated-link", "author-given"],
)
def test_invalid_submissions_are_refused_naming_the_fields(
    challenges: FlaskClient, challenges_app: Flask, body: dict[str, Any], fields: set[str]
) -> None:
    challenge_id = _challenge(challenges)
    before = api.snapshot(challenges_app)
    response = challenges.post(f"/challenges/{challenge_id}/submissions", json=body, headers=ALICE)
    assert set(api.problem(response, 422)["errors"]) == fields
    assert api.snapshot(challenges_app) == before


def test_the_limits_themselves_are_accepted(challenges: FlaskClient) -> None:
    challenge_id = _challenge(challenges)
    links = [f"http://localhost/{index}" for index in range(9)] + ["https://example.org/" + "a" * 2000]
    submission = _submit(challenges, challenge_id, content="x" * 20_000, links=links)
    assert len(submission["content"]) == 20_000
    assert submission["links"] == links


def test_a_second_submission_is_refused_naming_the_first(challenges: FlaskClient, published: EventRecorder) -> None:
    challenge_id = _challenge(challenges)
    first = _submit(challenges, challenge_id)
    response = challenges.post(
        f"/challenges/{challenge_id}/submissions", json=submission_body(content="again"), headers=ALICE
    )
    problem = api.problem(response, 409)
    assert problem["existing_id"] == first["id"]
    assert problem["type"].endswith("/duplicate-submission")
    assert "PUT" in problem["detail"]
    assert api.ok(challenges.get(f"/submissions/{first['id']}", headers=ALICE)) == first
    assert len(published.of_type("submission.submitted")) == 1


def test_a_withdrawn_submission_is_submitted_again_as_its_next_version(
    challenges: FlaskClient, published: EventRecorder
) -> None:
    challenge_id = _challenge(challenges)
    first = _submit(challenges, challenge_id)
    api.ok(challenges.post(f"/submissions/{first['id']}/withdraw", headers=ALICE))
    again = _submit(challenges, challenge_id, content="Back with a better answer")
    assert again["id"] == first["id"]
    assert (again["version"], again["status"], again["withdrawn_at"]) == (2, "submitted", None)
    assert _versions(challenges, first["id"]) == [first["content"], "Back with a better answer"]
    versions = [load_payload(event.type, event.data)["version"] for event in published.of_type("submission.submitted")]
    assert versions == [1, 2]


# ---------------------------------------------------------------------------------------------------------------
# Reading


def test_services_read_any_submission_and_its_versions(challenges: FlaskClient) -> None:
    submission = _submit(challenges, _challenge(challenges))
    assert api.ok(challenges.get(f"/submissions/{submission['id']}", headers=SERVICE)) == submission
    assert api.ok(challenges.get(f"/submissions/{submission['id']}/versions", headers=SERVICE))["total"] == 1


def test_an_unknown_or_malformed_submission_id_is_not_found(challenges: FlaskClient) -> None:
    api.problem(challenges.get(f"/submissions/{'0' * 24}", headers=ALICE), 404)
    assert challenges.get("/submissions/not-an-id", headers=ALICE).status_code == 404


def test_a_blind_reviewer_reads_the_current_version_without_author_or_grade_and_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    submission = _submit(challenges, _challenge(challenges, review={"blind": True}))
    api.ok(challenges.put(f"/submissions/{submission['id']}", json=submission_body(content="Second"), headers=ALICE))
    _deliver(challenges_app, assigned=[(submission["id"], "carol")], graded=[(submission["id"], 0.8)])
    view = api.ok(challenges.get(f"/submissions/{submission['id']}", headers=CAROL))
    assert (view["author_id"], view["grade"], view["version"], view["content"]) == (None, None, 2, "Second")
    api.problem(challenges.get(f"/submissions/{submission['id']}/versions", headers=CAROL), 404)
    api.problem(challenges.get(f"/submissions/{submission['id']}/versions/1", headers=CAROL), 404)
    before = api.snapshot(challenges_app)
    api.problem(challenges.put(f"/submissions/{submission['id']}", json=submission_body(), headers=CAROL), 403)
    api.problem(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=CAROL), 403)
    assert api.snapshot(challenges_app) == before
    author_view = api.ok(challenges.get(f"/submissions/{submission['id']}", headers=ALICE))
    assert (author_view["author_id"], author_view["grade"]["grade"]) == ("alice", 0.8)


def test_a_delivered_grade_shows_in_the_authors_and_teachers_answers(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    submission_id = _submit(challenges, _challenge(challenges))["id"]
    _deliver(challenges_app, graded=[(submission_id, 0.6)])
    for headers in (ALICE, TEACHER):
        graded = api.ok(challenges.get(f"/submissions/{submission_id}", headers=headers))
        assert graded["status"] == "graded"
        grade = graded["grade"]
        assert (grade["grade"], grade["scores"], grade["feedback"]) == (0.6, {"Accuracy": 3}, "Clear and well sourced")
        assert (grade["review_count"], grade["version"], grade["overridden"]) == (3, 1, False)
        assert grade["graded_at"]
    assert api.ids(challenges.get("/submissions", query_string={"status": "graded"}, headers=ALICE)) == [submission_id]


# ---------------------------------------------------------------------------------------------------------------
# Revising and withdrawing


def test_the_author_revises_into_a_new_version_and_keeps_the_old_one(
    challenges: FlaskClient, published: EventRecorder
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
    assert _versions(challenges, submission["id"]) == [submission["content"], "Better"]
    (event,) = published.of_type("submission.revised")
    data = load_payload(event.type, event.data)
    assert (data["submission_id"], data["version"], data["cohorts"]) == (submission["id"], 2, ["c1"])


def test_the_author_withdraws_once_before_the_deadline(challenges: FlaskClient, published: EventRecorder) -> None:
    submission = _submit(challenges, _challenge(challenges))
    withdrawn = api.ok(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=ALICE))
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["withdrawn_at"]
    (event,) = published.of_type("submission.withdrawn")
    assert load_payload(event.type, event.data)["submission_id"] == submission["id"]
    api.problem(challenges.post(f"/submissions/{submission['id']}/withdraw", headers=ALICE), 409)
    assert len(published.of_type("submission.withdrawn")) == 1
    assert api.ok(challenges.get(f"/submissions/{submission['id']}", headers=ALICE))["status"] == "withdrawn"


def test_once_the_challenge_ends_or_closes_revising_and_withdrawing_answer_409_and_change_nothing(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, set_clock: Callable[[datetime], None]
) -> None:
    ending = _submit(challenges, _challenge(challenges))
    closing_id = _challenge(challenges)
    closing = _submit(challenges, closing_id)
    api.ok(challenges.post(f"/challenges/{closing_id}/close", headers=TEACHER))
    before = api.snapshot(challenges_app)

    def refused(submission_id: str) -> None:
        late = submission_body(content="late")
        api.problem(challenges.put(f"/submissions/{submission_id}", json=late, headers=ALICE), 409)
        api.problem(challenges.post(f"/submissions/{submission_id}/withdraw", headers=ALICE), 409)

    refused(closing["id"])
    set_clock(END)
    refused(ending["id"])
    assert api.snapshot(challenges_app) == before
    assert published.of_type("submission.revised") == published.of_type("submission.withdrawn") == []


# ---------------------------------------------------------------------------------------------------------------
# Versions


def test_versions_are_listed_newest_first_and_read_one_by_one(challenges: FlaskClient) -> None:
    submission_id = _submit(challenges, _challenge(challenges), content="v1")["id"]
    for content in ("v2", "v3"):
        api.ok(challenges.put(f"/submissions/{submission_id}", json=submission_body(content=content), headers=ALICE))
    listing = api.ok(challenges.get(f"/submissions/{submission_id}/versions", headers=ALICE))
    assert listing["total"] == 3
    assert [(item["version"], item["content"]) for item in listing["items"]] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert set(listing["items"][0]) == {"version", "content", "links", "submitted_at"}
    paged = api.ok(
        challenges.get(
            f"/submissions/{submission_id}/versions", query_string={"limit": 1, "offset": 1}, headers=TEACHER
        )
    )
    assert (paged["total"], [item["version"] for item in paged["items"]]) == (3, [2])
    assert api.ok(challenges.get(f"/submissions/{submission_id}/versions/1", headers=ADMIN))["content"] == "v1"
    api.problem(challenges.get(f"/submissions/{submission_id}/versions/4", headers=ALICE), 404)
    assert challenges.get(f"/submissions/{submission_id}/versions/0", headers=ALICE).status_code == 404


# ---------------------------------------------------------------------------------------------------------------
# Listing


def test_a_challenges_submissions_are_listed_newest_first_with_paging_and_a_status_filter(
    challenges: FlaskClient, set_clock: Callable[[datetime], None]
) -> None:
    challenge_id = _challenge(challenges)
    path = f"/challenges/{challenge_id}/submissions"
    set_clock(NOW + timedelta(minutes=1))
    alice = _submit(challenges, challenge_id)["id"]
    set_clock(NOW + timedelta(minutes=2))
    carol = _submit(challenges, challenge_id, headers=CAROL)["id"]
    api.ok(challenges.post(f"/submissions/{carol}/withdraw", headers=CAROL))
    everything = api.ok(challenges.get(path, headers=TEACHER))
    assert (everything["total"], [item["id"] for item in everything["items"]]) == (2, [carol, alice])
    assert api.ids(challenges.get(path, query_string={"status": "submitted"}, headers=ADMIN)) == [alice]
    paged = api.ok(challenges.get(path, query_string={"limit": 1, "offset": 1}, headers=TEACHER))
    assert (paged["total"], [item["id"] for item in paged["items"]]) == (2, [alice])
    assert api.ok(challenges.get(path, headers=ALICE)) == {"items": [everything["items"][1]], "total": 1}


def test_each_caller_lists_their_own_submissions_with_paging_and_filters(
    challenges: FlaskClient, set_clock: Callable[[datetime], None]
) -> None:
    first, second = _challenge(challenges), _challenge(challenges)
    by_other_teacher = _challenge(challenges, headers=OTHER_TEACHER)
    set_clock(NOW + timedelta(minutes=1))
    alice_first = _submit(challenges, first)["id"]
    set_clock(NOW + timedelta(minutes=2))
    alice_second = _submit(challenges, second)["id"]
    set_clock(NOW + timedelta(minutes=3))
    carol_other = _submit(challenges, by_other_teacher, headers=CAROL)["id"]
    api.ok(challenges.post(f"/submissions/{alice_first}/withdraw", headers=ALICE))

    def listed(headers: dict[str, str], **query: Any) -> list[str]:
        return api.ids(challenges.get("/submissions", query_string=query, headers=headers))

    assert listed(ALICE) == [alice_second, alice_first]
    assert listed(ALICE, challenge_id=first) == [alice_first]
    assert listed(ALICE, status="withdrawn") == [alice_first]
    assert listed(TEACHER) == [alice_second, alice_first]
    assert listed(OTHER_TEACHER) == [carol_other]
    assert listed(ADMIN, limit=1, offset=1) == [alice_second]
    assert api.ok(challenges.get("/submissions", headers=ADMIN))["total"] == 3


def test_listing_filters_are_validated(challenges: FlaskClient) -> None:
    challenge_id = _challenge(challenges)
    wrong_status = challenges.get(
        f"/challenges/{challenge_id}/submissions", query_string={"status": "lost"}, headers=TEACHER
    )
    assert set(api.problem(wrong_status, 422)["errors"]) == {"status"}
    wrong_challenge = challenges.get("/submissions", query_string={"challenge_id": "nope"}, headers=ALICE)
    assert set(api.problem(wrong_challenge, 422)["errors"]) == {"challenge_id"}


def test_the_submission_endpoints_document_their_conflicts(challenges: FlaskClient) -> None:
    paths = api.ok(challenges.get("/openapi.json"))["paths"]
    assert {"201", "409"} <= set(paths["/challenges/{challenge_id}/submissions"]["post"]["responses"])
    assert {"200", "409"} <= set(paths["/submissions/{submission_id}"]["put"]["responses"])
    assert {"200", "409"} <= set(paths["/submissions/{submission_id}/withdraw"]["post"]["responses"])
