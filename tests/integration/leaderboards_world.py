"""A small class on the leaderboards, built the way it arrives: events as the worker applies them, awards over HTTP.

`build_world` makes the world the role matrix and the bad-input table start from:
- alice and bob (cohort 7a) and carol (7b) each shared a resource (so the leaderboards know their cohorts);
- teacher-1 teaches 7a, teacher-2 teaches 7b (their tokens name the cohort); admin-1 is an admin; a service
  token is another service's;
- teacher-1 awarded bob points on the global board only, and awarded bob 3 more on 7a's board and reversed
  them; teacher-2 awarded carol points on 7b's board.

`LeaderboardsHost` keeps one leaderboards app per test module and hands out either a fresh world (emptied and
built again, for requests that change something) or the module's shared world (built once, for requests that
must change nothing: each compares a snapshot of every collection and of every Redis key, the boards, the
balances, the markers and the `events:leaderboards` stream included, before and after).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from services.leaderboards.app import create_app
from services.leaderboards.domain.ledger import ledger_key
from services.leaderboards.repository.boards import KEY_PREFIX
from services.leaderboards.usecases import awarding
from shared.clock import utc_now
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from shared.settings import Settings
from tests.factories import NO_RATE_LIMITS, SECRET, bearer, resource_shared_event
from tests.integration import api

ANONYMOUS: dict[str, str] = {}
LEARNER = bearer("alice", "learner", cohorts=("7a",))
OTHER_LEARNER = bearer("bob", "learner", cohorts=("7a",))
OTHER_COHORT = bearer("carol", "learner", cohorts=("7b",))
TEACHER = bearer("teacher-1", "teacher", cohorts=("7a",))
OTHER_TEACHER = bearer("teacher-2", "teacher", cohorts=("7b",))
ADMIN = bearer("admin-1", "admin")
SERVICE = bearer("challenges", "service")

RENDERED_PAGES = f"{KEY_PREFIX}:page:".encode()

# The callers of tests/integration/policy.py, by its column names.
PRINCIPALS: dict[str, dict[str, str]] = {
    "anonymous": ANONYMOUS,
    "learner": LEARNER,
    "other_learner": OTHER_LEARNER,
    "other_cohort": OTHER_COHORT,
    "owner_teacher": TEACHER,
    "other_teacher": OTHER_TEACHER,
    "admin": ADMIN,
    "service": SERVICE,
}
# Who each column is (the anonymous caller names nobody).
USER_IDS = {
    "anonymous": "nobody",
    "learner": "alice",
    "other_learner": "bob",
    "other_cohort": "carol",
    "owner_teacher": "teacher-1",
    "other_teacher": "teacher-2",
    "admin": "admin-1",
    "service": "challenges",
}


@dataclass(frozen=True)
class LeaderboardsWorld:
    """The keys of the world's ledger entries."""

    # alice's resource.shared entry: on global, cohort:7a and tag:astronomy.
    shared_key: str
    # teacher-1's award to bob, on the global board only.
    global_award_key: str
    # teacher-2's award to carol, on cohort:7b.
    other_cohort_award_key: str
    # teacher-1's award to bob on cohort:7a, reversed already, and its reversal.
    reversed_key: str
    reversal_key: str

    def fill(self, text: str) -> str:
        """Replace {shared}, {global_award}, {other_cohort_award}, {reversed} and {reversal} in a text."""
        return text.format(
            shared=self.shared_key,
            global_award=self.global_award_key,
            other_cohort_award=self.other_cohort_award_key,
            reversed=self.reversed_key,
            reversal=self.reversal_key,
        )


def dependencies(app: Flask) -> Any:
    """Return the app's dependencies."""
    return app.extensions["connective"].dependencies


def apply(app: Flask, *events: Event) -> int:
    """Apply a batch of events as the worker's job does, in the app's own context; return the new entries."""
    batch = [(event, load_payload(event.type, event.data)) for event in events]
    return awarding.apply_events(batch, context=dependencies(app).context())


def redis_state(app: Flask) -> dict[str, Any]:
    """Return every key of the app's Redis database with its type and whole value (boards, markers, the stream).

    Rendered first pages (`lb:page:...`) are left out: they are a cache of the boards that expires within a
    minute and that a read renders again when it finds none, so a read may write one without changing anything.
    """
    connection = dependencies(app).runtime.redis.connection
    state: dict[str, Any] = {}
    for key in sorted(connection.scan_iter("*")):
        if key.startswith(RENDERED_PAGES):
            continue
        kind = connection.type(key).decode()
        value: Any
        if kind == "zset":
            value = connection.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            value = sorted(connection.hgetall(key).items())
        elif kind == "stream":
            value = connection.xrange(key)
        elif kind == "list":
            value = connection.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(connection.smembers(key))
        else:
            value = connection.get(key)
        state[key.decode()] = (kind, value)
    return state


