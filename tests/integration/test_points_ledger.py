"""Points on FerretDB and Redis are never lost and never doubled: duplicates and crashes between the steps.

Events are delivered as the worker's job delivers them (`apply_events` on the app's own context); the
ledger and the boards are read back through the API. The rules themselves (ranks, ties, replays, who reads
a ledger) are the use cases' unit tests, over the in-memory ledger and boards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.leaderboards.usecases import awarding
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from tests.factories import bearer, resource_shared_event

pytestmark = pytest.mark.integration


class ProcessDied(Exception):
    """Stands in for the worker being killed at a crash point."""


def _dependencies(app: Flask) -> Any:
    return app.extensions["connective"].dependencies


def _apply(app: Flask, *events: Event) -> int:
    batch = [(event, load_payload(event.type, event.data)) for event in events]
    return awarding.apply_events(batch, context=_dependencies(app).context())


def _repair(app: Flask) -> int:
    return awarding.repair_boards(context=_dependencies(app).context())


def _points(client: FlaskClient, user_id: str) -> dict[str, Any]:
    response = client.get(f"/users/{user_id}/points", headers=bearer(user_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def _board(client: FlaskClient, board: str = "global", **query: Any) -> dict[str, Any]:
    response = client.get(f"/leaderboards/{board}", query_string=query, headers=bearer("reader"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


@pytest.fixture
def dies_at(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Return a function arming a crash point of the leaderboards use cases for the next delivery only."""

    def arm(point: str) -> None:
        def crash_point(name: str) -> None:
            if name == point:
                monkeypatch.undo()  # the process that comes back is not armed
                raise ProcessDied(name)

        monkeypatch.setattr(awarding, "crash_point", crash_point)

    return arm


def _at(app: Flask, moment: datetime) -> None:
    """Fix the app's clock at `moment` (the ledger stamps entries with it; the repair sweep reads it)."""
    _dependencies(app).runtime.clock = lambda: moment


def test_a_shared_resource_earns_its_sharer_five_points_on_every_board_and_window(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    event = resource_shared_event("alice", cohorts=["c1"], tags=["astronomy"], title="Pluto")
    assert _apply(leaderboards_app, event) == 1
    points = _points(leaderboards, "alice")
    assert (points["total"], points["count"]) == (5, 1)
    (entry,) = points["entries"]
    assert (entry["points"], entry["rule"], entry["event_id"]) == (5, "resource.shared", event.id)
    assert "Pluto" in entry["reason"]
    for board in ("global", "cohort:c1", "tag:astronomy"):
        for window in ("all", "week", "month"):
            assert _board(leaderboards, board, window=window)["entries"] == [
                {"rank": 1, "user_id": "alice", "points": 5}
            ]
    assert _board(leaderboards, "cohort:c2")["total"] == 0


def test_the_same_event_delivered_again_or_twice_in_one_batch_counts_once(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    event = resource_shared_event("alice")
    assert _apply(leaderboards_app, event) == 1
    assert _apply(leaderboards_app, event) == 0
    assert _apply(leaderboards_app, event, event) == 0
    fresh = resource_shared_event("bob")
    assert _apply(leaderboards_app, fresh, fresh) == 1
    alice = _points(leaderboards, "alice")
    assert (alice["total"], alice["count"], _points(leaderboards, "bob")["count"]) == (5, 1, 1)
    # Both reached 5 within the same second (the boards' resolution), so either may be listed first.
    standings = sorted(_board(leaderboards)["entries"], key=lambda standing: standing["user_id"])
    assert standings == [
        {"rank": 1, "user_id": "alice", "points": 5},
        {"rank": 1, "user_id": "bob", "points": 5},
    ]


def test_a_crash_between_ledger_and_board_is_repaired_once_after_the_grace_period(
    leaderboards_app: Flask, leaderboards: FlaskClient, dies_at: Any
) -> None:
    start = datetime.now(UTC)
    _at(leaderboards_app, start)
    event = resource_shared_event("alice")
    dies_at("leaderboards.after_ledger_write")
    with pytest.raises(ProcessDied):
        _apply(leaderboards_app, event)
    # The ledger holds the entry; the learner's points (the balance and the newest entries, kept with the
    # boards) follow once it is on them, so what they read always adds up to their total.
    ledger = leaderboards_app.extensions["connective"].dependencies.repositories.ledger
    assert [entry.event_id for entry in ledger.page_for("alice", limit=10, offset=0)] == [event.id]
    assert _points(leaderboards, "alice") == {**_points(leaderboards, "alice"), "total": 0, "count": 0, "entries": []}
    assert _board(leaderboards)["total"] == 0
    assert _repair(leaderboards_app) == 0  # still young: the job RQ retries may yet finish it
    _at(leaderboards_app, start + timedelta(minutes=1))
    assert _repair(leaderboards_app) == 1
    assert _board(leaderboards)["entries"] == [{"rank": 1, "user_id": "alice", "points": 5}]
    # RQ retries the abandoned job, and the sweep runs again: nothing changes.
    assert _apply(leaderboards_app, event) == 0
    assert _repair(leaderboards_app) == 0
    assert _board(leaderboards)["entries"] == [{"rank": 1, "user_id": "alice", "points": 5}]
    assert (_points(leaderboards, "alice")["total"], _points(leaderboards, "alice")["count"]) == (5, 1)


def test_a_crash_after_the_board_update_is_not_doubled_by_the_repair_or_the_retry(
    leaderboards_app: Flask, leaderboards: FlaskClient, dies_at: Any
) -> None:
    start = datetime.now(UTC)
    _at(leaderboards_app, start)
    event = resource_shared_event("alice")
    dies_at("leaderboards.after_board_update")
    with pytest.raises(ProcessDied):
        _apply(leaderboards_app, event)
    assert _board(leaderboards)["entries"] == [{"rank": 1, "user_id": "alice", "points": 5}]
    _at(leaderboards_app, start + timedelta(minutes=1))
    assert _repair(leaderboards_app) == 1
    assert _apply(leaderboards_app, event) == 0
    assert _board(leaderboards)["entries"] == [{"rank": 1, "user_id": "alice", "points": 5}]
    assert _points(leaderboards, "alice")["total"] == 5


def test_a_ledger_is_read_by_its_learner_their_teachers_and_admins_only_and_never_without_a_token(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    _apply(leaderboards_app, resource_shared_event("alice", cohorts=["c1"]))
    forbidden = leaderboards.get("/users/alice/points", headers=bearer("bob"))
    assert (forbidden.status_code, forbidden.mimetype) == (403, "application/problem+json")
    other_teacher = leaderboards.get("/users/alice/points", headers=bearer("t2", "teacher", cohorts=("c2",)))
    assert other_teacher.status_code == 403
    mine = leaderboards.get("/users/alice/points", headers=bearer("t", "teacher", cohorts=("c1",)))
    assert mine.get_json()["total"] == 5
    assert leaderboards.get("/users/alice/points", headers=bearer("a", "admin")).get_json()["total"] == 5
    assert leaderboards.get("/users/alice/points").status_code == 401


@pytest.mark.parametrize("board", ["everyone", "cohort:", "cohort:$gt", "tag:" + "x" * 70])
def test_unknown_boards_are_not_found(leaderboards: FlaskClient, board: str) -> None:
    response = leaderboards.get(f"/leaderboards/{board}", headers=bearer("reader"))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("query", ["window=year", "limit=0", "limit=101", "offset=-1", "limit=x"])
def test_bad_board_queries_are_refused(leaderboards: FlaskClient, query: str) -> None:
    response = leaderboards.get(f"/leaderboards/global?{query}", headers=bearer("reader"))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
