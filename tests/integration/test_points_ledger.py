"""Points are never lost and never doubled: duplicates, crashes between steps, and replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.leaderboards import usecases
from services.leaderboards.domain import PointsConfig, ledger_entries
from shared.contracts.payloads import load_payload
from tests.factories import bearer, resource_shared_event

pytestmark = pytest.mark.integration


def _context(app: Flask) -> usecases.Context:
    context: usecases.Context = app.extensions["connective"].dependencies.context
    return context


def _apply(app: Flask, *events: Any) -> int:
    batch = [(event, load_payload(event.type, event.data)) for event in events]
    return usecases.apply_events(batch, context=_context(app))


def _points(client: FlaskClient, user_id: str) -> dict[str, Any]:
    response = client.get(f"/users/{user_id}/points", headers=bearer(user_id))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def _board(client: FlaskClient, board: str = "global", **query: Any) -> dict[str, Any]:
    response = client.get(f"/leaderboards/{board}", query_string=query, headers=bearer("reader"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def _standing(board: dict[str, Any], user_id: str) -> dict[str, Any] | None:
    return next((entry for entry in board["entries"] if entry["user_id"] == user_id), None)


def test_a_shared_resource_earns_its_sharer_five_points(leaderboards_app: Flask, leaderboards: FlaskClient) -> None:
    event = resource_shared_event("alice", cohorts=["c1"], tags=["astronomy"], title="Pluto")
    assert _apply(leaderboards_app, event) == 1
    points = _points(leaderboards, "alice")
    assert points["total"] == 5
    (entry,) = points["entries"]
    assert entry["points"] == 5
    assert entry["rule"] == "resource.shared"
    assert entry["event_id"] == event.id
    assert "Pluto" in entry["reason"]
    for board in ("global", "cohort:c1", "tag:astronomy"):
        for window in ("all", "week", "month"):
            assert _board(leaderboards, board, window=window)["entries"] == [
                {"rank": 1, "user_id": "alice", "points": 5}
            ]
    assert _board(leaderboards, "cohort:c2")["total"] == 0


def test_the_same_event_delivered_twice_counts_once(leaderboards_app: Flask, leaderboards: FlaskClient) -> None:
    event = resource_shared_event("alice")
    assert _apply(leaderboards_app, event) == 1
    assert _apply(leaderboards_app, event) == 0
    assert _apply(leaderboards_app, event, event) == 0
    assert _points(leaderboards, "alice")["total"] == 5
    assert _points(leaderboards, "alice")["count"] == 1
    assert _standing(_board(leaderboards), "alice") == {"rank": 1, "user_id": "alice", "points": 5}


def test_a_crash_between_ledger_and_board_is_repaired_once(leaderboards_app: Flask, leaderboards: FlaskClient) -> None:
    context = _context(leaderboards_app)
    event = resource_shared_event("alice")
    entries = ledger_entries(event, load_payload(event.type, event.data), PointsConfig(), context.clock())
    # The process wrote the ledger and died before Redis.
    context.ledger.append(entries)
    assert _points(leaderboards, "alice")["total"] == 5
    assert _board(leaderboards)["total"] == 0
    later = context.clock() + timedelta(minutes=1)
    repaired = usecases.repair_boards(context=usecases.Context(context.ledger, context.boards, clock=lambda: later))
    assert repaired == 1
    assert _standing(_board(leaderboards), "alice") == {"rank": 1, "user_id": "alice", "points": 5}
    # RQ retries the abandoned job: nothing changes.
    assert _apply(leaderboards_app, event) == 0
    assert usecases.repair_boards(context=usecases.Context(context.ledger, context.boards, clock=lambda: later)) == 0
    assert _standing(_board(leaderboards), "alice")["points"] == 5  # type: ignore[index]


def test_a_crash_after_the_board_update_does_not_double_on_repair(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    context = _context(leaderboards_app)
    event = resource_shared_event("alice")
    entries = ledger_entries(event, load_payload(event.type, event.data), PointsConfig(), context.clock())
    # The process wrote the ledger and the boards, and died before marking the entries applied.
    context.ledger.append(entries)
    context.boards.apply(context.ledger.get_many([entry.key for entry in entries]))
    later = context.clock() + timedelta(minutes=1)
    usecases.repair_boards(context=usecases.Context(context.ledger, context.boards, clock=lambda: later))
    _apply(leaderboards_app, event)
    assert _standing(_board(leaderboards), "alice")["points"] == 5  # type: ignore[index]


def test_equal_points_share_a_rank_and_the_earlier_is_listed_first(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)

    def shared(user: str, minutes: int) -> Any:
        event = resource_shared_event(user)
        return type(event)(**{**event.__dict__, "occurred_at": start + timedelta(minutes=minutes)})

    # carol reaches 5 first, then bob; dave gets 10.
    _apply(leaderboards_app, shared("bob", 5), shared("carol", 1), shared("dave", 2), shared("dave", 3))
    board = _board(leaderboards)
    assert board["total"] == 3
    assert board["entries"] == [
        {"rank": 1, "user_id": "dave", "points": 10},
        {"rank": 2, "user_id": "carol", "points": 5},
        {"rank": 2, "user_id": "bob", "points": 5},
    ]
    second_page = _board(leaderboards, limit=1, offset=2)
    assert second_page["entries"] == [{"rank": 2, "user_id": "bob", "points": 5}]


def test_replaying_events_in_another_order_gives_the_same_board(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for minutes, user in enumerate(["a", "b", "a", "c", "b"]):
        event = resource_shared_event(user)
        events.append(type(event)(**{**event.__dict__, "occurred_at": start + timedelta(minutes=minutes)}))
    _apply(leaderboards_app, *reversed(events))
    _apply(leaderboards_app, *events)
    assert [(entry["user_id"], entry["rank"], entry["points"]) for entry in _board(leaderboards)["entries"]] == [
        ("a", 1, 10),
        ("b", 1, 10),
        ("c", 3, 5),
    ]


def test_learners_read_only_their_own_ledger(leaderboards_app: Flask, leaderboards: FlaskClient) -> None:
    _apply(leaderboards_app, resource_shared_event("alice"))
    assert leaderboards.get("/users/alice/points", headers=bearer("bob")).status_code == 403
    assert leaderboards.get("/users/alice/points", headers=bearer("t", "teacher")).get_json()["total"] == 5
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
