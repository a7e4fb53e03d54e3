"""A boolean in a query string is `true` or `false`; anything else is a 422 naming the parameter."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.factories import bearer

pytestmark = pytest.mark.integration

LEARNER = bearer("alice", cohorts=("7a",))


@pytest.mark.parametrize(
    ("path", "name"), [("/resources", "stale"), ("/resources", "flagged"), ("/challenges", "open")]
)
@pytest.mark.parametrize("value", ["1", "0", "yes", "on"])
def test_a_query_boolean_spelled_otherwise_is_refused_naming_it(
    challenges: FlaskClient, path: str, name: str, value: str
) -> None:
    response = challenges.get(path, query_string={name: value}, headers=LEARNER)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert name in response.get_json()["errors"]


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_query_boolean_spelled_true_or_false_is_taken(challenges: FlaskClient, value: str) -> None:
    assert challenges.get("/resources", query_string={"stale": value}, headers=LEARNER).status_code == 200
