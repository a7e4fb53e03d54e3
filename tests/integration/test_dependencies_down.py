"""An API whose MongoDB or Redis is down answers 503 with Retry-After (problem+json), never 500, and soon.

The drivers give up after their timeouts (MongoDB's server selection 5 s, Redis's connect 3 s), so a
request waits at most that long; the answer tells the client the request may succeed in a moment.
"""

from __future__ import annotations

import pytest

from devstack.servers import free_port
from services.challenges.app import create_app as create_challenges_app
from services.leaderboards.app import create_app as create_leaderboards_app
from tests.conftest import SettingsFactory
from tests.factories import bearer, resource_body

pytestmark = pytest.mark.integration


def assert_unavailable(response: object) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    assert response.headers["Retry-After"] == "5"  # type: ignore[attr-defined]
    assert "try again" in response.get_json()["detail"]  # type: ignore[attr-defined]


def test_mongodb_down_answers_503_to_reads_and_writes(make_settings: SettingsFactory) -> None:
    app = create_challenges_app(make_settings("challenges", mongo_url=f"mongodb://127.0.0.1:{free_port()}/"))
    client = app.test_client()
    assert_unavailable(client.get("/challenges", headers=bearer("alice")))
    assert_unavailable(client.post("/resources", json=resource_body(), headers=bearer("alice", cohorts=("7a",))))
    assert client.get("/readyz").status_code == 503
    app.extensions["connective"].dependencies.runtime.mongo.close()


def test_redis_down_answers_503_to_a_board_read(make_settings: SettingsFactory) -> None:
    settings = make_settings("leaderboards", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_leaderboards_app(settings)
    assert_unavailable(app.test_client().get("/leaderboards/global", headers=bearer("alice")))
    app.extensions["connective"].dependencies.runtime.mongo.close()
