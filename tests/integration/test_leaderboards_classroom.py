"""The classroom screen over real Redis and FerretDB: tokens for one board, the page, and its live stream.

A teacher mints a read-only token for a board; it opens that board's page and stream and nothing else,
and stops when it expires. The page loads nothing from elsewhere (its Content-Security-Policy allows only
its own inline code, by nonce, and connections back to the service) and is never cached. The stream sends
the board at once, then again when points land on it, and resumes after the last message it sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.leaderboards.usecases import awarding
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from tests.factories import bearer, resource_shared_event

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher", cohorts=("7a",))


def apply(app: Flask, *events: Event) -> None:
    context = app.extensions["connective"].dependencies.context()
    awarding.apply_events([(event, load_payload(event.type, event.data)) for event in events], context=context)


def mint(client: FlaskClient, board: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/leaderboards/{board}/view-tokens", json=body, headers=TEACHER)
    assert response.status_code == 201, response.get_data(as_text=True)
    grant: dict[str, Any] = response.get_json()
    return grant


def messages(chunks: Iterable[bytes | str]) -> Iterator[dict[str, str]]:
    """Yield the stream's messages as {field: value}, comments and retry hints left out."""
    buffered = ""
    for chunk in chunks:
        buffered += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffered:
            block, buffered = buffered.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
            if "data" in fields or "id" in fields:
                yield fields


def test_a_token_opens_its_boards_screen_only_and_the_page_loads_nothing_from_elsewhere(
    leaderboards: FlaskClient,
) -> None:
    grant = mint(leaderboards, "cohort:7a", hours=2)
    assert grant["view_path"] == f"/leaderboards/cohort:7a/view?token={grant['token']}"
    page = leaderboards.get(grant["view_path"])
    assert (page.status_code, page.mimetype) == (200, "text/html")
    body = page.get_data(as_text=True)
    assert f'"/leaderboards/cohort:7a/stream?token={grant["token"]}"' in body
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert (page.headers["Cache-Control"], page.headers["Referrer-Policy"]) == ("no-store", "no-referrer")
    assert "http://" not in body and "https://" not in body, "the page must load nothing from elsewhere"

    for path in (f"/leaderboards/cohort:7b/view?token={grant['token']}", "/leaderboards/cohort:7a/view?token=nope"):
        refused = leaderboards.get(path)
        assert (refused.status_code, refused.mimetype) == (401, "application/problem+json"), path
    # A token opens the screen, not the board's API.
    assert leaderboards.get(f"/leaderboards/cohort:7a?token={grant['token']}").status_code == 401
    assert leaderboards.get("/leaderboards/nonsense/view", headers=TEACHER).status_code == 404


def test_a_screen_token_expires(leaderboards: FlaskClient) -> None:
    grant = mint(leaderboards, "global", hours=1 / 3600)
    assert leaderboards.get(grant["view_path"]).status_code == 200
    time.sleep(1.2)
    assert leaderboards.get(grant["view_path"]).status_code == 401


def test_only_teachers_and_admins_mint_and_a_token_lasts_a_week_at_most(leaderboards: FlaskClient) -> None:
    learner = leaderboards.post("/leaderboards/global/view-tokens", json={}, headers=bearer("alice"))
    assert learner.status_code == 403
    too_long = leaderboards.post("/leaderboards/global/view-tokens", json={"hours": 24 * 7 + 1}, headers=TEACHER)
    assert too_long.status_code == 422


def test_the_stream_sends_the_board_at_once_then_again_when_points_land_on_it(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    apply(leaderboards_app, resource_shared_event("alice", cohorts=["7a"]))
    grant = mint(leaderboards, "cohort:7a")
    response = leaderboards.get(f"/leaderboards/cohort:7a/stream?token={grant['token']}", buffered=False)
    assert (response.status_code, response.mimetype) == (200, "text/event-stream")
    assert response.headers["X-Accel-Buffering"] == "no"
    stream = messages(response.response)
    first = next(stream)
    screen = json.loads(first["data"])
    assert first["event"] == "board"
    assert [(row["rank"], row["user_id"], row["points"]) for row in screen["rows"]] == [(1, "alice", 5)]

    # Points on another cohort's board move only the id; points on this board send the board again.
    apply(leaderboards_app, resource_shared_event("carol", cohorts=["7b"]))
    moved = next(stream)
    assert "data" not in moved and moved["id"] != first["id"]
    apply(leaderboards_app, resource_shared_event("bob", cohorts=["7a"]), resource_shared_event("bob", cohorts=["7a"]))
    again = next(stream)
    assert [(row["user_id"], row["points"]) for row in json.loads(again["data"])["rows"]] == [("bob", 10), ("alice", 5)]
    response.close()

    # A reconnecting screen resumes after the last message it had (Last-Event-ID) and misses nothing.
    apply(leaderboards_app, resource_shared_event("alice", cohorts=["7a"]))
    resumed = leaderboards.get(
        f"/leaderboards/cohort:7a/stream?token={grant['token']}",
        headers={"Last-Event-ID": again["id"]},
        buffered=False,
    )
    stream = messages(resumed.response)
    next(stream)  # the board as it is now
    caught_up = next(stream)
    # A tie: bob reached 10 first, so he is listed first.
    assert [(row["user_id"], row["points"]) for row in json.loads(caught_up["data"])["rows"]] == [
        ("bob", 10),
        ("alice", 10),
    ]
    resumed.close()
