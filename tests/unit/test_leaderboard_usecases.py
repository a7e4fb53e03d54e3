"""Leaderboards use cases over the in-memory ledger and boards: awards applied once, repaired once, ranked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.leaderboards.domain.boards import InvalidBoard, Window
from services.leaderboards.domain.ledger import LedgerEntry
from services.leaderboards.domain.rules import EventFacts, Usage, evaluate, local_day
from services.leaderboards.usecases import awarding, reading
from shared.consumer import Received
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from shared.domain import Forbidden
from tests.builders import NOW, admin, learner
from tests.factories import resource_shared_event
from tests.fakes.leaderboards import FakeLeaderboards


@pytest.fixture
def fake() -> FakeLeaderboards:
    return FakeLeaderboards(NOW)


def received(*events: Event) -> list[Received]:
    return [(event, load_payload(event.type, event.data)) for event in events]


def shared_at(user_id: str, minutes: int) -> Event:
    return replace(resource_shared_event(user_id), occurred_at=NOW - timedelta(hours=1) + timedelta(minutes=minutes))


def entries_of(fake: FakeLeaderboards, event: Event) -> list[LedgerEntry]:
    """Work out an event's entries as the worker would, without recording them."""
    assert fake.scoring is not None
    facts = EventFacts(event.id, event.type, event.occurred_at, fake.now)
    data = load_payload(event.type, event.data)
    return evaluate(facts, data, fake.scoring.book, Usage(), fake.zone, cohorts_of=lambda _user: ())


def append(fake: FakeLeaderboards, entries: list[LedgerEntry]) -> None:
    fake.ledger.append([(entry, local_day(entry.occurred_at, fake.zone)) for entry in entries])


def standings(fake: FakeLeaderboards, board: str = "global") -> list[tuple[int, str, int]]:
    page = reading.board_page(board, window=Window.ALL, limit=20, offset=0, context=fake.context())
    return [(standing.rank, standing.user_id, standing.points) for standing in page.entries]


def test_a_shared_resource_earns_its_sharer_points_on_every_board_it_counts_on(fake: FakeLeaderboards) -> None:
    event = resource_shared_event("alice", cohorts=["7a"], tags=["astronomy"], challenge_id="c" * 24)
    assert awarding.apply_events(received(event), context=fake.context()) == 1
    for board in ("global", "cohort:7a", "tag:astronomy", f"challenge:{'c' * 24}"):
        assert standings(fake, board) == [(1, "alice", 5)]
    assert standings(fake, "cohort:7b") == []


def test_an_event_delivered_again_or_twice_in_a_batch_counts_once(fake: FakeLeaderboards) -> None:
    event = resource_shared_event("alice")
    awarding.apply_events(received(event), context=fake.context())
    assert awarding.apply_events(received(event, event), context=fake.context()) == 0
    points = reading.user_points("alice", actor=learner("alice"), limit=10, offset=0, context=fake.context())
    assert (points.total, points.count, [entry.event_id for entry in points.entries]) == (5, 1, [event.id])
    assert standings(fake) == [(1, "alice", 5)]


def test_entries_a_crash_kept_off_the_boards_are_put_there_once_after_the_grace_period(
    fake: FakeLeaderboards,
) -> None:
    event = resource_shared_event("alice")
    entries = entries_of(fake, event)
    fake.pending.open("batch-1", entries, NOW)
    append(fake, entries)  # the worker died after the ledger write
    grace = timedelta(seconds=30)
    assert awarding.repair_boards(context=fake.context(), grace=grace) == 0  # still young: the job may finish it
    fake.now = NOW + timedelta(minutes=1)
    assert awarding.repair_boards(context=fake.context(), grace=grace) == 1
    assert awarding.repair_boards(context=fake.context(), grace=grace) == 0
    # RQ retries the abandoned job: nothing changes.
    assert awarding.apply_events(received(event), context=fake.context()) == 0
    assert standings(fake) == [(1, "alice", 5)]


def test_a_crash_after_the_boards_were_updated_is_not_doubled_by_the_repair(fake: FakeLeaderboards) -> None:
    event = resource_shared_event("alice")
    entries = entries_of(fake, event)
    fake.pending.open("batch-1", entries, NOW)
    append(fake, entries)
    fake.boards.apply(entries)  # the worker died before closing its pending batch
    fake.now = NOW + timedelta(minutes=1)
    assert awarding.repair_boards(context=fake.context(), grace=timedelta(seconds=30)) == 1
    assert standings(fake) == [(1, "alice", 5)]


def test_equal_points_share_a_rank_and_the_earlier_is_listed_first(fake: FakeLeaderboards) -> None:
    batch = received(shared_at("bob", 5), shared_at("carol", 1), shared_at("dave", 2), shared_at("dave", 3))
    awarding.apply_events(batch, context=fake.context())
    assert standings(fake) == [(1, "dave", 10), (2, "carol", 5), (2, "bob", 5)]
    page = reading.board_page("global", window=Window.ALL, limit=1, offset=2, context=fake.context())
    assert [(standing.rank, standing.user_id) for standing in page.entries] == [(2, "bob")]
    assert page.total == 3


def test_replaying_events_in_another_order_gives_the_same_board(fake: FakeLeaderboards) -> None:
    events = [shared_at(user, minutes) for minutes, user in enumerate(["a", "b", "a", "c", "b"])]
    awarding.apply_events(received(*reversed(events)), context=fake.context())
    awarding.apply_events(received(*events), context=fake.context())
    assert standings(fake) == [(1, "a", 10), (1, "b", 10), (3, "c", 5)]


def test_a_learner_reads_only_their_own_ledger_and_admins_read_anyones(fake: FakeLeaderboards) -> None:
    awarding.apply_events(received(resource_shared_event("alice")), context=fake.context())
    with pytest.raises(Forbidden):
        reading.user_points("alice", actor=learner("bob"), limit=10, offset=0, context=fake.context())
    points = reading.user_points("alice", actor=admin(), limit=10, offset=0, context=fake.context())
    assert points.total == 5


@pytest.mark.parametrize("board", ["everyone", "cohort:", "cohort:$gt", "tag:" + "x" * 70])
def test_a_board_outside_the_four_kinds_does_not_exist(fake: FakeLeaderboards, board: str) -> None:
    with pytest.raises(InvalidBoard):
        reading.board_page(board, window=Window.ALL, limit=10, offset=0, context=fake.context())
