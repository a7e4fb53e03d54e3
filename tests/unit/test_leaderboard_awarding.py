"""Awarding over the in-memory ledger and boards: batches once, crashes finished, periods, places, staff paths.

Events reach `apply_events` as the worker hands them on (payloads validated). A crash is simulated by
arming one of the crash points awarding.py names: the first time the process reaches it, it dies; the
batch delivered again must end exactly as a run that never crashed.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.leaderboards.domain.boards import NotOnBoard, UnknownPeriod, Window
from services.leaderboards.domain.ledger import Category, LedgerEntry, ledger_key
from services.leaderboards.domain.rules import EventFacts, Usage, evaluate
from services.leaderboards.usecases import awarding, reading
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound
from shared.ids import new_id
from tests.builders import NOW, admin, learner
from tests.fakes.leaderboards import FakeLeaderboards, default_scoring
from tests.leaderboard_events import AN_HOUR_AGO, endorsed, reviewed, shared
from tests.leaderboard_events import graded as graded_event

BERLIN = ZoneInfo("Europe/Berlin")
ADMIN = admin()
SERVICE = Principal(user_id="challenges", roles=frozenset({Role.SERVICE}))


def teacher_of(*cohorts: str) -> Principal:
    return Principal(user_id=f"teacher-{'-'.join(cohorts)}", roles=frozenset({Role.TEACHER}), cohorts=cohorts)


# ---------------------------------------------------------------------------------------------------------------
# Events as their producers emit them


def graded(author: str, target_id: str, grade: float, at: datetime = AN_HOUR_AGO, **data: Any) -> Event:
    return graded_event(author, grade=grade, target_id=target_id, at=at, **data)


# ---------------------------------------------------------------------------------------------------------------
# Delivering and reading


@pytest.fixture
def fake() -> FakeLeaderboards:
    return FakeLeaderboards(NOW)


def apply(fake: FakeLeaderboards, *events: Event) -> int:
    return awarding.apply_events([(one, load_payload(one.type, one.data)) for one in events], context=fake.context())


def board(
    fake: FakeLeaderboards, name: str = "global", window: Window = Window.ALL, period: str | None = None
) -> list[tuple[int, str, int]]:
    page = reading.board_page(name, window=window, limit=50, offset=0, context=fake.context(), period=period)
    return [(standing.rank, standing.user_id, standing.points) for standing in page.entries]


def points_messages(fake: FakeLeaderboards) -> list[Mapping[str, Any]]:
    return [message.data for message in fake.boards.stream if message.type == EventType.POINTS_AWARDED]


def balance(fake: FakeLeaderboards, user_id: str) -> tuple[int, int]:
    points = reading.user_points(user_id, actor=ADMIN, limit=100, offset=0, context=fake.context())
    return points.total, points.count


def snapshot(fake: FakeLeaderboards) -> dict[str, Any]:
    """Return everything the service keeps, as a run that never crashed would compare to it."""
    return {
        "ledger": dict(fake.ledger.entries),
        "days": dict(fake.ledger.days),
        "pending": len(fake.pending.batches),
        "scores": {board: dict(members) for board, members in fake.boards.scores.items()},
        "counts": dict(fake.boards.counts),
        "levels": dict(fake.boards.highest_level),
        # Points messages get a fresh envelope id each time; what they say is compared.
        "stream": [(message.type, dict(message.data)) for message in fake.boards.stream],
        "badges": dict(fake.badges.earned),
        "processed": set(fake.boards.processed_ids),
        "cohorts": dict(fake.people.cohorts),
        "counters": {key: dict(fields) for key, fields in fake.boards.counter_values.items()},
        "evidence": {key: dict(items) for key, items in fake.boards.evidence_lists.items() if items},
    }


# ---------------------------------------------------------------------------------------------------------------
# Once, however often delivered


def test_an_event_delivered_again_counts_once_on_the_ledger_the_boards_and_the_stream(fake: FakeLeaderboards) -> None:
    one = shared("alice", cohorts=["7a"])
    assert apply(fake, one) == 1
    assert apply(fake, one) == 0
    assert apply(fake, one, one) == 0
    assert list(fake.ledger.entries) == [ledger_key(one.id, "resource.shared", "alice")]
    assert board(fake) == board(fake, "cohort:7a") == [(1, "alice", 5)]
    assert balance(fake, "alice") == (5, 1)
    assert len(points_messages(fake)) == 1


def test_an_event_twice_in_one_batch_is_worked_out_once_where_it_first_came_even_at_a_cap(
    fake: FakeLeaderboards,
) -> None:
    apply(fake, *(shared("alice", AN_HOUR_AGO + timedelta(minutes=minute)) for minute in range(9)))
    tenth, eleventh = shared("alice", AN_HOUR_AGO + timedelta(minutes=30)), shared("alice", AN_HOUR_AGO)
    assert apply(fake, tenth, eleventh, tenth) == 2
    assert fake.ledger.entries[ledger_key(tenth.id, "resource.shared", "alice")].points == 5
    assert fake.ledger.entries[ledger_key(eleventh.id, "resource.shared", "alice")].points == 0
    assert balance(fake, "alice") == (50, 11)


def test_a_grade_twice_in_one_batch_is_not_taken_back_by_itself(fake: FakeLeaderboards) -> None:
    grade = graded("bob", "t1", 0.5)
    assert apply(fake, grade, grade) == 1
    assert board(fake) == [(1, "bob", 20)]


def a_mixed_batch() -> list[Event]:
    resource = new_id()
    return [
        *(shared("alice", AN_HOUR_AGO + timedelta(minutes=minute), cohorts=["7a"]) for minute in range(11)),
        shared("bob", cohorts=["7b"], resource_id=resource),
        *(endorsed("bob", fan, resource) for fan in ("alice", "carol", "dave")),
        *(reviewed("carol", AN_HOUR_AGO + timedelta(seconds=second)) for second in range(10)),
        graded("dave", "t1", 0.5),
        graded("dave", "t1", 1.0, overridden=True),
    ]


def test_the_same_batch_delivered_again_changes_nothing(fake: FakeLeaderboards) -> None:
    batch = a_mixed_batch()
    first = apply(fake, *batch)
    before = snapshot(fake)
    assert apply(fake, *batch) == 0
    assert snapshot(fake) == before
    assert first == len(fake.ledger.entries)
    assert board(fake) == [(1, "carol", 100), (2, "alice", 50), (3, "dave", 40), (4, "bob", 11)]


# ---------------------------------------------------------------------------------------------------------------
# Crashes


class ProcessDied(Exception):
    """Stands in for the worker being killed at a crash point."""


CRASH_POINTS = re.findall(r'crash_point\("([^"]+)"\)', inspect.getsource(awarding))


@pytest.fixture
def dies_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Return a function arming a crash point for the next time it is reached only."""

    def arm(point: str) -> None:
        def crash_point(name: str) -> None:
            if name == point:
                monkeypatch.undo()  # the process that comes back is not armed
                raise ProcessDied(name)

        monkeypatch.setattr(awarding, "crash_point", crash_point)

    return arm


