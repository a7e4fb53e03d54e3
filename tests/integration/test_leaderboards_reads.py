"""The fast reads on FerretDB and Redis: rendered first pages answer exactly what a computed page does.

The first read of a board's first page after a change renders it at the common sizes, marked with the
board's version; every later read until the next change is one MGET. These tests compare them with pages
computed from the sorted sets, follow them through updates and stale copies, and check that Redis
forgetting the Lua scripts (a restart, SCRIPT FLUSH) changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.leaderboards.domain.ledger import RECENT_KEPT
from services.leaderboards.schemas import user_points_document
from services.leaderboards.usecases import awarding, reading
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from tests.factories import bearer, resource_shared_event

pytestmark = pytest.mark.integration


def _apply(app: Flask, *events: Event) -> int:
    context = app.extensions["connective"].dependencies.context()
    return awarding.apply_events([(event, load_payload(event.type, event.data)) for event in events], context=context)


def _redis(app: Flask) -> Any:
    return app.extensions["connective"].dependencies.runtime.redis.connection


def _page(client: FlaskClient, board: str, **query: Any) -> dict[str, Any]:
    response = client.get(f"/leaderboards/{board}", query_string=query, headers=bearer("reader"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def _shares(count: int, seed: int) -> list[Event]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    events = []
    for index in range(count):
        event = resource_shared_event(f"learner-{rng.randrange(12)}", cohorts=[f"c{rng.randrange(3)}"], tags=["maths"])
        events.append(replace(event, occurred_at=event.occurred_at - timedelta(seconds=index)))
    return events


def test_a_rendered_first_page_is_the_page_computed_from_the_sorted_set(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    _apply(leaderboards_app, *_shares(40, seed=7))
    redis = _redis(leaderboards_app)
    for board in ("global", "cohort:c1", "tag:maths"):
        for window in ("all", "week", "month"):
            computed = _page(leaderboards, board, window=window, limit=11)  # not a rendered size
            rendered = _page(leaderboards, board, window=window, limit=10)
            assert rendered == {**computed, "entries": computed["entries"][:10]}
            # Read again, from the page the first read kept.
            assert _page(leaderboards, board, window=window, limit=10) == rendered
    assert redis.exists("lb:page:global:all:all:10"), "the first read did not keep the page"


def test_rendered_pages_follow_every_batch_and_a_missing_one_is_rendered_on_read(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    _apply(leaderboards_app, resource_shared_event("alice", cohorts=["c1"]))
    assert _page(leaderboards, "global", limit=10)["entries"] == [{"rank": 1, "user_id": "alice", "points": 5}]
    _apply(leaderboards_app, resource_shared_event("bob"), resource_shared_event("bob"))
    assert [row["user_id"] for row in _page(leaderboards, "global", limit=10)["entries"]] == ["bob", "alice"]
    redis = _redis(leaderboards_app)
    redis.delete(*redis.keys("lb:page:*"))
    assert [row["user_id"] for row in _page(leaderboards, "global", limit=20)["entries"]] == ["bob", "alice"]
    assert redis.exists("lb:page:global:all:all:20")


def test_a_page_rendered_at_an_older_version_of_its_board_is_never_served(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    _apply(leaderboards_app, resource_shared_event("alice"))
    assert _page(leaderboards, "global", limit=10)["total"] == 1
    redis = _redis(leaderboards_app)
    stale = redis.get("lb:page:global:all:all:10")
    _apply(leaderboards_app, resource_shared_event("carol"))
    # A slow reader that rendered before the change keeps its page only after it.
    redis.set("lb:page:global:all:all:10", stale, ex=60)
    assert {row["user_id"] for row in _page(leaderboards, "global", limit=10)["entries"]} == {"alice", "carol"}


def test_redis_forgetting_the_scripts_changes_nothing(leaderboards_app: Flask, leaderboards: FlaskClient) -> None:
    _apply(leaderboards_app, resource_shared_event("alice"))
    redis = _redis(leaderboards_app)
    redis.script_flush()
    _apply(leaderboards_app, resource_shared_event("alice"))
    redis.script_flush()
    view = leaderboards.get("/leaderboards/global/users/alice", headers=bearer("reader"))
    assert (view.status_code, view.get_json()["points"]) == (200, 10)
    redis.script_flush()
    assert _page(leaderboards, "global", limit=7)["entries"] == [{"rank": 1, "user_id": "alice", "points": 10}]


def test_a_learners_points_read_from_their_kept_newest_entries_are_the_ledger_as_mongodb_holds_it(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    # More entries than are kept, written over several batches (several entries a batch), on several days.
    events = [
        replace(resource_shared_event("alice", cohorts=["c1"]), occurred_at=datetime.now(UTC) - timedelta(days=day))
        for day in range(RECENT_KEPT + 7)
    ]
    for first in range(0, len(events), 4):
        _apply(leaderboards_app, *events[first : first + 4])
    context = leaderboards_app.extensions["connective"].dependencies.context()
    reader = Principal("alice", frozenset({Role.LEARNER.value}))
    for limit, offset in ((20, 0), (10, 5), (5, 15), (10, 15), (100, 0), (3, RECENT_KEPT + 5), (5, 500)):
        expected = user_points_document(
            reading.user_points("alice", actor=reader, limit=limit, offset=offset, context=context)
        )
        response = leaderboards.get(
            "/users/alice/points", query_string={"limit": limit, "offset": offset}, headers=bearer("alice")
        )
        assert response.get_json() == expected, (limit, offset)
    assert len(expected["entries"]) == 0 and expected["count"] == RECENT_KEPT + 7
    # Read from Redis alone: the first page needs no database.
    assert reading.rendered_user_points("alice", actor=reader, limit=20, offset=0, context=context) is not None
    assert reading.rendered_user_points("alice", actor=reader, limit=10, offset=15, context=context) is None
