"""The leaderboards through their HTTP API on FerretDB and Redis: awards, reversals, boards, badges, the stream.

Events are applied as the worker's job applies them (`apply_events` in the app's own context); everything
else goes through the API, and what the service announces is read back from the `events:leaderboards` stream
on the app's own Redis, each message parsed as a consumer would (`event_from_stream`) and its data checked
against the event's declared payload (`load_payload`). The rules themselves (caps, adjustments, replays) are
the use cases' unit tests, over the in-memory fakes.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.leaderboards.domain.boards import Window, window_periods
from services.leaderboards.domain.ledger import ledger_key
from services.leaderboards.settings import DEFAULT_RULES
from services.leaderboards.usecases import awarding
from services.leaderboards.usecases.rebuilding import rebuild_boards
from shared.clock import utc_now
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.contracts.streams import LEADERBOARD_STREAM, event_from_stream
from tests.factories import resource_shared_event
from tests.integration.api import created, documents, ok, problem
from tests.integration.leaderboards_world import ADMIN, LEARNER, TEACHER, apply, dependencies, snapshot

pytestmark = pytest.mark.integration

CHALLENGE = "6b02e48625231e1d5301a2b8"


class ProcessDied(Exception):
    """Stands in for the worker being killed at a crash point."""


@pytest.fixture
def dies_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Return a function arming a crash point of the leaderboards use cases for the next delivery only."""

    def arm(point: str) -> None:
        def crash_point(name: str) -> None:
            if name == point:
                monkeypatch.undo()  # the process that comes back is not armed
                raise ProcessDied(name)

        monkeypatch.setattr(awarding, "crash_point", crash_point)

    return arm


def _at(app: Flask, moment: datetime) -> None:
    """Fix the app's clock at `moment` (awards are stamped, and reach their totals, at it)."""
    dependencies(app).runtime.clock = lambda: moment


def review_submitted(reviewer_id: str, author_id: str = "alice", **data: Any) -> Event:
    """Return a `review.submitted` event as peer review emits it: the reviewer's cohort 7a, on time."""
    payload: dict[str, Any] = {
        "review_id": uuid.uuid4().hex[:24],
        "assignment_id": uuid.uuid4().hex[:24],
        "target_kind": "submission",
        "target_id": uuid.uuid4().hex[:24],
        "reviewer_id": reviewer_id,
        "author_id": author_id,
        "challenge_id": CHALLENGE,
        "late": False,
        "outside_cohorts": False,
        "reciprocal": False,
        "cohorts": ["7a"],
        "tags": [],
        "author_cohorts": ["7a"],
    }
    payload.update(data)
    return Event(type=EventType.REVIEW_SUBMITTED, producer="peer_review", actor_id=reviewer_id, data=payload)


