"""Prerequisites over HTTP: a learner takes part in a challenge only after submitting to each challenge it requires.

Which submissions count (the learner's own, not withdrawn) is unit-tested over the in-memory fakes in
tests/unit/test_submission_usecases.py; here are the answers: 422 for a bad prerequisite, 409 listing the missing.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.factories import bearer, challenge_body, resource_body, submission_body
from tests.integration import api

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher")
ALICE = bearer("alice", "learner", cohorts=("7a",))


def _submit(client: FlaskClient, challenge_id: str) -> int:
    return client.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=ALICE).status_code


def _published(client: FlaskClient, **overrides: Any) -> str:
    created = client.post("/challenges", json=challenge_body(**overrides), headers=TEACHER)
    assert created.status_code == 201, created.get_data(as_text=True)
    challenge_id: str = created.get_json()["id"]
    assert client.post(f"/challenges/{challenge_id}/publish", headers=TEACHER).status_code == 200
    return challenge_id


def test_a_prerequisite_must_be_a_challenge_that_takes_submissions(challenges: FlaskClient) -> None:
    resource_challenge = _published(challenges, kind="resource")
    response = challenges.post("/challenges", json=challenge_body(prerequisites=[resource_challenge]), headers=TEACHER)
    assert set(api.problem(response, 422)["errors"]) == {"prerequisites"}


def test_submitting_answers_409_listing_the_missing_prerequisites_in_order_then_succeeds(
    challenges: FlaskClient,
) -> None:
    first, second = _published(challenges), _published(challenges)
    final = _published(challenges, prerequisites=[first, second])
    refused = challenges.post(f"/challenges/{final}/submissions", json=submission_body(), headers=ALICE)
    assert api.problem(refused, 409)["missing_prerequisites"] == [first, second]
    assert api.ok(challenges.get(f"/challenges/{final}/submissions", headers=TEACHER))["total"] == 0
    assert _submit(challenges, second) == 201
    refused = challenges.post(f"/challenges/{final}/submissions", json=submission_body(), headers=ALICE)
    assert api.problem(refused, 409)["missing_prerequisites"] == [first]
    assert _submit(challenges, first) == 201
    assert _submit(challenges, final) == 201


def test_sharing_to_a_resource_challenge_waits_for_its_prerequisites(challenges: FlaskClient) -> None:
    first = _published(challenges)
    sharing = _published(challenges, kind="resource", prerequisites=[first])
    refused = challenges.post("/resources", json=resource_body(challenge_id=sharing), headers=ALICE)
    assert api.problem(refused, 409)["missing_prerequisites"] == [first]
    assert challenges.get("/resources", headers=ALICE).get_json()["total"] == 0
    # The challenge's teacher shares supporting material without taking part.
    assert challenges.post("/resources", json=resource_body(challenge_id=sharing), headers=TEACHER).status_code == 201
    assert _submit(challenges, first) == 201
    assert challenges.post("/resources", json=resource_body(challenge_id=sharing), headers=ALICE).status_code == 201