def test_the_crash_points_of_awarding_are_all_found() -> None:
    assert set(CRASH_POINTS) >= {"leaderboards.after_ledger_write", "leaderboards.after_board_update"}
    assert len(set(CRASH_POINTS)) == len(CRASH_POINTS)


def crash_scenario() -> tuple[list[Event], list[Event]]:
    """Return an earlier batch and a batch that earns points, reaches a level, earns badges and replaces a grade."""
    resource = new_id()
    earlier = [
        *(shared("alice", AN_HOUR_AGO + timedelta(minutes=minute), cohorts=["7a"]) for minute in range(5)),
        shared("bob", cohorts=["7b"], resource_id=resource),
        *(reviewed("carol", AN_HOUR_AGO + timedelta(seconds=second)) for second in range(4)),
        graded("dave", "t1", 0.5),
    ]
    crashing = [
        *(shared("alice", AN_HOUR_AGO + timedelta(minutes=10 + minute), cohorts=["7a"]) for minute in range(7)),
        *(endorsed("bob", fan, resource) for fan in ("alice", "carol", "dave")),
        *(reviewed("carol", AN_HOUR_AGO + timedelta(minutes=5, seconds=second)) for second in range(8)),
        graded("dave", "t1", 1.0, overridden=True),
    ]
    return earlier, crashing


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_batch_delivered_again_after_a_crash_ends_as_if_it_never_crashed(
    point: str, dies_at: Callable[[str], None]
) -> None:
    earlier, crashing = crash_scenario()
    uninterrupted = FakeLeaderboards(NOW)
    apply(uninterrupted, *earlier)
    apply(uninterrupted, *crashing)

    crashed = FakeLeaderboards(NOW)
    apply(crashed, *earlier)
    dies_at(point)
    with pytest.raises(ProcessDied):
        apply(crashed, *crashing)
    apply(crashed, *crashing)  # RQ retries the job
    assert snapshot(crashed) == snapshot(uninterrupted)
    # The scenario earns what the crash points guard: a level, badges, a replaced grade.
    assert {badge.badge for badge in uninterrupted.badges.earned.values()} >= {"first-share", "reviewer"}
    assert uninterrupted.boards.highest_level["alice"] == 2
    assert any(entry.reverses for entry in uninterrupted.ledger.entries.values())