def _award(client: FlaskClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    request = {"points": 10, "reason": "Helped the class set up the telescope", **body}
    return created(client.post("/awards", json=request, headers=headers))


def _reverse(client: FlaskClient, headers: dict[str, str], entry_key: str, reason: str = "Awarded by mistake") -> Any:
    return client.post("/awards/reversals", json={"entry_key": entry_key, "reason": reason}, headers=headers)


def _points(client: FlaskClient, user_id: str, **query: Any) -> dict[str, Any]:
    return ok(client.get(f"/users/{user_id}/points", query_string=query, headers=ADMIN))


def _board(client: FlaskClient, board: str = "global", **query: Any) -> dict[str, Any]:
    return ok(client.get(f"/leaderboards/{board}", query_string=query, headers=LEARNER))


def _standings(client: FlaskClient, board: str = "global", **query: Any) -> list[tuple[str, int]]:
    return [(row["user_id"], row["points"]) for row in _board(client, board, **query)["entries"]]


def _stream(app: Flask) -> list[Event]:
    """Return every message on the leaderboards' stream as the event it carries, its data checked."""
    connection = dependencies(app).runtime.redis.connection
    events = [event_from_stream(fields) for _, fields in connection.xrange(LEADERBOARD_STREAM)]
    for event in events:
        load_payload(event.type, event.data)
    return events


def _of_type(events: list[Event], event_type: EventType) -> list[Event]:
    return [event for event in events if event.type == event_type]


def test_an_award_shows_in_the_learners_ledger_and_on_every_board_it_names(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    start = utc_now()
    _at(leaderboards_app, start)
    shared = resource_shared_event("alice", cohorts=["7a"])
    apply(leaderboards_app, shared)
    _at(leaderboards_app, start + timedelta(seconds=1))
    entry = _award(
        leaderboards,
        TEACHER,
        user_id="alice",
        points=12,
        reason="Set up the telescope",
        cohorts=["7a"],
        challenge_id=CHALLENGE,
        tags=["teamwork"],
    )
    assert entry["key"].startswith("award:")
    assert {name: entry[name] for name in ("points", "rule", "reason", "category", "reverses", "actor_id")} == {
        "points": 12,
        "rule": "manual",
        "reason": "Set up the telescope",
        "category": "manual",
        "reverses": None,
        "actor_id": "teacher-1",
    }
    assert entry["boards"] == ["global", "cohort:7a", f"challenge:{CHALLENGE}", "tag:teamwork"]
    ledger = _points(leaderboards, "alice")
    assert (ledger["total"], ledger["count"], ledger["level"], ledger["next_level_at"]) == (17, 2, 1, 50)
    # Newest first: the award as it was answered, then the share.
    assert ledger["entries"][0] == entry
    assert ledger["entries"][1]["key"] == ledger_key(shared.id, "resource.shared", "alice")
    for board, points in (("global", 17), ("cohort:7a", 17), (f"challenge:{CHALLENGE}", 12), ("tag:teamwork", 12)):
        for window in ("all", "week", "month"):
            assert _standings(leaderboards, board, window=window) == [("alice", points)], (board, window)
    assert _board(leaderboards, "cohort:7b")["total"] == 0


def test_a_deduction_lowers_the_balance_and_is_announced_with_its_negative_points(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    apply(leaderboards_app, resource_shared_event("alice", cohorts=["7a"]))
    entry = _award(leaderboards, ADMIN, user_id="alice", points=-8, reason="Copied a classmate's answer")
    assert _points(leaderboards, "alice")["total"] == -3
    assert _standings(leaderboards) == [("alice", -3)]
    (announced,) = [
        event for event in _of_type(_stream(leaderboards_app), EventType.POINTS_AWARDED) if event.data["points"] < 0
    ]
    assert (announced.data["entry_key"], announced.data["total"], announced.actor_id) == (entry["key"], -3, "admin-1")


def test_a_reversal_takes_an_award_back_on_the_same_boards_once_and_names_it(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    start = utc_now()
    _at(leaderboards_app, start)
    apply(leaderboards_app, resource_shared_event("alice", cohorts=["7a"]))
    entry = _award(leaderboards, TEACHER, user_id="alice", points=12, cohorts=["7a"], tags=["teamwork"])
    _at(leaderboards_app, start + timedelta(seconds=1))
    reversal = created(_reverse(leaderboards, TEACHER, entry["key"], "Awarded to the wrong learner"))
    assert reversal["key"] == f"reversal:{entry['key']}"
    assert (reversal["points"], reversal["reverses"], reversal["actor_id"], reversal["reason"]) == (
        -12,
        entry["key"],
        "teacher-1",
        "Awarded to the wrong learner",
    )
    assert reversal["boards"] == entry["boards"]
    ledger = _points(leaderboards, "alice")
    assert (ledger["total"], ledger["count"]) == (5, 3)
    assert ledger["entries"][0] == reversal
    assert _standings(leaderboards, "cohort:7a") == [("alice", 5)]
    assert _standings(leaderboards, "tag:teamwork") == [("alice", 0)]
    before = snapshot(leaderboards_app)
    again = problem(_reverse(leaderboards, TEACHER, entry["key"]), 409)
    assert "reversed already" in again["detail"]
    problem(_reverse(leaderboards, ADMIN, reversal["key"]), 409)
    problem(_reverse(leaderboards, ADMIN, "award:no-such-entry"), 404)
    assert snapshot(leaderboards_app) == before


def test_an_idempotency_key_retry_answers_the_same_entry_and_counts_once(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    apply(leaderboards_app, resource_shared_event("alice", cohorts=["7a"]))
    body = {"user_id": "alice", "points": 7, "reason": "Brought the star charts", "cohorts": ["7a"]}
    first = created(leaderboards.post("/awards", json=body, headers={**TEACHER, "Idempotency-Key": "charts-0001"}))
    retried = created(leaderboards.post("/awards", json=body, headers={**TEACHER, "Idempotency-Key": "charts-0001"}))
    assert retried == first
    ledger = _points(leaderboards, "alice")
    assert (ledger["total"], ledger["count"]) == (12, 2)
    announced = [event.data["entry_key"] for event in _of_type(_stream(leaderboards_app), EventType.POINTS_AWARDED)]
    assert announced.count(first["key"]) == 1
    # A key is the caller's own: another caller's request with the same key is another award.
    other = created(leaderboards.post("/awards", json=body, headers={**ADMIN, "Idempotency-Key": "charts-0001"}))
    # Without a key, every request is an award of its own.
    plain = [_award(leaderboards, TEACHER, **body)["key"] for _ in range(2)]
    assert len({first["key"], other["key"], *plain}) == 4
    assert _points(leaderboards, "alice")["total"] == 5 + 4 * 7


def test_a_members_place_shows_rank_points_percentile_and_neighbours_with_ties_sharing_a_rank(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    start = utc_now()
    # Each reaches the total a second after the one before: alice reaches 15 before bob does.
    for second, (user_id, points) in enumerate((("dave", 25), ("alice", 15), ("bob", 15), ("carol", 5), ("erin", 1))):
        _at(leaderboards_app, start + timedelta(seconds=second))
        _award(leaderboards, ADMIN, user_id=user_id, points=points)
    bob = ok(leaderboards.get("/leaderboards/global/users/bob?around=1", headers=LEARNER))
    assert bob == {
        "board": "global",
        "window": "all",
        "period": "all",
        "user_id": "bob",
        "rank": 2,
        "points": 15,
        "percentile": 80.0,
        "total": 5,
        "neighbors": [{"rank": 2, "user_id": "alice", "points": 15}, {"rank": 4, "user_id": "carol", "points": 5}],
    }
    dave = ok(leaderboards.get("/leaderboards/global/users/dave?around=0", headers=LEARNER))
    assert (dave["rank"], dave["percentile"], dave["neighbors"]) == (1, 100.0, [])
    # erin's neighbourhood starts inside the tie: bob still shares alice's rank.
    erin = ok(leaderboards.get("/leaderboards/global/users/erin?around=2", headers=LEARNER))
    assert (erin["rank"], erin["percentile"]) == (5, 20.0)
    assert [(row["user_id"], row["rank"]) for row in erin["neighbors"]] == [("bob", 2), ("carol", 4)]
    expected = [
        {"rank": 1, "user_id": "dave", "points": 25},
        {"rank": 2, "user_id": "alice", "points": 15},
        {"rank": 2, "user_id": "bob", "points": 15},
        {"rank": 4, "user_id": "carol", "points": 5},
        {"rank": 5, "user_id": "erin", "points": 1},
    ]
    # The first page the worker keeps rendered answers as a page worked out on the spot does.
    assert _board(leaderboards)["entries"] == expected
    assert _board(leaderboards, limit=7)["entries"] == expected
    assert _board(leaderboards, limit=2, offset=2)["entries"] == expected[2:4]
    bob_wide = ok(leaderboards.get("/leaderboards/global/users/bob?around=2", headers=LEARNER))
    members = ok(
        leaderboards.get(
            "/leaderboards/global/members",
            query_string={"user_id": ["erin", "nobody", "bob", "erin"], "around": 2},
            headers=LEARNER,
        )
    )
    assert (members["items"], members["total"], members["missing"]) == ([erin, bob_wide], 2, ["nobody"])
    problem(leaderboards.get("/leaderboards/global/users/nobody", headers=LEARNER), 404)


def test_a_past_week_stays_readable_by_its_period_and_the_current_week_holds_only_its_own(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    zone = dependencies(leaderboards_app).scoring.zone
    now = utc_now()
    last_week = now - timedelta(days=7)
    earlier = replace(resource_shared_event("alice", cohorts=["7a"]), occurred_at=last_week)
    apply(leaderboards_app, earlier, resource_shared_event("bob", cohorts=["7a"]))
    period = window_periods(last_week, zone)[Window.WEEK]
    past = _board(leaderboards, "cohort:7a", window="week", period=period)
    assert (past["period"], past["entries"]) == (period, [{"rank": 1, "user_id": "alice", "points": 5}])
    current = _board(leaderboards, "cohort:7a", window="week")
    assert (current["period"], _standings(leaderboards, "cohort:7a", window="week")) == (
        window_periods(now, zone)[Window.WEEK],
        [("bob", 5)],
    )
    assert {user for user, _ in _standings(leaderboards, "cohort:7a")} == {"alice", "bob"}
    alice = ok(
        leaderboards.get(
            "/leaderboards/cohort:7a/users/alice", query_string={"window": "week", "period": period}, headers=LEARNER
        )
    )
    assert (alice["rank"], alice["total"], alice["period"]) == (1, 1, period)
    problem(leaderboards.get("/leaderboards/cohort:7a/users/alice?window=week", headers=LEARNER), 404)
    members = ok(
        leaderboards.get(
            "/leaderboards/cohort:7a/members",
            query_string={"window": "week", "period": period, "user_id": ["alice", "bob"]},
            headers=LEARNER,
        )
    )
    assert ([item["user_id"] for item in members["items"]], members["missing"]) == (["alice"], ["bob"])


@pytest.mark.parametrize(
    ("window", "period", "detail"),
    [
        ("week", "2026-11", "looks like"),
        ("month", "2026-13", "looks like"),
        ("week", "2025-W53", "looks like"),
        ("week", "2099-W01", "has not begun"),
        ("month", "2099-01", "has not begun"),
        ("week", "2020-W01", "are kept"),
        ("month", "2020-01", "are kept"),
        ("all", "2026-W48", "no periods"),
    ],
)
def test_a_malformed_future_or_too_old_period_is_not_found_saying_why(
    leaderboards: FlaskClient, window: str, period: str, detail: str
) -> None:
    response = leaderboards.get(
        "/leaderboards/global", query_string={"window": window, "period": period}, headers=LEARNER
    )
    assert detail in problem(response, 404)["detail"]


def test_the_rules_endpoint_shows_the_rules_file_in_force(leaderboards: FlaskClient) -> None:
    declared = tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8"))
    shown = ok(leaderboards.get("/rules", headers=LEARNER))
    assert (shown["version"], shown["daily_activity_cap"], shown["timezone"]) == (3, 200, "UTC")
    assert shown["version"] == declared["version"]
    assert shown["daily_activity_cap"] == declared["daily_activity_cap"]
    assert shown["levels"] == declared["levels"]["thresholds"]
    assert [rule["name"] for rule in shown["rules"]] == [rule["name"] for rule in declared["rules"]]
    for rule, source in zip(shown["rules"], declared["rules"], strict=True):
        assert (rule["event"], rule["beneficiary"], rule["reason"], rule["category"]) == (
            source["event"],
            source["beneficiary"],
            source["reason"],
            source["category"],
        )
        assert (rule["points"], rule["points_from"], rule["scale"]) == (
            source.get("points", 0),
            source.get("points_from"),
            source.get("scale"),
        )
        assert rule["caps"] == source.get("caps", {})
        assert rule["when"] == source.get("when", [])
        assert [adjustment["field"] for adjustment in rule["adjustments"]] == [
            adjustment["field"] for adjustment in source.get("adjustments", [])
        ]
        assert rule["replaces"] is source.get("replaces", False)
    assert shown["badges"] == declared["badges"]


def test_badges_show_progress_and_a_tier_once_earned_with_the_entries_that_earned_it(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    reviews = [review_submitted("bob") for _ in range(10)]
    apply(leaderboards_app, *reviews[:9])
    # teacher-1 teaches 7a, the cohort bob's reviews name.
    before = ok(leaderboards.get("/users/bob/badges", headers=TEACHER))
    assert [badge["name"] for badge in before["badges"]] == [
        "first-share",
        "curator",
        "reviewer",
        "trusted-reviewer",
        "updater",
        "pluto",
        "connector",
        "streak",
    ]
    badges = {badge["name"]: badge for badge in before["badges"]}
    assert {
        name: badges["reviewer"][name] for name in ("title", "thresholds", "value", "next_threshold", "earned")
    } == {
        "title": "Reviewer",
        "thresholds": [10, 25, 50],
        "value": 9,
        "next_threshold": 10,
        "earned": [],
    }
    assert (badges["first-share"]["value"], badges["first-share"]["earned"]) == (0, [])
    assert (badges["connector"]["value"], badges["streak"]["value"]) == (1, 1)
    assert (before["points"], before["level"], before["next_level_at"]) == (90, 2, 150)
    assert (before["current_streak"], before["longest_streak"]) == (1, 1)
    apply(leaderboards_app, reviews[9])
    apply(leaderboards_app, *reviews)
    reviewer = next(
        badge
        for badge in ok(leaderboards.get("/users/bob/badges", headers=TEACHER))["badges"]
        if badge["name"] == "reviewer"
    )
    assert (reviewer["value"], reviewer["next_threshold"]) == (10, 25)
    (tier,) = reviewer["earned"]
    assert (tier["tier"], tier["threshold"]) == (1, 10)
    assert datetime.fromisoformat(tier["earned_at"]).tzinfo is not None
    assert sorted(tier["evidence"]) == sorted(ledger_key(event.id, "review.submitted", "bob") for event in reviews)


@pytest.mark.parametrize(
    "crash",
    [
        None,
        "leaderboards.after_inbox_write",
        "leaderboards.after_ledger_write",
        "leaderboards.after_board_update",
        "leaderboards.after_badges_recorded",
        "leaderboards.before_inbox_processed",
    ],
)
def test_points_a_level_and_a_badge_are_announced_once_each_however_often_a_batch_is_applied(
    leaderboards_app: Flask, dies_at: Callable[[str], None], crash: str | None
) -> None:
    reviews = [review_submitted("bob") for _ in range(10)]
    if crash is not None:
        dies_at(crash)
        with pytest.raises(ProcessDied):
            apply(leaderboards_app, *reviews)
    apply(leaderboards_app, *reviews)
    apply(leaderboards_app, *reviews)
    events = _stream(leaderboards_app)
    assert len({event.id for event in events}) == len(events)
    awarded = _of_type(events, EventType.POINTS_AWARDED)
    assert sorted(event.data["entry_key"] for event in awarded) == sorted(
        ledger_key(event.id, "review.submitted", "bob") for event in reviews
    )
    assert [event.data["total"] for event in awarded] == [10 * n for n in range(1, 11)]
    assert {(event.data["points"], event.data["rule"], event.data["user_id"]) for event in awarded} == {
        (10, "review.submitted", "bob")
    }
    (level,) = _of_type(events, EventType.LEVEL_REACHED)
    assert level.data == {"user_id": "bob", "level": 2, "points": 50}
    (badge,) = _of_type(events, EventType.BADGE_EARNED)
    assert {name: badge.data[name] for name in ("user_id", "badge", "title", "tier", "threshold")} == {
        "user_id": "bob",
        "badge": "reviewer",
        "title": "Reviewer",
        "tier": 1,
        "threshold": 10,
    }
    assert sorted(badge.data["evidence"]) == sorted(event.data["entry_key"] for event in awarded)


def test_a_learners_ledger_reads_a_page_at_a_time_newest_first_with_the_whole_balance(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    start = utc_now()
    keys = []
    for minute in range(4):
        _at(leaderboards_app, start + timedelta(minutes=minute))
        keys.append(_award(leaderboards, ADMIN, user_id="alice", points=minute + 1)["key"])
    page = _points(leaderboards, "alice", limit=2, offset=1)
    assert [entry["key"] for entry in page["entries"]] == [keys[2], keys[1]]
    assert (page["total"], page["count"]) == (10, 4)
    assert _points(leaderboards, "alice", offset=4)["entries"] == []


def test_rebuilding_the_boards_under_the_writer_lock_gives_the_same_boards_and_announces_nothing(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    apply(
        leaderboards_app,
        resource_shared_event("alice", cohorts=["7a"], tags=["astronomy"]),
        resource_shared_event("bob", cohorts=["7a"]),
        *[review_submitted("bob") for _ in range(3)],
    )
    award = _award(leaderboards, TEACHER, user_id="alice", points=20, cohorts=["7a"])
    created(_reverse(leaderboards, TEACHER, award["key"]))
    _award(leaderboards, ADMIN, user_id="carol", points=3, tags=["astronomy"])
    boards = ("global", "cohort:7a", "tag:astronomy", f"challenge:{CHALLENGE}")
    before = {board: _board(leaderboards, board, limit=7) for board in boards}
    balances = {user: _points(leaderboards, user)["total"] for user in ("alice", "bob", "carol")}
    stream = _stream(leaderboards_app)
    report = rebuild_boards(context=dependencies(leaderboards_app).context())
    assert report.entries == len(documents(leaderboards_app, "ledger")) == 8
    assert {board: _board(leaderboards, board, limit=7) for board in boards} == before
    assert {user: _points(leaderboards, user)["total"] for user in ("alice", "bob", "carol")} == balances
    assert _stream(leaderboards_app) == stream
    # The lock is free again for the next writer.
    assert _award(leaderboards, ADMIN, user_id="carol", points=1)["points"] == 1
