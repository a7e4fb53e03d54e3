"""Integration fixtures: the apps over a real MongoDB wire-protocol server and real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from devstack.servers import RedisServer
from services.challenges.app import create_app as create_challenges_app
from services.leaderboards.app import create_app as create_leaderboards_app
from services.peer_review.app import create_app as create_peer_review_app
from shared.queues import make_queue
from shared.settings import Settings
from tests.conftest import SettingsFactory
from tests.integration.world import Unchanged, WorldHost, hosted_world
from tests.integration.writes import SERVICES, started_apps

pytestmark = pytest.mark.integration


@pytest.fixture
def backend_settings(real_settings: SettingsFactory) -> SettingsFactory:
    """Run the HTTP suites on the real wire-protocol server (FerretDB, or MongoDB with MONGO_URL).

    The in-process store (mongomock) is the fallback of `make run` without Go; `test_fallback_store.py`
    checks that the services work on it, and the use cases' unit tests run on in-memory fakes.
    """
    return real_settings


def _running(create_app: Callable[[Settings], Flask], settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    app.extensions["connective"].dependencies.runtime.mongo.close()


@pytest.fixture
def challenges_app(backend_settings: SettingsFactory) -> Iterator[Flask]:
    """Return the challenges app."""
    yield from _running(create_challenges_app, backend_settings("challenges"))


@pytest.fixture
def challenges(challenges_app: Flask) -> FlaskClient:
    """Return a test client of the challenges app."""
    return challenges_app.test_client()


@pytest.fixture
def peer_review_app(backend_settings: SettingsFactory) -> Iterator[Flask]:
    """Return the peer-review app."""
    yield from _running(create_peer_review_app, backend_settings("peer_review"))


@pytest.fixture
def peer_review(peer_review_app: Flask) -> FlaskClient:
    """Return a test client of the peer-review app."""
    return peer_review_app.test_client()


@pytest.fixture
def leaderboards_app(backend_settings: SettingsFactory) -> Iterator[Flask]:
    """Return the leaderboards app."""
    yield from _running(create_leaderboards_app, backend_settings("leaderboards"))


@pytest.fixture
def leaderboards(leaderboards_app: Flask) -> FlaskClient:
    """Return a test client of the leaderboards app."""
    return leaderboards_app.test_client()


@pytest.fixture
def leaderboards_queue(redis_url: str) -> Any:
    """Return the leaderboards queue (where resource.shared goes)."""
    return make_queue("leaderboards", redis.Redis.from_url(redis_url))


class EventRecorder:
    """Records every event the app publishes (and still publishes it), for tests that check emissions."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def of_type(self, event_type: str) -> list[Any]:
        """Return the recorded events of one type, oldest first."""
        return [event for event in self.events if event.type == event_type]


@pytest.fixture
def published(challenges_app: Flask) -> EventRecorder:
    """Record the events the challenges app publishes from its outbox."""
    recorder = EventRecorder()
    outbox = challenges_app.extensions["connective"].dependencies.repositories.store.outbox
    original = outbox.publish

    def publish(events: Any) -> object:
        recorder.events.extend(events)
        return original(events)

    outbox.publish = publish
    return recorder


@pytest.fixture
def set_clock(challenges_app: Flask) -> Callable[[Any], None]:
    """Return a function that fixes the challenges app's clock at a given aware datetime."""
    runtime = challenges_app.extensions["connective"].dependencies.runtime

    def set_to(moment: Any) -> None:
        runtime.clock = lambda: moment

    return set_to


@pytest.fixture(scope="module")
def host(
    redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any
) -> Iterator[WorldHost]:
    """Return this module's challenges app on FerretDB (mongo_client: the session drops its databases)."""
    with hosted_world(redis_server.url, mongo_server_url, database_prefix) as host:
        yield host


@pytest.fixture
def unchanged(host: WorldHost) -> Iterator[Unchanged]:
    """Return the module's shared world and a snapshot of every collection and queue taken before the test."""
    with host.shared() as view:
        yield view


@pytest.fixture
def make_app() -> Iterator[Callable[[str, Settings], Flask]]:
    """Return a function making a service's app from settings (closed after the test)."""
    with started_apps() as make:
        yield make


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    """Return each service's name in turn (the tests of the kit's write protections run on all three)."""
    name: str = request.param
    return name