def test_a_batch_a_crash_kept_off_the_boards_is_finished_by_the_repair_sweep_as_if_it_never_crashed(
    dies_at: Callable[[str], None],
) -> None:
    earlier, crashing = crash_scenario()
    uninterrupted = FakeLeaderboards(NOW)
    apply(uninterrupted, *earlier)
    apply(uninterrupted, *crashing)
    crashed = FakeLeaderboards(NOW)
    apply(crashed, *earlier)
    dies_at("leaderboards.after_ledger_write")
    with pytest.raises(ProcessDied):
        apply(crashed, *crashing)
    crashed.now = NOW + timedelta(minutes=1)
    assert awarding.repair_boards(context=crashed.context()) > 0
    crashed.now = NOW
    apply(crashed, *crashing)
    after, expected = snapshot(crashed), snapshot(uninterrupted)
    assert {name: after[name] for name in after if name != "badges"} == {
        name: expected[name] for name in expected if name != "badges"
    }
    # Badges were earned by the repair, a minute later; the same tiers with the same evidence.
    assert {key: badge.evidence for key, badge in after["badges"].items()} == {
        key: badge.evidence for key, badge in expected["badges"].items()
    }


def test_a_staff_award_retried_after_a_crash_lands_once(fake: FakeLeaderboards, dies_at: Callable[[str], None]) -> None:
    fields = {"user_id": "alice", "points": 30, "reason": "Ran the science fair"}
    dies_at("leaderboards.after_ledger_write")
    with pytest.raises(ProcessDied):
        awarding.award(fields, actor=ADMIN, context=fake.context(), idempotency_key="fair")
    assert balance(fake, "alice") == (0, 0)
    entry = awarding.award(fields, actor=ADMIN, context=fake.context(), idempotency_key="fair")
    assert list(fake.ledger.entries) == [entry.key]
    assert balance(fake, "alice") == (30, 1)
    assert len(points_messages(fake)) == 1


# ---------------------------------------------------------------------------------------------------------------
# Ranks


