"""One write of each service that creates something, for the tests of the kit's write protections.

The rate limits and the Idempotency-Key records are the kit's, the same for every service, so their tests
run each case on all three: the challenges share a resource, peer review takes a review of an assignment
(a world of a challenge and two submissions, delivered as events), the leaderboards record a staff award.
`footprint` is what a refused or replayed write must leave as it was: every document, the number of
documents of each collection, and the length of every RQ queue and Redis stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from services.challenges.app import create_app as create_challenges_app
from services.leaderboards.app import create_app as create_leaderboards_app
from services.peer_review.app import create_app as create_peer_review_app
from shared.ids import new_id
from shared.settings import Settings
from tests.factories import bearer, resource_body
from tests.integration import api
from tests.integration.peer_review_world import OTHER_LEARNER, REVIEWER, Classroom, review_body

SERVICES = ("challenges", "peer_review", "leaderboards")
CREATE_APP: dict[str, Callable[[Settings], Flask]] = {
    "challenges": create_challenges_app,
    "peer_review": create_peer_review_app,
    "leaderboards": create_leaderboards_app,
}


@dataclass
class Scene:
    """A service's app and a write of it that creates something new, with who sends it and who else might."""

    service: str
    app: Flask
    creator: dict[str, str]
    # Another caller, whom the same write either makes something of their own for or is refused to.
    other: dict[str, str]
    path: str
    make_body: Callable[[], dict[str, Any]]
    # What the same write answers when sent again without a key (the service's own duplicate rule, or 201).
    repeat_status: int

    @property
    def client(self) -> FlaskClient:
        """Return a test client of the app."""
        return self.app.test_client()

    def write(
        self, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> TestResponse:
        """POST the write (a new body unless one is given) as the creator (unless other headers are given)."""
        sent = self.make_body() if body is None else body
        return self.client.post(self.path, json=sent, headers=self.creator if headers is None else headers, **kwargs)

    def refused_write(self, headers: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """POST the write with an empty body, which its view refuses (a write all the same)."""
        return self.write({}, headers, **kwargs)


def _peer_review_scene(app: Flask) -> Scene:
    classroom = Classroom(app)
    challenge_id = classroom.publish_challenge()
    submission_id = classroom.submit(challenge_id, "alice")
    # Give-to-get: bob, submitting after alice, is handed her submission to review.
    classroom.submit(challenge_id, "bob")
    assignment = classroom.assignment_on(submission_id, REVIEWER)
    return Scene(
        "peer_review",
        app,
        creator=dict(REVIEWER),
        other=dict(OTHER_LEARNER),
        path=f"/assignments/{assignment['id']}/review",
        make_body=review_body,
        repeat_status=409,
    )


def scene(service: str, app: Flask) -> Scene:
    """Return the service's creating write on this app, with the world it needs built."""
    if service == "challenges":
        return Scene(
            service,
            app,
            creator=bearer("alice", cohorts=("7a",)),
            other=bearer("bob", cohorts=("7a",)),
            path="/resources",
            make_body=resource_body,
            repeat_status=409,
        )
    if service == "leaderboards":
        return Scene(
            service,
            app,
            creator=bearer("admin-1", "admin"),
            other=bearer("admin-2", "admin"),
            path="/awards",
            make_body=lambda: {"user_id": "alice", "points": 5, "reason": "Set up the telescope for the class"},
            repeat_status=201,
        )
    return _peer_review_scene(app)


def write_without_world(service: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Return a write of the service (path, body, headers) whose view needs nothing stored first."""
    if service == "challenges":
        return "/resources", resource_body(), bearer("alice", cohorts=("7a",))
    if service == "leaderboards":
        reversal = {"entry_key": f"award:{new_id()}", "reason": "Awarded to the wrong learner"}
        return "/awards/reversals", reversal, bearer("admin-1", "admin")
    return "/allocations", {"challenge_id": new_id()}, bearer("teacher-1", "teacher")


def footprint(app: Flask) -> dict[str, Any]:
    """Return every stored document, each collection's count, and the length of every RQ queue and stream."""
    snapshot = api.snapshot(app)
    connection = app.extensions["connective"].dependencies.runtime.redis.connection
    return {
        "documents": snapshot["collections"],
        "counts": {name: len(documents) for name, documents in snapshot["collections"].items()},
        "queues": {name: len(jobs) for name, jobs in snapshot["queues"].items()},
        "streams": {key.decode(): connection.xlen(key) for key in connection.scan_iter(_type="stream")},
    }


def records(app: Flask) -> list[bytes]:
    """Return the Idempotency-Key records the app's Redis holds."""
    connection = app.extensions["connective"].dependencies.runtime.redis.connection
    return sorted(connection.scan_iter("idempotency:*"))


@contextmanager
def started_apps() -> Iterator[Callable[[str, Settings], Flask]]:
    """Yield a function making a service's app from settings; their MongoDB clients are closed at the end."""
    made: list[Flask] = []

    def make(service: str, settings: Settings) -> Flask:
        app = CREATE_APP[service](settings)
        made.append(app)
        return app

    try:
        yield make
    finally:
        for app in made:
            app.extensions["connective"].dependencies.runtime.mongo.close()
