"""One contract for the leaderboards' storage, over MongoDB (FerretDB) and Redis and over the in-memory fakes.

The ledger appends each key once, keeps times to the millisecond as BSON does, and answers the questions
the use cases ask of it: a cap's usage, an object's entries, a learner's entries, the whole ledger. Pending
batches are found by their entries and once old enough, and give their entries back as the ledger does. The
boards add an entry (and its counter operations) once, rank by points and then by who reached the total
first, keep each window's period apart, show a member's neighbourhood, keep balances, remember processed
events, announce points and levels once per entry and other messages once per key, and clear everything
derived (not the stream). People keep the cohorts last named; badges and the inbox keep each key once.
Every test runs on both, so a fake cannot drift from what production does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.leaderboards.bootstrap import build
from services.leaderboards.domain.badges import MAX_EVIDENCE, EarnedBadge
from services.leaderboards.domain.boards import RENDERED_LIMITS, BoardRows, Window, window_periods
from services.leaderboards.domain.counters import CounterOp
from services.leaderboards.domain.ledger import (
    RECENT_KEPT,
    LedgerEntry,
    ledger_key,
    render_entry,
    reversal_of,
    stream_event_id,
)
from services.leaderboards.domain.rules import local_day
from services.leaderboards.repository.boards import page_key
from services.leaderboards.repository.people import COHORTS_KEY
from services.leaderboards.usecases.context import Badges, Boards, Inbox, Ledger, PendingBatches, People
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.contracts.streams import LEADERBOARD_STREAM, event_from_stream
from tests.builders import NOW
from tests.conftest import SettingsFactory
from tests.fakes.leaderboards import (
    FakeBadges,
    FakeBoards,
    FakeInbox,
    FakeLedger,
    FakePending,
    FakePeople,
    default_scoring,
)

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("UTC")
# The level curve of the packaged rules (level 2 at 50 points), which the real boards are built with.
LEVELS = default_scoring(ZONE).book.level_thresholds


@dataclass
class Storage:
    """The storage of one implementation, and how to read what its boards put on the stream."""

    ledger: Ledger
    boards: Boards
    people: People
    badges: Badges
    inbox: Inbox
    pending: PendingBatches
    stream: Callable[[], list[Event]]


@pytest.fixture(params=["real", "fake"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    """Return the MongoDB repositories with the Redis boards, or the fakes."""
    if request.param == "fake":
        boards = FakeBoards(ZONE, LEVELS)
        yield Storage(
            FakeLedger(), boards, FakePeople(), FakeBadges(), FakeInbox(), FakePending(), lambda: list(boards.stream)
        )
        return
    settings: SettingsFactory = request.getfixturevalue("real_settings")
    dependencies = build(settings("leaderboards"))
    repositories = dependencies.repositories
    connection = dependencies.runtime.redis.connection

    def stream() -> list[Event]:
        messages: Any = connection.xrange(LEADERBOARD_STREAM)
        return [event_from_stream(fields) for _, fields in messages]

    yield Storage(
        repositories.ledger,
        dependencies.boards,
        repositories.people,
        repositories.badges,
        repositories.inbox,
        repositories.pending,
        stream,
    )
    dependencies.runtime.mongo.close()


def entry(user_id: str, points: int = 5, minutes: int = 0, event: str = "e1", **overrides: object) -> LedgerEntry:
    """Return a resource.shared entry of `event` for a learner, on global and cohort 7a, `minutes` after NOW."""
    values: dict[str, object] = {
        "key": ledger_key(event, "resource.shared", user_id),
        "user_id": user_id,
        "points": points,
        "rule": "resource.shared",
        "reason": "Shared a resource",
        "event_id": event,
        "event_type": "resource.shared",
        "boards": ("global", "cohort:7a"),
        "occurred_at": NOW + timedelta(minutes=minutes),
        "created_at": NOW + timedelta(minutes=minutes),
    }
    values.update(overrides)
    return LedgerEntry(**values)  # type: ignore[arg-type]


def dated(*entries: LedgerEntry) -> list[tuple[LedgerEntry, date]]:
    return [(item, local_day(item.occurred_at, ZONE)) for item in entries]


def page(storage: Storage, board: str, window: Window = Window.ALL, period: str = "all", **query: int) -> BoardRows:
    return storage.boards.page(board, window, period, limit=query.get("limit", 10), offset=query.get("offset", 0))


def test_an_entry_is_appended_once_whatever_its_points_on_a_second_try(storage: Storage) -> None:
    first = entry("alice")
    assert storage.ledger.append(dated(first, entry("bob"))) == {first.key, entry("bob").key}
    assert storage.ledger.append(dated(entry("alice", points=50), entry("carol"))) == {entry("carol").key}
    assert storage.ledger.get(first.key) == first
    assert storage.ledger.page_for("alice", limit=10, offset=0) == [first]


def ids(batches: list[Any]) -> list[str]:
    return sorted(batch.batch_id for batch in batches)


def test_a_pending_batch_is_found_by_its_entries_and_once_old_enough_until_it_is_closed(storage: Storage) -> None:
    old, new, other = entry("alice", event="e1"), entry("bob", event="e2"), entry("carol", event="e2")
    storage.pending.open("b1", [old], NOW)
    storage.pending.open("b2", [new, other], NOW + timedelta(minutes=10))
    assert ids(storage.pending.holding([old.key, "never-written"])) == ["b1"]
    assert ids(storage.pending.holding([old.key, other.key])) == ["b1", "b2"]
    assert storage.pending.holding([]) == []
    assert ids(storage.pending.stale(NOW + timedelta(minutes=5))) == ["b1"]
    assert ids(storage.pending.stale(NOW + timedelta(minutes=20))) == ["b1", "b2"]
    # The oldest first.
    assert ids(storage.pending.stale(NOW + timedelta(minutes=20), limit=1)) == ["b1"]
    storage.pending.close("b1")
    storage.pending.close("never-opened")
    assert ids(storage.pending.stale(NOW + timedelta(minutes=20))) == ["b2"]
    (batch,) = storage.pending.holding([new.key])
    assert batch.entries == [new, other]


def test_a_pending_batch_gives_its_entries_back_exactly_as_the_ledger_does(storage: Storage) -> None:
    # The repair compares the two to tell an entry of the batch from one written otherwise under its key.
    precise = entry(
        "alice",
        occurred_at=NOW + timedelta(microseconds=123_456),
        created_at=NOW + timedelta(seconds=1.5),
        object_id="r1",
        adjustments=("late",),
        labels=("maths",),
    )
    storage.pending.open("b1", [precise], NOW)
    storage.ledger.append(dated(precise))
    (batch,) = storage.pending.holding([precise.key])
    assert batch.entries == [storage.ledger.get(precise.key)]


def test_a_users_ledger_reads_newest_first_a_page_at_a_time(storage: Storage) -> None:
    entries = [entry("alice", points=index, event=f"e{index}", minutes=index) for index in range(1, 5)]
    storage.ledger.append(dated(*entries))
    assert [item.event_id for item in storage.ledger.page_for("alice", limit=2, offset=1)] == ["e3", "e2"]


def test_an_entry_reaches_each_of_its_boards_once(storage: Storage) -> None:
    first = entry("alice")
    assert storage.boards.apply([first]) == 1
    assert storage.boards.apply([first]) == 0
    for board in ("global", "cohort:7a"):
        assert page(storage, board) == BoardRows(1, 0, [("alice", 5)], 0)
    assert page(storage, "cohort:7b") == BoardRows(0, 0, [], 0)
    assert storage.boards.balance("alice") == (5, 1)


def test_equal_totals_share_a_rank_and_whoever_reached_it_first_is_listed_first(storage: Storage) -> None:
    storage.boards.apply(
        [
            entry("bob", minutes=5),
            entry("carol", minutes=1),
            entry("dave", event="e2", minutes=2),
            entry("dave", event="e3", minutes=3),
        ]
    )
    assert page(storage, "global") == BoardRows(3, 0, [("dave", 10), ("carol", 5), ("bob", 5)], 0)
    # A page that starts inside a tie says how many are ahead of its first row.
    assert page(storage, "global", limit=1, offset=2) == BoardRows(3, 1, [("bob", 5)], 2)


def test_a_week_board_holds_only_that_weeks_points(storage: Storage) -> None:
    last_week = entry("alice", event="old", occurred_at=NOW - timedelta(days=7))
    storage.boards.apply([last_week, entry("bob")])
    week = window_periods(NOW, ZONE)[Window.WEEK]
    assert page(storage, "global", Window.WEEK, week) == BoardRows(1, 0, [("bob", 5)], 0)
    assert page(storage, "global").total == 2


# ---------------------------------------------------------------------------------------------------------------
# The ledger


def keys(entries: list[LedgerEntry]) -> list[str]:
    return [item.key for item in entries]


def test_a_time_is_kept_to_the_millisecond_as_bson_keeps_it(storage: Storage) -> None:
    precise = entry("alice", occurred_at=NOW + timedelta(microseconds=123_456), created_at=NOW + timedelta(seconds=1.5))
    storage.ledger.append(dated(precise))
    stored = storage.ledger.get(precise.key)
    assert stored == replace(precise, occurred_at=NOW + timedelta(microseconds=123_000))
    assert stored is not None and stored.occurred_at.utcoffset() == timedelta(0)


def test_an_entry_sent_twice_in_one_write_is_appended_once(storage: Storage) -> None:
    first = entry("alice")
    assert storage.ledger.append(dated(first, replace(first, points=9), entry("bob"))) == {first.key, entry("bob").key}
    assert storage.ledger.get(first.key) == first
    assert storage.ledger.get("missing") is None
    assert storage.ledger.append([]) == set()


def test_usage_reads_a_users_entries_of_the_days_objects_or_lifetime_rules_asked_for_but_not_the_batchs_own(
    storage: Storage,
) -> None:
    today = entry("alice", event="today")
    about_object = entry("alice", event="object", minutes=-2 * 24 * 60, object_id="r1")
    of_lifetime_rule = entry("alice", event="lifetime", minutes=-3 * 24 * 60, rule="knowledge.updated")
    other_day = entry("alice", event="other", minutes=-4 * 24 * 60, object_id="r2")
    of_the_batch = entry("alice", event="batch")
    someone_else = entry("bob", event="today")
    storage.ledger.append(dated(today, about_object, of_lifetime_rule, other_day, of_the_batch, someone_else))
    asked = {
        "user_ids": ["alice"],
        "days": [NOW.date()],
        "objects": ["r1"],
        "lifetime_rules": ["knowledge.updated"],
        "excluding_events": ["batch"],
    }
    assert sorted(keys(storage.ledger.for_usage(**asked))) == sorted(  # type: ignore[arg-type]
        keys([today, about_object, of_lifetime_rule])
    )
    only_days = {**asked, "objects": [], "lifetime_rules": [], "excluding_events": []}
    assert sorted(keys(storage.ledger.for_usage(**only_days))) == sorted(  # type: ignore[arg-type]
        keys([today, of_the_batch])
    )
    assert storage.ledger.for_usage(**{**asked, "user_ids": []}) == []  # type: ignore[arg-type]


def test_an_objects_entries_are_one_users_of_one_rule_reversals_included(storage: Storage) -> None:
    graded = entry("alice", event="g1", rule="submission.graded", object_id="s1", points=40)
    reversal = reversal_of(
        graded, reason="Regraded", event_id="g2", event_type="target.graded", occurred_at=NOW, now=NOW, actor_id=None
    )
    storage.ledger.append(
        dated(
            graded,
            reversal,
            entry("alice", event="g3", rule="submission.graded", object_id="s2"),
            entry("alice", event="g4", rule="review.accurate", object_id="s1"),
            entry("bob", event="g1", rule="submission.graded", object_id="s1"),
        )
    )
    assert sorted(keys(storage.ledger.of_object("alice", "submission.graded", "s1"))) == sorted(
        [graded.key, reversal.key]
    )
    assert storage.ledger.of_object("carol", "submission.graded", "s1") == []


def test_the_whole_ledger_reads_oldest_first_in_batches(storage: Storage) -> None:
    entries = [entry(f"user-{index}", minutes=-index) for index in range(5)]
    storage.ledger.append(dated(*entries))
    batches = list(storage.ledger.everything(batch=2))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert [item for batch in batches for item in batch] == entries[::-1]


def test_events_marked_processed_are_reported_as_processed(storage: Storage) -> None:
    storage.boards.mark_processed(["e1", "e2"])
    storage.boards.mark_processed([])
    assert storage.boards.processed(["e1", "e3", "e1"]) == {"e1"}
    assert storage.boards.processed([]) == set()


def crossing(entry_key: str, step: int) -> CounterOp:
    """Return an entry's share of alice's object r1 reaching two entries (curator progress)."""
    return CounterOp(
        "cross",
        "detail:alice",
        "r1",
        step,
        threshold=2,
        total_key="badge:alice",
        total_field="curator",
        evidence_key="crossed:alice",
        member=entry_key,
        members_key="members:alice:r1",
    )


def counted(entry_key: str, step: int, expires_at: int = 0) -> list[CounterOp]:
    """Return an entry's operations: a day's count, a piece of evidence, an object reaching two entries."""
    return [
        CounterOp("inc", "day:alice", "resource.shared", step, expires_at=expires_at),
        CounterOp("push", "evidence:alice", delta=step, member=entry_key),
        crossing(entry_key, step),
    ]


def test_an_entrys_counter_operations_are_applied_once_with_it_and_a_reversal_takes_them_back(
    storage: Storage,
) -> None:
    first, second = entry("alice", event="e1"), entry("alice", event="e2")
    later = int((NOW + timedelta(days=40)).timestamp())
    operations = {first.key: counted(first.key, 1, later), second.key: counted(second.key, 1, later)}
    storage.boards.apply([first], counters=operations)
    assert storage.boards.counters(["badge:alice"]) == {}
    storage.boards.apply([first, second], counters=operations)
    everything = ["day:alice", "detail:alice", "badge:alice", "absent"]
    assert storage.boards.counters(everything) == {
        "day:alice": {"resource.shared": 2},
        "detail:alice": {"r1": 2},
        # The object reached its threshold with the second entry, which is its evidence.
        "badge:alice": {"curator": 1},
    }
    assert storage.boards.evidence(["evidence:alice", "crossed:alice"]) == {
        "evidence:alice": [first.key, second.key],
        "crossed:alice": [second.key],
    }
    reversal = reversal_of(
        second, reason="Taken back", event_id="e3", event_type="target.graded", occurred_at=NOW, now=NOW, actor_id=None
    )
    storage.boards.apply([reversal], counters={reversal.key: counted(second.key, -1)})
    storage.boards.apply([reversal], counters={reversal.key: counted(second.key, -1)})
    assert storage.boards.counters(everything) == {
        "day:alice": {"resource.shared": 1},
        "detail:alice": {"r1": 1},
        "badge:alice": {"curator": 0},
    }
    assert storage.boards.evidence(["evidence:alice", "crossed:alice"]) == {
        "evidence:alice": [first.key],
        "crossed:alice": [],
    }
    assert storage.boards.counters([]) == {}
    assert storage.boards.evidence([]) == {}


def test_entries_reaching_the_boards_out_of_the_ledgers_order_are_kept_in_it(storage: Storage) -> None:
    # A batch a crash kept off the boards reaches them after batches recorded later; a rebuild puts all of
    # them on in the ledger's order. What is kept beside the boards in order must come out the same.
    written = [
        entry("alice", minutes=minute, event=f"e{minute}-{place}", position=place)
        for minute in range(RECENT_KEPT + MAX_EVIDENCE)
        for place in range(2)
    ]
    evidence = {item.key: [CounterOp("push", "evidence:alice", delta=1, member=item.key)] for item in written}
    interrupted = written[:4] + written[-2:]
    storage.boards.apply([item for item in written if item not in interrupted], counters=evidence)
    storage.boards.apply(interrupted[::-1], counters=evidence)
    _, count, newest = storage.boards.recent_points("alice")
    assert count == len(written)
    assert newest == [render_entry(item) for item in written[::-1][:RECENT_KEPT]]
    assert storage.boards.evidence(["evidence:alice"]) == {
        "evidence:alice": [item.key for item in written[:MAX_EVIDENCE]]
    }


def test_an_object_crossing_its_threshold_out_of_order_names_the_entry_the_ledgers_order_does(
    storage: Storage,
) -> None:
    first, second, third = (entry("alice", minutes=minute, event=f"x{minute}") for minute in range(3))

    storage.boards.apply([third], counters={third.key: [crossing(third.key, 1)]})
    storage.boards.apply([first], counters={first.key: [crossing(first.key, 1)]})
    assert storage.boards.counters(["badge:alice"]) == {"badge:alice": {"curator": 1}}
    assert storage.boards.evidence(["crossed:alice"]) == {"crossed:alice": [third.key]}
    # The entry recorded second comes last (its batch was interrupted): it is the second in the ledger's order.
    storage.boards.apply([second], counters={second.key: [crossing(second.key, 1)]})
    assert storage.boards.counters(["badge:alice"]) == {"badge:alice": {"curator": 1}}
    assert storage.boards.evidence(["crossed:alice"]) == {"crossed:alice": [second.key]}
    # Taken back, the next one in order stands in for it; two taken back, the object no longer counts.
    for taken, expected in ((second, [third.key]), (first, [])):
        reversal = reversal_of(
            taken,
            reason="Taken back",
            event_id=f"r-{taken.event_id}",
            event_type="resource.endorsed",
            occurred_at=NOW,
            now=NOW,
            actor_id=None,
        )
        storage.boards.apply([reversal], counters={reversal.key: [crossing(taken.key, -1)]})
        assert storage.boards.evidence(["crossed:alice"]) == {"crossed:alice": expected}
    assert storage.boards.counters(["badge:alice", "detail:alice"]) == {
        "badge:alice": {"curator": 0},
        "detail:alice": {"r1": 1},
    }


# ---------------------------------------------------------------------------------------------------------------
# The boards


def test_a_members_neighbourhood_is_k_rows_either_side_and_a_non_member_has_none(storage: Storage) -> None:
    storage.boards.apply(
        [
            entry("dave", points=25),
            entry("alice", points=15, minutes=1),
            entry("bob", points=15, minutes=2),
            entry("carol", points=5, minutes=3),
            entry("erin", points=1, minutes=4),
        ]
    )
    board = storage.boards.around("global", Window.ALL, "all", ["bob", "nobody", "dave", "erin"], around=1)
    assert board == [
        BoardRows(5, 1, [("alice", 15), ("bob", 15), ("carol", 5)], 1, 2),
        None,
        BoardRows(5, 0, [("dave", 25), ("alice", 15)], 0, 0),
        BoardRows(5, 3, [("carol", 5), ("erin", 1)], 3, 4),
    ]
    assert storage.boards.around("global", Window.ALL, "all", ["erin"], around=0) == [
        BoardRows(5, 4, [("erin", 1)], 4, 4)
    ]
    assert storage.boards.around("cohort:7b", Window.ALL, "all", ["alice"], around=3) == [None]


def test_a_balance_counts_every_entry_and_sums_their_points(storage: Storage) -> None:
    assert storage.boards.balance("alice") == (0, 0)
    storage.boards.apply([entry("alice", points=0, event="capped")])
    # An entry a cap left nothing of counts, but puts nobody on a board.
    assert storage.boards.balance("alice") == (0, 1)
    assert page(storage, "global").total == 0
    storage.boards.apply([entry("alice", points=12, event="e2"), entry("alice", points=-20, event="e3")])
    assert storage.boards.balance("alice") == (-8, 3)
    assert page(storage, "global") == BoardRows(1, 0, [("alice", -8)], 0)


def test_points_and_each_level_first_reached_are_announced_once_per_entry(storage: Storage) -> None:
    first = entry("alice", points=30, event="e1", actor_id="teacher-1")
    second = entry("alice", points=30, event="e2", minutes=1)
    assert storage.boards.apply([first, second]) == 2
    assert storage.boards.apply([first, second]) == 0
    # Falling below a level and reaching it again announces nothing new.
    storage.boards.apply([entry("alice", points=-20, event="e3", minutes=2), entry("alice", points=20, event="e4")])
    messages = storage.stream()
    for message in messages:
        load_payload(message.type, message.data)

    def awarded(item: LedgerEntry, total: int) -> Event:
        return Event(
            type=EventType.POINTS_AWARDED,
            producer="leaderboards",
            actor_id=item.actor_id,
            data={
                "entry_key": item.key,
                "user_id": "alice",
                "points": item.points,
                "rule": "resource.shared",
                "reason": "Shared a resource",
                "source_event_id": item.event_id,
                "boards": ["global", "cohort:7a"],
                "reverses": None,
                "total": total,
            },
            id=stream_event_id(f"points:{item.key}"),
            occurred_at=item.created_at,
        )

    level = Event(
        type=EventType.LEVEL_REACHED,
        producer="leaderboards",
        actor_id=None,
        data={"user_id": "alice", "level": 2, "points": 60},
        id=stream_event_id(f"level:{second.key}"),
        occurred_at=second.created_at,
    )
    assert messages[:3] == [awarded(first, 30), awarded(second, 60), level]
    assert [message.type for message in messages[3:]] == [EventType.POINTS_AWARDED] * 2


def test_a_rebuild_puts_entries_on_the_boards_without_announcing_them(storage: Storage) -> None:
    assert storage.boards.apply([entry("alice", points=60)], publish=False) == 1
    assert storage.stream() == []
    assert storage.boards.balance("alice") == (60, 1)
    # The level was reached silently; it is not announced later either.
    storage.boards.apply([entry("alice", points=5, event="e2")])
    assert [message.type for message in storage.stream()] == [EventType.POINTS_AWARDED]


def _badge_event(user_id: str, badge: str) -> Event:
    return Event(
        type=EventType.BADGE_EARNED,
        producer="leaderboards",
        actor_id=None,
        data={"user_id": user_id, "badge": badge, "title": badge.title(), "tier": 1, "threshold": 1, "evidence": []},
        id=stream_event_id(f"badge:{user_id}:{badge}"),
        occurred_at=NOW,
        request_id="req-1",
    )


def test_a_message_is_published_once_per_key_whatever_is_sent_again(storage: Storage) -> None:
    first, second = _badge_event("alice", "first-share"), _badge_event("bob", "first-share")
    assert storage.boards.publish_once([("alice:first-share:1", first), ("bob:first-share:1", second)]) == 2
    assert storage.boards.publish_once([("alice:first-share:1", _badge_event("alice", "other"))]) == 0
    assert storage.boards.publish_once([]) == 0
    assert storage.stream() == [first, second]


def test_clearing_removes_what_is_derived_but_keeps_the_stream_and_what_was_published(storage: Storage) -> None:
    first = entry("alice", points=60)
    storage.boards.apply([first, entry("bob", event="e2", occurred_at=NOW - timedelta(days=7))])
    storage.boards.publish_once([("alice:first-share:1", _badge_event("alice", "first-share"))])
    storage.boards.render_pages([("global", Window.ALL, "all")])
    stream = storage.stream()
    assert storage.boards.clear() > 0
    assert storage.boards.clear() == 0
    for board, window, period in (("global", Window.ALL, "all"), ("cohort:7a", Window.WEEK, week_of(NOW))):
        assert page(storage, board, window, period) == BoardRows(0, 0, [], 0)
    assert page(storage, "global", Window.WEEK, week_of(NOW - timedelta(days=7))).total == 0
    assert storage.boards.balance("alice") == (0, 0)
    assert storage.boards.rendered_page("global", Window.ALL, "all", RENDERED_LIMITS[0]) is None
    assert storage.stream() == stream
    # Entries go on again, reaching their levels again, silently in a rebuild; what was published stays so.
    assert storage.boards.apply([first], publish=False) == 1
    assert storage.boards.balance("alice") == (60, 1)
    assert storage.boards.publish_once([("alice:first-share:1", _badge_event("alice", "first-share"))]) == 0
    assert storage.stream() == stream


def week_of(moment: datetime) -> str:
    return window_periods(moment, ZONE)[Window.WEEK]


def test_a_rendered_first_page_is_the_board_as_read_and_goes_with_the_next_change_to_the_board(
    storage: Storage,
) -> None:
    board = ("global", Window.ALL, "all")
    assert storage.boards.rendered_page(*board, 10) is None
    storage.boards.apply([entry("alice", points=5), entry("bob", points=5, minutes=1), entry("carol", points=9)])
    rendered = storage.boards.render_pages([board])
    assert set(rendered) == {(*board, limit) for limit in RENDERED_LIMITS}
    assert storage.boards.rendered_page(*board, 10) == rendered[(*board, 10)]
    assert rendered[(*board, 10)] == (
        b'{"board":"global","entries":[{"points":9,"rank":1,"user_id":"carol"},'
        b'{"points":5,"rank":2,"user_id":"alice"},{"points":5,"rank":2,"user_id":"bob"}],'
        b'"period":"all","total":3,"window":"all"}'
    )
    assert storage.boards.render_pages([board]) == rendered
    storage.boards.apply([entry("dave", points=50)])
    # The update makes the board's pages stale: no page outlives a change, even if nothing renders.
    assert storage.boards.rendered_page(*board, 10) is None
    late = storage.boards.render_pages([board])
    assert storage.boards.rendered_page(*board, 10) == late[(*board, 10)] != rendered[(*board, 10)]
    assert b'"user_id":"dave"' in late[(*board, 10)]
    # Another board's change leaves a board's pages as they are; a change worth no points changes nothing.
    cohort = ("cohort:7a", Window.ALL, "all")
    kept = storage.boards.render_pages([cohort])[(*cohort, 10)]
    storage.boards.apply([entry("erin", points=3, boards=("cohort:7b",))])
    storage.boards.apply([entry("frank", points=0, event="e9")])
    assert storage.boards.rendered_page(*cohort, 10) == kept
    assert storage.boards.render_pages([]) == {}


def test_a_page_rendered_before_a_rebuild_is_not_served_after_it(real_settings: SettingsFactory) -> None:
    dependencies = build(real_settings("leaderboards"))
    boards, connection = dependencies.boards, dependencies.runtime.redis.connection
    board = ("global", Window.ALL, "all")
    # As many changes before as after: a version counted again from nothing would match the stale page's.
    boards.apply([entry("alice", points=5), entry("carol", points=1, event="e3")])
    # A reader read the board, the rebuild cleared and re-applied it, and only then did the reader keep its page.
    boards.render_pages([board])
    stale = connection.get(page_key(*board, 10))
    assert stale is not None
    boards.clear()
    boards.apply([entry("alice", points=5), entry("bob", points=7, event="e2")])
    connection.set(page_key(*board, 10), stale)
    assert boards.rendered_page(*board, 10) is None
    assert b'"user_id":"bob"' in boards.render_pages([board])[(*board, 10)]
    dependencies.runtime.mongo.close()


# ---------------------------------------------------------------------------------------------------------------
# People, badges, the inbox


def test_a_learners_cohorts_are_the_last_named(storage: Storage) -> None:
    storage.people.note({"alice": ["7a", "chess"], "bob": ["7b"]})
    storage.people.note({"alice": ["7b"], "carol": []})
    storage.people.note({})
    # Those in no cohort (named so, or never named) are left out.
    assert storage.people.cohorts_of(["alice", "bob", "carol", "nobody"]) == {"alice": ("7b",), "bob": ("7b",)}
    assert storage.people.cohorts_of([]) == {}
    storage.people.note({"alice": []})
    assert storage.people.cohorts_of(["alice", "bob"]) == {"bob": ("7b",)}


def test_cohorts_are_kept_in_mongodb_when_redis_loses_its_copy(real_settings: SettingsFactory) -> None:
    dependencies = build(real_settings("leaderboards"))
    people, connection = dependencies.repositories.people, dependencies.runtime.redis.connection
    people.note({"alice": ["7a"], "bob": ["7b"]})
    connection.delete(COHORTS_KEY)
    # Alice is known to MongoDB, not to Redis: her new cohorts replace the old ones there too.
    people.note({"alice": ["8a"], "carol": ["7c"]})
    connection.delete(COHORTS_KEY)
    assert people.cohorts_of(["alice", "bob", "carol"]) == {"alice": ("8a",), "bob": ("7b",), "carol": ("7c",)}
    dependencies.runtime.mongo.close()


def earned(user_id: str, badge: str, tier: int = 1, minutes: int = 0) -> EarnedBadge:
    return EarnedBadge(
        user_id, badge, tier, tier * 10, NOW + timedelta(minutes=minutes, microseconds=777), (f"{badge}-e1", "e2")
    )


def test_a_badge_tier_is_recorded_once_and_read_back_oldest_first_with_its_evidence(storage: Storage) -> None:
    second, first = earned("alice", "reviewer", 2, minutes=5), earned("alice", "reviewer", 1)
    assert storage.badges.add_many([second, first, earned("bob", "curator"), replace(first, threshold=99)]) == 3
    assert storage.badges.add_many([replace(first, evidence=())]) == 0
    assert storage.badges.add_many([]) == 0
    kept = [replace(badge, earned_at=badge.earned_at.replace(microsecond=0)) for badge in (first, second)]
    assert storage.badges.of_users(["alice"]) == kept
    assert [badge.badge for badge in storage.badges.of_users(["alice", "bob"])] == ["reviewer", "curator", "reviewer"]
    assert storage.badges.of_users([]) == []


def received(*data: str, occurred_at: datetime = NOW) -> list[tuple[Event, dict[str, str]]]:
    batch = []
    for value in data:
        event = Event(
            type=EventType.RESOURCE_SHARED,
            producer="challenges",
            actor_id="alice",
            data={"raw": value},
            occurred_at=occurred_at,
            request_id="req-1",
        )
        batch.append((event, {"title": value}))
    return batch


def test_an_event_is_kept_once_with_its_first_payload_and_reported_when_it_comes_again(
    storage: Storage,
) -> None:
    first, second = received("one", "two", occurred_at=NOW + timedelta(microseconds=4_321))
    assert storage.inbox.record([first, second, first], NOW) == set()
    assert storage.inbox.record([(first[0], {"title": "changed"})], NOW) == {first[0].id}
    again = storage.inbox.record([first, second, *received("three")], NOW + timedelta(seconds=1))
    assert again == {first[0].id, second[0].id}
    assert storage.inbox.record([], NOW) == set()
    (batch,) = list(storage.inbox.in_order())
    kept, payload = batch[0]
    # As received: the envelope's fields, the payload as its data (the first one kept), times to the millisecond.
    assert (kept.id, kept.type, kept.producer, kept.actor_id) == (first[0].id, "resource.shared", "challenges", "alice")
    assert kept.occurred_at == NOW + timedelta(microseconds=4_000)
    assert payload == dict(kept.data) == {"title": "one"}


def test_events_are_read_back_in_the_order_they_arrived_in_batches(storage: Storage) -> None:
    arrivals = [received("a", "b"), received("c"), received("d", "e")]
    for second, batch in enumerate(arrivals):
        storage.inbox.record(batch, NOW + timedelta(seconds=second))
    chunks = list(storage.inbox.in_order(batch=2))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert [payload["title"] for chunk in chunks for _, payload in chunk] == ["a", "b", "c", "d", "e"]