def test_equal_points_share_a_rank_and_the_one_who_reached_them_first_is_listed_first(fake: FakeLeaderboards) -> None:
    apply(
        fake,
        shared("bob", AN_HOUR_AGO + timedelta(minutes=5)),
        shared("carol", AN_HOUR_AGO + timedelta(minutes=1)),
        shared("dave", AN_HOUR_AGO + timedelta(minutes=2)),
        shared("dave", AN_HOUR_AGO + timedelta(minutes=3)),
        shared("erin", AN_HOUR_AGO),
        reviewed("erin", AN_HOUR_AGO + timedelta(minutes=4)),
    )
    expected = [(1, "erin", 15), (2, "dave", 10), (3, "carol", 5), (3, "bob", 5)]
    assert board(fake) == expected
    assert board(fake, window=Window.WEEK) == board(fake, window=Window.MONTH) == expected
    page = reading.board_page("global", window=Window.ALL, limit=2, offset=3, context=fake.context())
    assert ([(standing.rank, standing.user_id) for standing in page.entries], page.total) == ([(3, "bob")], 4)


def test_who_reached_a_tie_first_is_decided_by_when_the_total_was_reached_not_first_earned(
    fake: FakeLeaderboards,
) -> None:
    # Carol earned first, but bob reached 10 before she did.
    apply(
        fake,
        shared("carol", AN_HOUR_AGO),
        shared("bob", AN_HOUR_AGO + timedelta(minutes=1)),
        shared("bob", AN_HOUR_AGO + timedelta(minutes=2)),
        shared("carol", AN_HOUR_AGO + timedelta(minutes=3)),
    )
    assert board(fake) == [(1, "bob", 10), (1, "carol", 10)]


# ---------------------------------------------------------------------------------------------------------------
# Windows and periods in the deployment's time zone


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("before", "after", "window", "periods"),
    [
        pytest.param(
            local(2026, 11, 29, 23, 59), local(2026, 11, 30, 0, 0), Window.WEEK, ("2026-W48", "2026-W49"), id="Monday"
        ),
        pytest.param(
            local(2026, 1, 31, 23, 30), local(2026, 2, 1, 0, 30), Window.MONTH, ("2026-01", "2026-02"), id="month end"
        ),
        pytest.param(
            local(2025, 12, 31, 23, 30), local(2026, 1, 1, 0, 30), Window.MONTH, ("2025-12", "2026-01"), id="year end"
        ),
        pytest.param(
            local(2024, 3, 31, 23, 30), local(2024, 4, 1, 0, 30), Window.WEEK, ("2024-W13", "2024-W14"), id="CEST week"
        ),
        pytest.param(
            local(2024, 3, 31, 23, 30), local(2024, 4, 1, 0, 30), Window.MONTH, ("2024-03", "2024-04"), id="CEST month"
        ),
        pytest.param(
            local(2024, 10, 27, 23, 30),
            local(2024, 10, 28, 0, 30),
            Window.WEEK,
            ("2024-W43", "2024-W44"),
            id="CET week",
        ),
        pytest.param(
            local(2024, 10, 31, 23, 30), local(2024, 11, 1, 0, 30), Window.MONTH, ("2024-10", "2024-11"), id="CET month"
        ),
    ],
)
def test_a_period_ends_at_local_midnight_in_the_deployments_time_zone(
    before: datetime, after: datetime, window: Window, periods: tuple[str, str]
) -> None:
    fake = FakeLeaderboards(after + timedelta(days=1), zone=BERLIN)
    apply(fake, shared("alice", before), shared("bob", after))
    earlier, later = periods
    assert board(fake, window=window, period=earlier) == [(1, "alice", 5)]
    assert board(fake, window=window, period=later) == board(fake, window=window) == [(1, "bob", 5)]
    assert board(fake) == [(1, "alice", 5), (1, "bob", 5)]


def test_a_week_of_a_change_of_clocks_holds_its_first_and_last_local_hour() -> None:
    # 2024-W43 runs from Monday 21 October 00:00 CEST to Sunday 27 October 24:00 CET: a 169-hour week.
    fake = FakeLeaderboards(local(2024, 10, 29, 12), zone=BERLIN)
    first, last = local(2024, 10, 21, 0, 0), local(2024, 10, 27, 23, 59)
    apply(fake, shared("alice", first - timedelta(minutes=1)), shared("bob", first), shared("carol", last))
    assert board(fake, window=Window.WEEK, period="2024-W43") == [(1, "bob", 5), (1, "carol", 5)]
    assert board(fake, window=Window.WEEK, period="2024-W42") == [(1, "alice", 5)]


