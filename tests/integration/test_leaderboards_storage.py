"""One contract for the leaderboards' storage, over MongoDB (FerretDB) and Redis and over the in-memory fakes.

The ledger appends each key once and remembers which entries reached the boards; the boards add an entry
once, rank by points and then by who reached the total first, and keep each window's period apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.leaderboards.bootstrap import build
from services.leaderboards.domain.boards import BoardRows, Window, window_periods
from services.leaderboards.domain.ledger import LedgerEntry, ledger_key
from services.leaderboards.domain.rules import local_day
from services.leaderboards.usecases.context import Boards, Ledger
from tests.builders import NOW
from tests.conftest import SettingsFactory
from tests.fakes.leaderboards import FakeBoards, FakeLedger

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("UTC")


@dataclass
class Storage:
    """A ledger and boards of one implementation."""

    ledger: Ledger
    boards: Boards


@pytest.fixture(params=["real", "fake"])
def storage(request: pytest.FixtureRequest) -> Iterator[Storage]:
    """Return the MongoDB ledger with the Redis boards, or the fakes."""
    if request.param == "fake":
        yield Storage(FakeLedger(), FakeBoards(ZONE))
        return
    settings: SettingsFactory = request.getfixturevalue("real_settings")
    dependencies = build(settings("leaderboards"))
    yield Storage(dependencies.repositories.ledger, dependencies.boards)
    dependencies.runtime.mongo.close()


def entry(user_id: str, points: int = 5, minutes: int = 0, event: str = "e1", **overrides: object) -> LedgerEntry:
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
    assert storage.ledger.append(dated(first, entry("bob"))) == 2
    assert storage.ledger.append(dated(entry("alice", points=50), entry("carol"))) == 1
    assert storage.ledger.get_many([first.key]) == [first]
    assert storage.ledger.get(first.key) == first
    assert storage.ledger.page_for("alice", limit=10, offset=0) == [first]


def test_entries_not_yet_on_the_boards_are_found_once_old_enough(storage: Storage) -> None:
    old, new = entry("alice", event="e1"), entry("alice", event="e2", minutes=10)
    storage.ledger.append(dated(old, new))
    assert storage.ledger.unapplied(NOW + timedelta(minutes=5)) == [old]
    storage.ledger.mark_applied([old.key])
    assert storage.ledger.applied([old.key, new.key]) == {old.key}
    assert storage.ledger.unapplied(NOW + timedelta(minutes=20)) == [new]


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
