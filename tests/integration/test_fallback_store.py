"""The in-process store keeps working: `make run` without Go runs the services on mongomock.

That fallback sets MONGO_URL=mongomock:// and INLINE_WORKER (each API consumes its queue in a thread). The
HTTP suites run on FerretDB only, so this smoke test is what shows the apps still answer on mongomock:
its unique indexes, its pages and the outbox. The inline worker thread is not started here (it would
outlive the test); its job is done as it would do it, by applying the queued events.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.challenges.app import create_app as create_challenges_app
from services.leaderboards.app import create_app as create_leaderboards_app
from services.leaderboards.usecases import awarding as leaderboards_awarding
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from tests.conftest import SettingsFactory
from tests.factories import bearer, challenge_body, resource_body
from tests.integration import api

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher")
ALICE = bearer("alice", "learner", cohorts=("7a",))
BOB = bearer("bob", "learner", cohorts=("7a",))


def test_the_challenges_app_answers_on_the_in_process_store(make_settings: SettingsFactory) -> None:
    settings = make_settings("challenges")
    assert settings.mongo_url.startswith("mongomock://")
    client = create_challenges_app(settings).test_client()
    challenge = api.created(client.post("/challenges", json=challenge_body(), headers=TEACHER))
    assert api.ok(client.post(f"/challenges/{challenge['id']}/publish", headers=TEACHER))["status"] == "published"
    assert api.ids(client.get("/challenges", headers=ALICE)) == [challenge["id"]]
    body = resource_body(challenge_id=challenge["id"])
    resource = api.created(client.post("/resources", json=body, headers=ALICE))
    assert api.ok(client.get(f"/resources/{resource['id']}", headers=BOB)) == resource
    duplicate = api.problem(client.post("/resources", json=body, headers=BOB), 409)
    assert duplicate["existing_id"] == resource["id"]
    assert api.ok(client.get("/resources", headers=BOB))["total"] == 1


def test_a_resource_shared_on_the_in_process_store_earns_points_on_the_boards(
    make_settings: SettingsFactory, leaderboards_queue: Any
) -> None:
    challenges = create_challenges_app(make_settings("challenges")).test_client()
    api.share(challenges, ALICE)
    (job,) = leaderboards_queue.get_jobs()
    events = [Event.from_dict(envelope) for envelope in job.args[0]]
    leaderboards_app = create_leaderboards_app(make_settings("leaderboards"))
    context = leaderboards_app.extensions["connective"].dependencies.context()
    delivered = [(event, load_payload(event.type, event.data)) for event in events]
    assert leaderboards_awarding.apply_events(delivered, context=context) == 1
    leaderboards = leaderboards_app.test_client()
    assert api.ok(leaderboards.get("/users/alice/points", headers=ALICE))["total"] == 5
    board = api.ok(leaderboards.get("/leaderboards/cohort:7a", headers=BOB))
    assert board["entries"] == [{"rank": 1, "user_id": "alice", "points": 5}]