def test_past_periods_are_read_by_name_and_kept_periods_only(fake: FakeLeaderboards) -> None:
    # NOW is Wednesday 2 December 2026 (2026-W49); twelve past periods are kept.
    apply(fake, shared("alice", NOW - timedelta(weeks=12)), shared("bob", NOW - timedelta(weeks=1)))
    assert board(fake, window=Window.WEEK, period="2026-W37") == [(1, "alice", 5)]
    assert board(fake, window=Window.WEEK, period="2026-W48") == [(1, "bob", 5)]
    assert board(fake, window=Window.WEEK, period="2026-W49") == board(fake, window=Window.WEEK) == []
    assert board(fake, window=Window.MONTH, period="2026-09") == [(1, "alice", 5)]
    assert board(fake, window=Window.MONTH, period="2025-12") == []
    assert board(fake, window=Window.ALL, period="all") == [(1, "alice", 5), (1, "bob", 5)]


@pytest.mark.parametrize(
    ("window", "period", "says"),
    [
        (Window.WEEK, "2026-W36", "older"),
        (Window.MONTH, "2025-10", "older"),
        (Window.WEEK, "2026-W50", "has not begun"),
        (Window.WEEK, "2026-W53", "has not begun"),
        (Window.MONTH, "2027-01", "has not begun"),
        (Window.WEEK, "2025-W53", "looks like"),
        (Window.WEEK, "2026-W00", "looks like"),
        (Window.WEEK, "2026-W7", "looks like"),
        (Window.WEEK, "2026w49", "looks like"),
        (Window.WEEK, "2026-12", "looks like"),
        (Window.MONTH, "2026-13", "looks like"),
        (Window.MONTH, "2026-00", "looks like"),
        (Window.MONTH, "2026-W49", "looks like"),
        (Window.MONTH, "26-11", "looks like"),
        (Window.ALL, "2026-11", "no periods"),
    ],
)
def test_a_period_that_is_malformed_in_the_future_or_no_longer_kept_is_refused(
    fake: FakeLeaderboards, window: Window, period: str, says: str
) -> None:
    with pytest.raises(UnknownPeriod, match=says):
        board(fake, window=window, period=period)
    with pytest.raises(UnknownPeriod, match=says):
        reading.member_view("global", "alice", around=1, window=window, context=fake.context(), period=period)


def test_how_many_past_periods_are_kept_is_a_setting() -> None:
    fake = FakeLeaderboards(NOW, scoring=replace(default_scoring(), periods_kept=2))
    apply(fake, shared("alice", NOW - timedelta(weeks=2)))
    assert board(fake, window=Window.WEEK, period="2026-W47") == [(1, "alice", 5)]
    with pytest.raises(UnknownPeriod, match="Only the last 2 week periods are kept"):
        board(fake, window=Window.WEEK, period="2026-W46")


# ---------------------------------------------------------------------------------------------------------------
# A member's place


def a_board_of_five(fake: FakeLeaderboards) -> None:
    """Put five learners on the global board and cohort 7a: ann 20, ben 15, cat 15, dan 10, eve 5."""
    shares = {"ann": 4, "ben": 3, "cat": 3, "dan": 2, "eve": 1}
    events = [
        shared(user, AN_HOUR_AGO + timedelta(minutes=order * 5 + number), cohorts=["7a"])
        for order, (user, count) in enumerate(shares.items())
        for number in range(count)
    ]
    apply(fake, *events)


