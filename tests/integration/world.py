"""A small school built through the API: who is who, and what each of them owns.

The role/ownership matrix and the bad-input table both start from this world:
- teacher-1 owns a published challenge (cohort 7a) and a draft;
- alice (7a) has submitted to the challenge and shared a resource;
- bob (7a) has proposed a revision of alice's resource (so a second proposal of his waits: 409);
- carol is a learner of cohort 7b; teacher-2 is another teacher; admin-1 an admin; a service token is
  peer review's.

`WorldHost` keeps one challenges app per test module and hands out either a fresh world (emptied and built
again, for requests that change something) or the module's shared world (built once, for requests that
must change nothing: each such test compares a snapshot of every collection and queue before and after).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from services.challenges.app import create_app
from shared.settings import Settings
from tests.factories import (
    NO_RATE_LIMITS,
    SECRET,
    bearer,
    challenge_body,
    resource_body,
    revision_body,
    submission_body,
)
from tests.integration import api

ANONYMOUS: dict[str, str] = {}
LEARNER = bearer("alice", "learner", cohorts=("7a",))
OTHER_LEARNER = bearer("bob", "learner", cohorts=("7a",))
OTHER_COHORT = bearer("carol", "learner", cohorts=("7b",))
OWNER_TEACHER = bearer("teacher-1", "teacher")
OTHER_TEACHER = bearer("teacher-2", "teacher")
ADMIN = bearer("admin-1", "admin")
# Another service's token, as peer review would read a submission its reviewers are assigned to.
SERVICE = bearer("peer_review", "service")

# The callers of tests/integration/policy.py, by its column names.
PRINCIPALS: dict[str, dict[str, str]] = {
    "anonymous": ANONYMOUS,
    "learner": LEARNER,
    "other_learner": OTHER_LEARNER,
    "other_cohort": OTHER_COHORT,
    "owner_teacher": OWNER_TEACHER,
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
    "service": "peer_review",
}


@dataclass(frozen=True)
class World:
    """The ids of what the world's people own."""

    challenge_id: str
    draft_id: str
    submission_id: str
    resource_id: str
    revision_id: str

    def fill(self, path: str) -> str:
        """Replace {challenge}, {draft}, {submission}, {resource} and {revision} in a path."""
        return path.format(
            challenge=self.challenge_id,
            draft=self.draft_id,
            submission=self.submission_id,
            resource=self.resource_id,
            revision=self.revision_id,
        )


def _created(response: Any) -> str:
    assert response.status_code == 201, response.get_data(as_text=True)
    identifier: str = response.get_json()["id"]
    return identifier


def build_world(client: FlaskClient) -> World:
    """Create the world through the API and return its ids."""
    challenge_id = _created(client.post("/challenges", json=challenge_body(cohorts=["7a"]), headers=OWNER_TEACHER))
    published = client.post(f"/challenges/{challenge_id}/publish", headers=OWNER_TEACHER)
    assert published.status_code == 200, published.get_data(as_text=True)
    draft_id = _created(client.post("/challenges", json=challenge_body(title="Draft"), headers=OWNER_TEACHER))
    submission_id = _created(
        client.post(f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=LEARNER)
    )
    resource_id = _created(client.post("/resources", json=resource_body(), headers=LEARNER))
    revision_id = _created(
        client.post(f"/resources/{resource_id}/revisions", json=revision_body(), headers=OTHER_LEARNER)
    )
    return World(challenge_id, draft_id, submission_id, resource_id, revision_id)


@dataclass
class Unchanged:
    """A test's view of the shared world: the client, the world, and every collection and queue before."""

    app: Flask
    client: FlaskClient
    world: World
    before: dict[str, Any]
    # None until compared: then whether anything differed from `before`.
    changed: bool | None = None

    def assert_unchanged(self) -> None:
        """Assert that every collection and queue is as it was before the test's request."""
        after = api.snapshot(self.app)
        self.changed = after != self.before
        assert after == self.before


class WorldHost:
    """One challenges app for a test module and the worlds built in it through the API."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self._shared: World | None = None

    def empty(self) -> None:
        """Empty every collection (keeping the indexes) and the app's Redis database."""
        database = api.database(self.app)
        for name in database.list_collection_names():
            database[name].delete_many({})
        self.app.extensions["connective"].dependencies.runtime.redis.connection.flushdb()

    def fresh(self) -> World:
        """Build the world again from nothing, for a request that changes it."""
        self._shared = None
        self.empty()
        return build_world(self.client)

    @contextmanager
    def shared(self) -> Iterator[Unchanged]:
        """Yield the module's shared world, built once, with a snapshot taken now.

        A test that changed it (whether or not it got as far as comparing) makes the next test build it
        afresh, so a request that wrongly changes something fails its own test and no other.
        """
        if self._shared is None:
            self._shared = self.fresh()
        view = Unchanged(self.app, self.client, self._shared, api.snapshot(self.app))
        try:
            yield view
        finally:
            if view.changed is None:
                view.changed = api.snapshot(self.app) != view.before
            if view.changed:
                self._shared = None


@contextmanager
def hosted_world(redis_url: str, mongo_url: str, database_prefix: str) -> Iterator[WorldHost]:
    """Run a challenges app for one module on the given servers, settings as tests/conftest.py makes them.

    Its databases are this process's (the session drops them at its end); their data is wiped when the
    module is done.
    """
    settings = Settings.from_env(
        "challenges",
        {
            "MONGO_URL": mongo_url,
            "REDIS_URL": redis_url,
            "JWT_SECRET": SECRET,
            "MONGO_DB_PREFIX": database_prefix,
            **NO_RATE_LIMITS,
        },
    )
    host = WorldHost(create_app(settings))
    try:
        yield host
    finally:
        host.empty()
        host.app.extensions["connective"].dependencies.runtime.mongo.close()