def snapshot(app: Flask) -> dict[str, Any]:
    """Return every document of every collection and every Redis key and value (to show nothing changed)."""
    return {"collections": api.snapshot(app)["collections"], "redis": redis_state(app)}


def _award(client: FlaskClient, headers: dict[str, str], **body: Any) -> str:
    response = client.post("/awards", json={"reason": "Helped the class set up the telescope", **body}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    key: str = response.get_json()["key"]
    return key


def build_world(app: Flask, client: FlaskClient) -> LeaderboardsWorld:
    """Create the world through events and the API and return its keys."""
    shared = resource_shared_event("alice", cohorts=["7a"], tags=["astronomy"], title="Pluto")
    apply(
        app,
        shared,
        resource_shared_event("bob", cohorts=["7a"]),
        resource_shared_event("carol", cohorts=["7b"]),
    )
    global_award_key = _award(client, TEACHER, user_id="bob", points=4)
    other_cohort_award_key = _award(client, OTHER_TEACHER, user_id="carol", points=6, cohorts=["7b"])
    reversed_key = _award(client, TEACHER, user_id="bob", points=3, cohorts=["7a"])
    reversal = client.post(
        "/awards/reversals", json={"entry_key": reversed_key, "reason": "Awarded twice"}, headers=TEACHER
    )
    assert reversal.status_code == 201, reversal.get_data(as_text=True)
    return LeaderboardsWorld(
        shared_key=ledger_key(shared.id, "resource.shared", "alice"),
        global_award_key=global_award_key,
        other_cohort_award_key=other_cohort_award_key,
        reversed_key=reversed_key,
        reversal_key=reversal.get_json()["key"],
    )


@dataclass
class Unchanged:
    """A test's view of the shared world: the client, the world, and the whole storage before."""

    app: Flask
    client: FlaskClient
    world: LeaderboardsWorld
    before: dict[str, Any]
    # None until compared: then whether anything differed from `before`.
    changed: bool | None = None

    def assert_unchanged(self) -> None:
        """Assert that every collection and every Redis key is as it was before the test's request."""
        after = snapshot(self.app)
        self.changed = after != self.before
        assert after == self.before


class LeaderboardsHost:
    """One leaderboards app for a test module and the worlds built in it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self._shared: LeaderboardsWorld | None = None

    def empty(self) -> None:
        """Empty every collection (keeping the indexes) and the app's Redis database; reset the clock."""
        database = api.database(self.app)
        for name in database.list_collection_names():
            database[name].delete_many({})
        runtime = dependencies(self.app).runtime
        runtime.redis.connection.flushdb()
        runtime.clock = utc_now

    def fresh(self) -> LeaderboardsWorld:
        """Build the world again from nothing, for a request that changes it."""
        self._shared = None
        self.empty()
        return build_world(self.app, self.client)

    @contextmanager
    def shared(self) -> Iterator[Unchanged]:
        """Yield the module's shared world, built once, with a snapshot taken now.

        A test that changed it (whether or not it got as far as comparing) makes the next test build it
        afresh, so a request that wrongly changes something fails its own test and no other.
        """
        if self._shared is None:
            self._shared = self.fresh()
        view = Unchanged(self.app, self.client, self._shared, snapshot(self.app))
        try:
            yield view
        finally:
            if view.changed is None:
                view.changed = snapshot(self.app) != view.before
            if view.changed:
                self._shared = None


@contextmanager
def hosted_leaderboards(redis_url: str, mongo_url: str, database_prefix: str) -> Iterator[LeaderboardsHost]:
    """Run a leaderboards app for one module on these servers; its data is wiped when the module is done."""
    environ = {
        "MONGO_URL": mongo_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": SECRET,
        "MONGO_DB_PREFIX": database_prefix,
        **NO_RATE_LIMITS,
    }
    host = LeaderboardsHost(create_app(Settings.from_env("leaderboards", environ)))
    try:
        yield host
    finally:
        host.empty()
        dependencies(host.app).runtime.mongo.close()