def test_a_members_place_has_their_rank_points_percentile_and_neighbours(fake: FakeLeaderboards) -> None:
    a_board_of_five(fake)
    view = reading.member_view("global", "cat", around=1, window=Window.ALL, context=fake.context())
    assert (view.rank, view.points, view.total, view.percentile) == (2, 15, 5, 80.0)
    assert [(standing.rank, standing.user_id, standing.points) for standing in view.neighbors] == [
        (2, "ben", 15),
        (4, "dan", 10),
    ]
    top = reading.member_view("cohort:7a", "ann", around=2, window=Window.WEEK, context=fake.context())
    assert (top.rank, top.percentile, [standing.user_id for standing in top.neighbors]) == (1, 100.0, ["ben", "cat"])
    bottom = reading.member_view("global", "eve", around=10, window=Window.MONTH, context=fake.context())
    assert (bottom.rank, bottom.percentile, len(bottom.neighbors)) == (5, 20.0, 4)


def test_a_member_without_points_on_a_board_is_not_on_it(fake: FakeLeaderboards) -> None:
    a_board_of_five(fake)
    with pytest.raises(NotOnBoard):
        reading.member_view("global", "zed", around=1, window=Window.ALL, context=fake.context())
    with pytest.raises(NotOnBoard):
        reading.member_view("cohort:7b", "ann", around=1, window=Window.ALL, context=fake.context())
    with pytest.raises(NotOnBoard):
        reading.member_view("global", "ann", around=1, window=Window.WEEK, context=fake.context(), period="2026-W48")


