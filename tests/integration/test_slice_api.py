"""The thin slice's HTTP contract: roles, validation, duplicates, all answered as problem+json."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import bearer, challenge_body, resource_body
from tests.integration import api

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher")
LEARNER = bearer("alice", "learner", cohorts=("c1",))


def test_teacher_creates_a_draft_and_publishes_it(challenges: FlaskClient, challenges_app: Flask) -> None:
    challenge = api.created(challenges.post("/challenges", json=challenge_body(), headers=TEACHER))
    assert challenge["status"] == "draft"
    assert challenge["id"]
    assert api.ok(challenges.post(f"/challenges/{challenge['id']}/publish", headers=TEACHER))["status"] == "published"
    # The challenge.published event left the outbox once published (no consumer routes it yet).
    stored = api.documents(challenges_app, "challenges")
    assert len(stored) == 1
    assert "_outbox" not in stored[0]


def test_publishing_twice_is_a_conflict(challenges: FlaskClient) -> None:
    challenge_id = challenges.post("/challenges", json=challenge_body(), headers=TEACHER).get_json()["id"]
    assert challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER).status_code == 200
    api.problem(challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER), 409)


def test_another_teacher_cannot_publish_a_draft(challenges: FlaskClient) -> None:
    challenge_id = challenges.post("/challenges", json=challenge_body(), headers=TEACHER).get_json()["id"]
    api.problem(challenges.post(f"/challenges/{challenge_id}/publish", headers=bearer("teacher-2", "teacher")), 403)


def test_learners_do_not_see_drafts(challenges: FlaskClient) -> None:
    challenge_id = challenges.post("/challenges", json=challenge_body(), headers=TEACHER).get_json()["id"]
    api.problem(challenges.get(f"/challenges/{challenge_id}", headers=LEARNER), 404)
    assert challenges.get("/challenges", headers=LEARNER).get_json() == {"items": [], "total": 0}
    challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER)
    assert challenges.get(f"/challenges/{challenge_id}", headers=LEARNER).status_code == 200
    assert challenges.get("/challenges", headers=LEARNER).get_json()["total"] == 1


def test_cohort_restricted_challenges_are_hidden_from_other_cohorts(challenges: FlaskClient) -> None:
    body = challenge_body(cohorts=["c2"])
    challenge_id = challenges.post("/challenges", json=body, headers=TEACHER).get_json()["id"]
    challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER)
    api.problem(challenges.get(f"/challenges/{challenge_id}", headers=LEARNER), 404)
    other = bearer("bob", "learner", cohorts=("c2",))
    assert challenges.get(f"/challenges/{challenge_id}", headers=other).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-jwt"}, 401),
        ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, 401),
        (bearer("mallory", "learner"), 403),
    ],
    ids=["no-token", "garbage-token", "basic-auth", "learner"],
)
def test_only_teachers_create_challenges(
    challenges: FlaskClient, challenges_app: Flask, headers: dict[str, str], status: int
) -> None:
    response = challenges.post("/challenges", json=challenge_body(), headers=headers)
    api.problem(response, status)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.documents(challenges_app, "challenges") == []


def test_authentication_is_checked_before_the_body(challenges: FlaskClient) -> None:
    api.problem(challenges.post("/challenges", data="{broken", content_type="application/json"), 401)
    api.problem(challenges.post("/challenges", json={"title": 1}, headers=LEARNER), 403)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (challenge_body(title={"$gt": ""}), {"title"}),
        (challenge_body(description={"$ne": None}, points={"$gt": 0}), {"description", "points"}),
        (challenge_body(tags=[{"$where": "1"}]), {"tags.0"}),
        (challenge_body(title=""), {"title"}),
        (challenge_body(title="x" * 201), {"title"}),
        (challenge_body(points="50"), {"points"}),
        (challenge_body(points=2.5), {"points"}),
        (challenge_body(points=True), {"points"}),
        (challenge_body(kind="essay"), {"kind"}),
        (challenge_body(owner_id="someone-else"), {"owner_id"}),
        (challenge_body(rubric=[{"criterion": "A", "max_score": 0}]), {"rubric.0.max_score"}),
        (challenge_body(starts_at="2026-12-02T00:00:00Z", ends_at="2026-12-01T00:00:00Z"), {"ends_at"}),
        (challenge_body(starts_at="2026-12-02T00:00:00"), {"starts_at"}),
        ({"description": "no title"}, {"title"}),
    ],
    ids=[
        "operator-in-string",
        "operators-in-two-fields",
        "operator-in-list",
        "empty-title",
        "overlong-title",
        "string-number",
        "fractional-number",
        "boolean-number",
        "unknown-kind",
        "unknown-field",
        "rubric-zero-score",
        "dates-out-of-order",
        "naive-date",
        "missing-title",
    ],
)
def test_invalid_challenges_are_refused_naming_the_fields(
    challenges: FlaskClient, challenges_app: Flask, body: dict[str, Any], fields: set[str]
) -> None:
    problem = api.problem(challenges.post("/challenges", json=body, headers=TEACHER), 422)
    assert set(problem["errors"]) == fields
    assert api.documents(challenges_app, "challenges") == []


@pytest.mark.parametrize(
    ("data", "status"),
    [("{not json", 400), ("[1, 2]", 422), ('"a string"', 422), ("x" * 1_100_000, 413)],
    ids=["malformed-json", "json-array", "json-string", "oversized-body"],
)
def test_malformed_bodies_are_refused(
    challenges: FlaskClient, challenges_app: Flask, leaderboards_queue: Any, data: str, status: int
) -> None:
    for path in ("/challenges", "/resources"):
        headers = TEACHER if path == "/challenges" else LEARNER
        api.problem(challenges.post(path, data=data, content_type="application/json", headers=headers), status)
    assert api.documents(challenges_app, "challenges") == []
    assert api.documents(challenges_app, "resources") == []
    assert leaderboards_queue.count == 0


def test_sharing_a_resource_enqueues_resource_shared_for_leaderboards(
    challenges: FlaskClient, challenges_app: Flask, leaderboards_queue: Any
) -> None:
    resource = api.created(challenges.post("/resources", json=resource_body(), headers=LEARNER))
    assert resource["owner_id"] == "alice"
    jobs = leaderboards_queue.get_jobs()
    assert len(jobs) == 1
    assert jobs[0].func_name == "services.leaderboards.jobs.handle_events"
    (envelopes,) = jobs[0].args
    assert [envelope["type"] for envelope in envelopes] == ["resource.shared"]
    assert envelopes[0]["data"]["owner_id"] == "alice"
    assert envelopes[0]["data"]["cohorts"] == ["c1"]
    assert envelopes[0]["producer"] == "challenges"
    # Published, so the outbox is empty again.
    assert "_outbox" not in api.documents(challenges_app, "resources")[0]


@pytest.mark.parametrize(
    "variant",
    [
        "HTTPS://WWW.Example.org/wiki/Pluto/",
        "https://example.org:443/wiki/Pluto#History",
        "http://example.org/wiki/Pluto?utm_source=newsletter&utm_medium=email",
    ],
)
def test_the_same_page_shared_again_answers_409_with_the_existing_id(
    challenges: FlaskClient, challenges_app: Flask, leaderboards_queue: Any, variant: str
) -> None:
    first = api.created(
        challenges.post("/resources", json=resource_body(url="https://example.org/wiki/Pluto"), headers=LEARNER)
    )
    again = challenges.post("/resources", json=resource_body(url=variant), headers=bearer("bob", "learner"))
    problem = api.problem(again, 409)
    assert problem["existing_id"] == first["id"]
    assert "endorse" in problem["detail"]
    assert len(api.documents(challenges_app, "resources")) == 1
    assert leaderboards_queue.count == 1


@pytest.mark.parametrize(
    "body",
    [
        resource_body(url="javascript:alert(1)"),
        resource_body(url="ftp://example.org/file"),
        resource_body(url={"$gt": ""}),
        resource_body(url="https://example.org/" + "a" * 2100),
        resource_body(challenge_id="not-an-id"),
        resource_body(tags=["ok", "ok"]),
        resource_body(owner_id="bob"),
    ],
    ids=["javascript-url", "ftp-url", "operator-url", "overlong-url", "bad-challenge-id", "repeated-tags", "owner"],
)
def test_invalid_resources_are_refused(
    challenges: FlaskClient, challenges_app: Flask, leaderboards_queue: Any, body: dict[str, Any]
) -> None:
    api.problem(challenges.post("/resources", json=body, headers=LEARNER), 422)
    assert api.documents(challenges_app, "resources") == []
    assert leaderboards_queue.count == 0


def test_sharing_to_an_unknown_challenge_is_not_found(challenges: FlaskClient, leaderboards_queue: Any) -> None:
    body = resource_body(challenge_id="0" * 24)
    api.problem(challenges.post("/resources", json=body, headers=LEARNER), 404)
    assert leaderboards_queue.count == 0


@pytest.mark.parametrize("path", ["/challenges/123", "/challenges/" + "f" * 25, "/resources/%24gt", "/resources/x"])
def test_invalid_ids_are_not_found(challenges: FlaskClient, path: str) -> None:
    api.problem(challenges.get(path, headers=LEARNER), 404)


def test_unsupported_methods_keep_the_allow_header(challenges: FlaskClient) -> None:
    response = challenges.delete("/resources", headers=LEARNER)
    api.problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_request_ids_are_echoed_or_made(challenges: FlaskClient) -> None:
    echoed = challenges.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    made = challenges.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces"
    assert len(made.headers["X-Request-ID"]) == 32


def test_readiness_reports_mongo_and_redis(challenges: FlaskClient) -> None:
    assert api.ok(challenges.get("/readyz"))["checks"] == {"mongo": "ok", "redis": "ok"}


def test_list_endpoints_page_with_limit_and_offset(challenges: FlaskClient) -> None:
    for index in range(3):
        challenges.post("/challenges", json=challenge_body(title=f"Challenge {index}"), headers=TEACHER)
    page = challenges.get("/challenges?limit=2&offset=1", headers=TEACHER).get_json()
    assert page["total"] == 3
    assert [item["title"] for item in page["items"]] == ["Challenge 1", "Challenge 0"]
    api.problem(challenges.get("/challenges?limit=0", headers=TEACHER), 422)
    api.problem(challenges.get("/challenges?limit=abc", headers=TEACHER), 422)
    api.problem(challenges.get("/challenges?limit=2.5", headers=TEACHER), 422)
