"""A write whose body is not JSON is refused with 415 (problem+json) in every service, and changes nothing.

Before, the parser read a `text/plain` or form body as no body: an endpoint whose fields are all optional
(minting a classroom token, pulling a review) then did what an empty JSON object asks.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.factories import bearer, resource_body

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher", cohorts=("7a",))
LEARNER = bearer("alice", cohorts=("7a",))


def assert_refused(response: object, sent: str) -> None:
    assert response.status_code == 415, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    assert sent in response.get_json()["detail"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "hours=2"), ("application/x-www-form-urlencoded", "hours=2"), ("application/xml", "<a/>")],
)
def test_a_leaderboards_write_with_a_body_that_is_not_json_is_refused(
    leaderboards: FlaskClient, content_type: str, body: str
) -> None:
    response = leaderboards.post(
        "/leaderboards/global/view-tokens", data=body, headers={**TEACHER, "Content-Type": content_type}
    )
    assert_refused(response, content_type)


def test_a_challenges_write_with_a_text_body_is_refused_and_stores_nothing(challenges: FlaskClient) -> None:
    before = challenges.get("/resources", headers=LEARNER).get_json()["total"]
    text = str(resource_body())
    response = challenges.post("/resources", data=text, headers={**LEARNER, "Content-Type": "text/plain"})
    assert_refused(response, "text/plain")
    assert challenges.get("/resources", headers=LEARNER).get_json()["total"] == before


def test_a_peer_review_write_with_a_text_body_is_refused(peer_review: FlaskClient) -> None:
    response = peer_review.post(
        "/assignments/next", data="kind=revision", headers={**LEARNER, "Content-Type": "text/plain"}
    )
    assert_refused(response, "text/plain")


def test_a_write_without_a_body_or_with_json_is_let_through(leaderboards: FlaskClient) -> None:
    assert leaderboards.post("/leaderboards/global/view-tokens", json={}, headers=TEACHER).status_code == 201
    bodyless = leaderboards.post("/leaderboards/global/view-tokens", headers=TEACHER)
    assert bodyless.status_code != 415