def test_the_places_of_several_members_are_read_at_once_none_for_a_non_member(fake: FakeLeaderboards) -> None:
    a_board_of_five(fake)
    views = reading.member_views("global", ["eve", "zed", "ben"], around=0, window=Window.ALL, context=fake.context())
    assert [(view.user_id, view.rank, view.points, view.neighbors) if view else None for view in views] == [
        ("eve", 5, 5, []),
        None,
        ("ben", 2, 15, []),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Staff awards


def known_learners(fake: FakeLeaderboards) -> None:
    """Let the service know alice of 7a and bob of 7b (events name a learner's cohorts)."""
    apply(fake, shared("alice", cohorts=["7a"]), shared("bob", cohorts=["7b"]))


def award(fake: FakeLeaderboards, actor: Principal, **fields: Any) -> LedgerEntry:
    fields = {"user_id": "alice", "points": 10, "reason": "Helped a classmate", **fields}
    return awarding.award(fields, actor=actor, context=fake.context())


def test_a_teacher_awards_learners_of_their_cohorts_on_their_cohorts_boards(fake: FakeLeaderboards) -> None:
    known_learners(fake)
    entry = award(fake, teacher_of("7a"), cohorts=["7a"], tags=["kindness"])
    assert (entry.user_id, entry.points, entry.category, entry.actor_id) == ("alice", 10, Category.MANUAL, "teacher-7a")
    assert entry.boards == ("global", "cohort:7a", "tag:kindness")
    assert entry.reason == "Helped a classmate"
    assert board(fake, "cohort:7a") == [(1, "alice", 15)]
    assert board(fake, "tag:kindness") == [(1, "alice", 10)]


@pytest.mark.parametrize(
    ("actor", "fields"),
    [
        pytest.param(teacher_of("7a"), {"user_id": "bob"}, id="learner of another cohort"),
        pytest.param(teacher_of("7a"), {"user_id": "stranger"}, id="learner of no known cohort"),
        pytest.param(teacher_of("7a"), {"cohorts": ["7b"]}, id="on another cohort's board"),
        pytest.param(teacher_of("7a"), {"cohorts": ["7a", "7b"]}, id="partly on another cohort's board"),
        pytest.param(teacher_of("7a"), {"user_id": "teacher-7a"}, id="to themselves"),
        pytest.param(ADMIN, {"user_id": ADMIN.user_id}, id="an admin to themselves"),
        pytest.param(learner("carol", "7a"), {}, id="a learner"),
        pytest.param(SERVICE, {}, id="a service"),
    ],
)
def test_an_award_outside_the_actors_reach_is_forbidden(
    fake: FakeLeaderboards, actor: Principal, fields: dict[str, Any]
) -> None:
    known_learners(fake)
    before = snapshot(fake)
    with pytest.raises(Forbidden):
        award(fake, actor, **fields)
    assert snapshot(fake) == before


def test_an_admin_awards_anyone_on_any_board_and_deducts_too(fake: FakeLeaderboards) -> None:
    known_learners(fake)
    award(fake, ADMIN, user_id="bob", points=-3, cohorts=["7a"], challenge_id="c1")
    award(fake, ADMIN, user_id="stranger", points=1000)
    assert board(fake) == [(1, "stranger", 1000), (2, "alice", 5), (3, "bob", 2)]
    assert board(fake, "cohort:7a") == [(1, "alice", 5), (2, "bob", -3)]
    assert board(fake, "challenge:c1") == [(1, "bob", -3)]


@pytest.mark.parametrize("points", [0, 1001, -1001])
def test_an_award_of_no_points_or_more_than_a_thousand_is_refused(fake: FakeLeaderboards, points: int) -> None:
    with pytest.raises(InvalidField):
        award(fake, ADMIN, points=points)
    assert fake.ledger.entries == {}


def test_an_award_retried_with_its_idempotency_key_answers_with_the_first_entry(fake: FakeLeaderboards) -> None:
    fields = {"user_id": "alice", "points": 10, "reason": "Science fair"}
    first = awarding.award(fields, actor=ADMIN, context=fake.context(), idempotency_key="fair-1")
    fake.now = NOW + timedelta(minutes=5)
    again = awarding.award(fields, actor=ADMIN, context=fake.context(), idempotency_key="fair-1")
    assert again == first
    with pytest.raises(InvalidState):  # the same key for another award is a client's mistake, not a retry
        awarding.award({**fields, "points": 20}, actor=ADMIN, context=fake.context(), idempotency_key="fair-1")
    other_key = awarding.award(fields, actor=ADMIN, context=fake.context(), idempotency_key="fair-2")
    other_admin = awarding.award(fields, actor=admin("admin-2"), context=fake.context(), idempotency_key="fair-1")
    without_key = awarding.award(fields, actor=ADMIN, context=fake.context())
    assert len({first.key, other_key.key, other_admin.key, without_key.key}) == 4
    assert balance(fake, "alice") == (40, 4)


# ---------------------------------------------------------------------------------------------------------------
# Reversals


def test_a_reversal_takes_the_points_back_from_the_same_boards_once(fake: FakeLeaderboards) -> None:
    one = shared("alice", cohorts=["7a"], tags=["astronomy"])
    apply(fake, one, shared("bob", cohorts=["7a"]))
    entry_key = ledger_key(one.id, "resource.shared", "alice")
    reversal = awarding.reverse(entry_key, "Not her resource", actor=teacher_of("7a"), context=fake.context())
    original = fake.ledger.entries[entry_key]
    assert (reversal.points, reversal.boards, reversal.reverses) == (-5, original.boards, entry_key)
    assert (reversal.reason, reversal.actor_id, reversal.user_id) == ("Not her resource", "teacher-7a", "alice")
    for name in original.boards:
        assert {user: points for _, user, points in board(fake, name)}["alice"] == 0
    assert balance(fake, "alice") == (0, 2)
    with pytest.raises(InvalidState):
        awarding.reverse(entry_key, "Again", actor=ADMIN, context=fake.context())
    with pytest.raises(InvalidState):
        awarding.reverse(reversal.key, "Undo the reversal", actor=ADMIN, context=fake.context())
    assert balance(fake, "alice") == (0, 2)
    assert [message["points"] for message in points_messages(fake) if message["user_id"] == "alice"] == [5, -5]


def test_a_grade_replaced_by_a_later_one_is_not_reversed_again(fake: FakeLeaderboards) -> None:
    first = graded("dave", "t1", 0.5)
    apply(fake, first, graded("dave", "t1", 1.0, overridden=True))
    with pytest.raises(InvalidState):
        awarding.reverse(
            ledger_key(first.id, "submission.graded", "dave"), "Wrong", actor=ADMIN, context=fake.context()
        )
    assert board(fake) == [(1, "dave", 40)]


def test_a_teacher_reverses_entries_on_their_cohorts_boards_and_awards_they_made_only(fake: FakeLeaderboards) -> None:
    known_learners(fake)
    bobs_share = next(key for key, entry in fake.ledger.entries.items() if entry.user_id == "bob")
    teacher = teacher_of("7a")
    with pytest.raises(Forbidden):
        awarding.reverse(bobs_share, "Not theirs", actor=teacher, context=fake.context())
    admins_award = award(fake, ADMIN)
    with pytest.raises(Forbidden):
        awarding.reverse(admins_award.key, "Not theirs", actor=teacher, context=fake.context())
    own_award = award(fake, teacher)
    assert awarding.reverse(own_award.key, "Mine", actor=teacher, context=fake.context()).points == -10
    alices_share = next(key for key, entry in fake.ledger.entries.items() if entry.user_id == "alice")
    assert awarding.reverse(alices_share, "Duplicate", actor=teacher, context=fake.context()).points == -5
    with pytest.raises(Forbidden):
        awarding.reverse(admins_award.key, "Not theirs", actor=learner("alice", "7a"), context=fake.context())
    with pytest.raises(NotFound):
        awarding.reverse("no-such-entry", "Gone", actor=ADMIN, context=fake.context())


# ---------------------------------------------------------------------------------------------------------------
# A learner's points


def test_a_learners_points_are_read_by_them_their_cohorts_teachers_admins_and_services(fake: FakeLeaderboards) -> None:
    known_learners(fake)
    for reader in (learner("alice", "7a"), teacher_of("7a"), teacher_of("7b", "7a"), ADMIN, SERVICE):
        assert reading.user_points("alice", actor=reader, limit=10, offset=0, context=fake.context()).total == 5
    for stranger in (learner("bob", "7a"), teacher_of("7b"), teacher_of()):
        with pytest.raises(Forbidden):
            reading.user_points("alice", actor=stranger, limit=10, offset=0, context=fake.context())


def test_a_learners_balance_and_count_are_kept_with_the_boards(fake: FakeLeaderboards) -> None:
    shares = [shared("alice", AN_HOUR_AGO + timedelta(minutes=minute)) for minute in range(11)]
    apply(fake, *shares)
    # The eleventh share is on the ledger at 0 points: it counts as an entry, not as points.
    assert balance(fake, "alice") == (50, 11)
    fake.now = NOW + timedelta(minutes=1)
    awarding.reverse(
        ledger_key(shares[0].id, "resource.shared", "alice"), "Duplicate", actor=ADMIN, context=fake.context()
    )
    points = reading.user_points("alice", actor=learner("alice"), limit=3, offset=0, context=fake.context())
    assert (points.total, points.count) == (45, 12)
    assert points.entries[0].reverses == ledger_key(shares[0].id, "resource.shared", "alice")
    assert len(points.entries) == 3
    levels = default_scoring().levels
    assert (points.level, points.next_level_at) == (levels.level_of(45), levels.next_threshold(45))


def test_a_balance_is_what_reached_the_boards_not_a_sum_over_the_ledger(fake: FakeLeaderboards) -> None:
    one = shared("alice")
    assert fake.scoring is not None
    entries = evaluate(
        EventFacts(one.id, one.type, one.occurred_at, NOW),
        load_payload(one.type, one.data),
        fake.scoring.book,
        Usage(),
        fake.zone,
        cohorts_of=lambda _user: (),
    )
    fake.ledger.append([(entry, fake.day_of(entry)) for entry in entries])  # the worker died here
    points = reading.user_points("alice", actor=learner("alice"), limit=10, offset=0, context=fake.context())
    assert (points.total, points.count, [entry.key for entry in points.entries]) == (0, 0, [entries[0].key])
