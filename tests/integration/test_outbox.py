"""The transactional outbox: an event written with its document reaches its queue, crash or outage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.app import create_app
from services.challenges.repository.resources import RESOURCES
from tests.conftest import SettingsFactory
from tests.factories import bearer, resource_body
from tests.integration import api

pytestmark = pytest.mark.integration

LEARNER = bearer("alice", "learner")


def test_an_event_survives_a_redis_outage_and_is_relayed_later(
    backend_settings: SettingsFactory, leaderboards_queue: Any
) -> None:
    # The API writes while Redis is unreachable: the write succeeds and the event waits in the outbox.
    unreachable = backend_settings("challenges", redis_url="redis://127.0.0.1:1/0")
    down = create_app(unreachable)
    response = down.test_client().post("/resources", json=resource_body(), headers=LEARNER)
    assert response.status_code == 201
    (stored,) = api.documents(down, RESOURCES)
    assert len(stored["_outbox"]) == 1
    assert leaderboards_queue.count == 0

    # Redis is back; the worker's relay publishes it once the grace period has passed.
    up = create_app(backend_settings("challenges"))
    outbox = up.extensions["connective"].dependencies.outbox
    assert outbox.relay_pending() == 0  # still within the grace period: the request may yet publish it
    later = stored["_outbox_since"] + timedelta(seconds=60)
    assert outbox.relay_pending(now=later) == 1
    assert leaderboards_queue.count == 1
    (envelopes,) = leaderboards_queue.get_jobs()[0].args
    assert envelopes[0]["data"]["resource_id"] == response.get_json()["id"]
    assert "_outbox" not in api.documents(up, RESOURCES)[0]
    assert outbox.relay_pending(now=later) == 0
    assert leaderboards_queue.count == 1


def test_a_relay_after_a_successful_publish_sends_nothing(
    challenges: FlaskClient, challenges_app: Flask, leaderboards_queue: Any
) -> None:
    challenges.post("/resources", json=resource_body(), headers=LEARNER)
    outbox = challenges_app.extensions["connective"].dependencies.outbox
    (stored,) = api.documents(challenges_app, RESOURCES)
    assert outbox.relay_pending(now=stored["created_at"] + timedelta(hours=1)) == 0
    assert leaderboards_queue.count == 1
