"""The transactional outbox on FerretDB and Redis: an event written with its document reaches its queue.

The request publishes its events right after its write; when Redis is unreachable they wait in the
document (the outbox marker) and the worker's relay sends them once the grace period has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.app import create_app
from shared.outbox import OUTBOX_SINCE_FIELD, Outbox
from tests.conftest import SettingsFactory
from tests.factories import bearer, resource_body
from tests.integration import api

pytestmark = pytest.mark.integration

LEARNER = bearer("alice", "learner")
MOMENT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _outbox(app: Flask) -> Outbox:
    outbox: Outbox | None = app.extensions["connective"].dependencies.repositories.store.outbox
    assert outbox is not None
    return outbox


def _waiting(app: Flask) -> int:
    """Return how many documents hold events not yet published (read through the service's store)."""
    store = app.extensions["connective"].dependencies.repositories.store
    pending = {OUTBOX_SINCE_FIELD: {"$exists": True}}
    return sum(store.collection(name).count_documents(pending) for name in _outbox(app).collections)


def test_an_event_survives_a_redis_outage_and_is_relayed_once_after_the_grace_period(
    backend_settings: SettingsFactory, leaderboards_queue: Any
) -> None:
    # The API writes while Redis is unreachable: the write succeeds and the event waits in the document.
    down = create_app(backend_settings("challenges", redis_url="redis://127.0.0.1:1/0"))
    down.extensions["connective"].dependencies.runtime.clock = lambda: MOMENT
    resource = api.created(down.test_client().post("/resources", json=resource_body(), headers=LEARNER))
    assert _waiting(down) == 1
    assert leaderboards_queue.count == 0

    # Redis is back; the worker's relay leaves the event alone while the request might still publish it.
    up = create_app(backend_settings("challenges"))
    outbox = _outbox(up)
    assert outbox.relay_pending(now=MOMENT + outbox.grace - timedelta(seconds=1)) == 0
    assert leaderboards_queue.count == 0
    later = MOMENT + outbox.grace
    assert outbox.relay_pending(now=later) == 1
    (job,) = leaderboards_queue.get_jobs()
    (envelopes,) = job.args
    assert [(envelope["type"], envelope["data"]["resource_id"]) for envelope in envelopes] == [
        ("resource.shared", resource["id"])
    ]
    assert _waiting(up) == 0
    assert outbox.relay_pending(now=later + timedelta(hours=1)) == 0
    assert leaderboards_queue.count == 1
    for app in (down, up):
        app.extensions["connective"].dependencies.runtime.mongo.close()


def test_a_relay_after_a_successful_publish_sends_nothing(
    challenges: FlaskClient, challenges_app: Flask, leaderboards_queue: Any, set_clock: Callable[[Any], None]
) -> None:
    set_clock(MOMENT)
    api.share(challenges, LEARNER)
    assert leaderboards_queue.count == 1
    assert _waiting(challenges_app) == 0
    assert _outbox(challenges_app).relay_pending(now=MOMENT + timedelta(hours=1)) == 0
    assert leaderboards_queue.count == 1
