"""The thin slice's HTTP contract: publishing, sharing, duplicates, tokens, ids, methods, headers and health.

Each endpoint's bad bodies are in the bad-input table (tests/integration/test_bad_input.py) and who may
call it in the access matrix; here is the rest of what a client sees.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import bearer, challenge_body, resource_body
from tests.integration import api
from tests.integration.conftest import EventRecorder

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher")
LEARNER = bearer("alice", "learner", cohorts=("c1",))


def test_teacher_creates_a_draft_and_publishing_it_announces_it(
    challenges: FlaskClient, published: EventRecorder
) -> None:
    challenge = api.created(challenges.post("/challenges", json=challenge_body(), headers=TEACHER))
    assert challenge["status"] == "draft"
    assert challenge["id"]
    assert published.events == []
    assert api.ok(challenges.post(f"/challenges/{challenge['id']}/publish", headers=TEACHER))["status"] == "published"
    (event,) = published.events
    assert (event.type, event.data["challenge_id"]) == ("challenge.published", challenge["id"])


def test_publishing_twice_is_a_conflict(challenges: FlaskClient) -> None:
    challenge_id = challenges.post("/challenges", json=challenge_body(), headers=TEACHER).get_json()["id"]
    assert challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER).status_code == 200
    api.problem(challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER), 409)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"}],
    ids=["no-token", "garbage-token", "basic-auth"],
)
def test_a_request_without_a_valid_bearer_token_is_unauthorized_and_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask, headers: dict[str, str]
) -> None:
    before = api.snapshot(challenges_app)
    response = challenges.post("/challenges", json=challenge_body(), headers=headers)
    api.problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.snapshot(challenges_app) == before


def test_authentication_is_checked_before_the_body(challenges: FlaskClient) -> None:
    api.problem(challenges.post("/challenges", data="{broken", content_type="application/json"), 401)
    api.problem(challenges.post("/challenges", json={"title": 1}, headers=LEARNER), 403)


def test_sharing_a_resource_enqueues_resource_shared_for_leaderboards(
    challenges: FlaskClient, leaderboards_queue: Any
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


@pytest.mark.parametrize(
    "variant",
    [
        "HTTPS://WWW.Example.org/wiki/Pluto/",
        "https://example.org:443/wiki/Pluto#History",
        "http://example.org/wiki/Pluto?utm_source=newsletter&utm_medium=email",
    ],
)
def test_the_same_page_shared_again_answers_409_with_the_existing_id_and_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask, variant: str
) -> None:
    first = api.share(challenges, LEARNER, url="https://example.org/wiki/Pluto")
    before = api.snapshot(challenges_app)
    again = challenges.post("/resources", json=resource_body(url=variant), headers=bearer("bob", "learner"))
    problem = api.problem(again, 409)
    assert problem["existing_id"] == first["id"]
    assert "endorse" in problem["detail"]
    assert api.snapshot(challenges_app) == before


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
