"""Badges, levels and streaks: each tier earned once with its evidence, the level curve, days in a row.

Events reach `apply_events` as the worker hands them on; badges are read back from the fakes (what was
recorded, and the `badge.earned` messages on the stream, each checked against its payload schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.leaderboards.domain.badges import Levels, current_streak, longest_run
from services.leaderboards.domain.ledger import LedgerEntry, ledger_key
from services.leaderboards.usecases import awarding, reading, rebuilding
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.domain import Forbidden
from shared.ids import new_id
from tests.builders import NOW, admin, learner
from tests.fakes.leaderboards import FakeLeaderboards, default_scoring
from tests.leaderboard_events import decided, endorsed, event, reviewed, shared

BERLIN = ZoneInfo("Europe/Berlin")
ADMIN = admin()
# Ten events a day fit every daily cap; the days lie before NOW.
START = NOW - timedelta(days=60)


def moments(count: int, *, per_day: int = 10, start: datetime = START) -> Iterator[datetime]:
    """Yield `count` moments, `per_day` a day a minute apart, on consecutive days from `start`."""
    for number in range(count):
        yield start + timedelta(days=number // per_day, minutes=number % per_day)


# ---------------------------------------------------------------------------------------------------------------
# Events as their producers emit them


def accepted(proposer: str, at: datetime, *, flagged_outdated: bool = False) -> Event:
    return decided(True, proposer, decided_by="owner", flagged_outdated=flagged_outdated, at=at)


def graded_with_review(reviewer: str, accuracy: float, at: datetime) -> Event:
    return event(
        EventType.TARGET_GRADED,
        at,
        {
            "target_kind": "submission",
            "target_id": new_id(),
            "author_id": "zoe",
            "grade": 0.8,
            "points": 10,
            "reviews": [{"review_id": new_id(), "reviewer_id": reviewer, "accuracy": accuracy}],
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# Reading the fakes


@pytest.fixture
def fake() -> Iterator[FakeLeaderboards]:
    fake = FakeLeaderboards(NOW)
    yield fake
    for message in fake.boards.stream:
        if message.type == EventType.BADGE_EARNED:
            load_payload(message.type, message.data)


def apply(fake: FakeLeaderboards, *events: Event, batch: int = 10) -> None:
    """Deliver events in batches of `batch`, as the worker would, each recorded a moment after the last."""
    received = [(one, load_payload(one.type, one.data)) for one in events]
    for start in range(0, len(received), batch):
        fake.now += timedelta(milliseconds=1)
        awarding.apply_events(received[start : start + batch], context=fake.context())


def key(one: Event, rule: str, user_id: str) -> str:
    return ledger_key(one.id, rule, user_id)


def earned(fake: FakeLeaderboards, user_id: str, badge: str) -> dict[int, tuple[str, ...]]:
    """Return the tiers of a badge a learner earned, with their evidence."""
    return {
        earned.tier: earned.evidence
        for earned in fake.badges.earned.values()
        if (earned.user_id, earned.badge) == (user_id, badge)
    }


def announced(fake: FakeLeaderboards, user_id: str, badge: str) -> list[tuple[int, list[str]]]:
    """Return the tiers of a badge announced on the stream for a learner, with their evidence, in order."""
    return [
        (message.data["tier"], list(message.data["evidence"]))
        for message in fake.boards.stream
        if message.type == EventType.BADGE_EARNED
        and (message.data["user_id"], message.data["badge"]) == (user_id, badge)
    ]


def redeliver_everything(fake: FakeLeaderboards) -> None:
    """Deliver every event received so far once more."""
    for chunk in fake.inbox.in_order():
        awarding.apply_events(chunk, context=fake.context())


# ---------------------------------------------------------------------------------------------------------------
# The default badges


def test_a_first_share_earns_first_share_once_with_that_share_as_evidence(fake: FakeLeaderboards) -> None:
    first, second = shared("alice", START), shared("alice", START + timedelta(minutes=1))
    apply(fake, first)
    apply(fake, second)
    redeliver_everything(fake)
    evidence = (key(first, "resource.shared", "alice"),)
    assert earned(fake, "alice", "first-share") == {1: evidence}
    assert announced(fake, "alice", "first-share") == [(1, list(evidence))]
    assert earned(fake, "bob", "first-share") == {}


def test_curator_counts_resources_endorsed_three_times_or_more(fake: FakeLeaderboards) -> None:
    resources = [new_id() for _ in range(11)]
    at = moments(40)
    # Ten resources endorsed twice, and one three times: one resource counts.
    endorsements = [
        endorsed("alice", f"fan-{fan}", resource, next(at)) for resource in resources[:10] for fan in (1, 2)
    ]
    endorsements += [endorsed("alice", f"fan-{fan}", resources[10], next(at)) for fan in (1, 2, 3)]
    apply(fake, *endorsements)
    assert earned(fake, "alice", "curator") == {}
    # A third endorsement of nine more: ten resources count.
    thirds = [endorsed("alice", "fan-3", resource, next(at)) for resource in resources[:9]]
    apply(fake, *thirds)
    tiers = earned(fake, "alice", "curator")
    assert list(tiers) == [1]
    assert announced(fake, "alice", "curator") == [(1, list(tiers[1]))]
    counted = {key(one, "resource.endorsed", "alice") for one in [*endorsements, *thirds]}
    counted -= {
        key(one, "resource.endorsed", "alice") for one in endorsements if one.data["resource_id"] == resources[9]
    }
    assert tiers[1]
    assert set(tiers[1]) <= counted
    redeliver_everything(fake)
    assert len(announced(fake, "alice", "curator")) == 1


def test_reviewer_tiers_at_10_25_and_50_reviews_are_each_earned_once_with_the_reviews_that_earned_them(
    fake: FakeLeaderboards,
) -> None:
    reviews = [reviewed("rita", at) for at in moments(50)]
    keys = [key(one, "review.submitted", "rita") for one in reviews]
    apply(fake, *reviews[:9])
    assert earned(fake, "rita", "reviewer") == {}
    apply(fake, *reviews[9:], batch=7)
    redeliver_everything(fake)
    assert earned(fake, "rita", "reviewer") == {1: tuple(keys[:10]), 2: tuple(keys[:25]), 3: tuple(keys[:50])}
    assert announced(fake, "rita", "reviewer") == [(1, keys[:10]), (2, keys[:25]), (3, keys[:50])]
    announcement = next(
        message.data
        for message in fake.boards.stream
        if message.type == EventType.BADGE_EARNED and message.data["tier"] == 2
    )
    assert (announcement["title"], announcement["threshold"]) == ("Reviewer", 25)


def test_reversed_reviews_do_not_count_toward_a_badge(fake: FakeLeaderboards) -> None:
    reviews = [reviewed("rita", at) for at in moments(11)]
    apply(fake, *reviews[:9])
    withdrawn = key(reviews[4], "review.submitted", "rita")
    awarding.reverse(withdrawn, "Copied from another review", actor=ADMIN, context=fake.context())
    apply(fake, reviews[9])
    assert earned(fake, "rita", "reviewer") == {}
    apply(fake, reviews[10])
    (evidence,) = earned(fake, "rita", "reviewer").values()
    assert withdrawn not in evidence
    assert len(evidence) == 10


@pytest.mark.parametrize(
    ("accuracies", "trusted"),
    [
        pytest.param([0.8] * 20, True, id="20 reviews at 4"),
        pytest.param([1.0] * 10 + [0.6] * 10, True, id="mean exactly 4"),
        pytest.param([1.0] * 10 + [0.4] * 10, False, id="mean 3.5"),
        pytest.param([1.0] * 19, False, id="19 reviews at 5"),
    ],
)
def test_trusted_reviewer_needs_20_accurate_reviews_averaging_4_points_or_more(
    fake: FakeLeaderboards, accuracies: list[float], trusted: bool
) -> None:
    graded = [graded_with_review("rita", accuracy, at) for accuracy, at in zip(accuracies, moments(20), strict=False)]
    apply(fake, *graded)
    keys = [key(one, "review.accurate", "rita") for one in graded]
    assert earned(fake, "rita", "trusted-reviewer") == ({1: tuple(keys)} if trusted else {})


def test_updater_tiers_count_accepted_updates_and_pluto_the_first_of_a_resource_flagged_outdated(
    fake: FakeLeaderboards,
) -> None:
    updates = [accepted("carol", at, flagged_outdated=number in (6, 9)) for number, at in enumerate(moments(15))]
    keys = [key(one, "knowledge.updated", "carol") for one in updates]
    apply(fake, *updates[:6])
    assert earned(fake, "carol", "pluto") == {}
    apply(fake, *updates[6:], batch=3)
    redeliver_everything(fake)
    assert earned(fake, "carol", "updater") == {1: tuple(keys[:5]), 2: tuple(keys)}
    assert earned(fake, "carol", "pluto") == {1: (keys[6],)}
    assert announced(fake, "carol", "pluto") == [(1, [keys[6]])]


def test_connector_needs_reviews_of_authors_of_three_different_cohorts(fake: FakeLeaderboards) -> None:
    at = moments(4)
    reviews = [reviewed("rita", next(at), cohorts) for cohorts in (["8a"], ["8a"], ["8b"])]
    apply(fake, *reviews)
    assert earned(fake, "rita", "connector") == {}
    third = reviewed("rita", next(at), ["8c"])
    apply(fake, third)
    firsts = [reviews[0], reviews[2], third]
    assert earned(fake, "rita", "connector") == {1: tuple(key(one, "review.submitted", "rita") for one in firsts)}


def test_a_streak_of_7_and_of_30_days_is_earned_once_each_with_the_days_as_evidence(fake: FakeLeaderboards) -> None:
    # Active five days, a day off, then 30 days in a row.
    days = [START + timedelta(days=number) for number in (*range(5), *range(6, 36))]
    apply(fake, *(shared("alice", day) for day in days[:12]))
    run = [day.date().isoformat() for day in days[5:]]
    assert earned(fake, "alice", "streak") == {1: tuple(run[:7])}
    apply(fake, *(shared("alice", day) for day in days[12:]))
    redeliver_everything(fake)
    assert earned(fake, "alice", "streak") == {1: tuple(run[:7]), 2: tuple(run)}
    assert [tier for tier, _ in announced(fake, "alice", "streak")] == [1, 2]


def test_a_streak_counts_the_deployments_days_across_a_change_to_summer_time() -> None:
    fake = FakeLeaderboards(datetime(2024, 4, 3, 12, 0, tzinfo=BERLIN), zone=BERLIN)
    # Half past midnight and half past eleven in turn, 27 March to 2 April 2024 (summer time from 31 March).
    local = [datetime(2024, 3, 27, 0, 30, tzinfo=BERLIN) + timedelta(days=number) for number in range(7)]
    local = [moment.replace(hour=23) if number % 2 else moment for number, moment in enumerate(local)]
    apply(fake, *(shared("alice", moment) for moment in local))
    days = [moment.date() for moment in local]
    assert days == [date(2024, 3, 27) + timedelta(days=number) for number in range(7)]
    assert earned(fake, "alice", "streak") == {1: tuple(day.isoformat() for day in days)}
    # Counted in UTC, the same moments are no streak at all.
    assert len(longest_run(moment.astimezone(UTC).date() for moment in local)) < 7


def test_badges_are_not_announced_again_by_a_replay_or_a_rebuild(fake: FakeLeaderboards) -> None:
    apply(fake, *(reviewed("rita", at) for at in moments(12)), *(shared("alice", at) for at in moments(8, per_day=1)))
    badges_before = dict(fake.badges.earned)
    stream_before = list(fake.boards.stream)
    assert {badge.badge for badge in badges_before.values()} == {"reviewer", "first-share", "streak"}
    assert fake.scoring is not None
    report = rebuilding.replay(fake.scoring, context=fake.context(), apply=True)
    rebuilding.rebuild_boards(context=fake.context())
    redeliver_everything(fake)
    assert (report.changes, report.written) == ([], 0)
    assert fake.badges.earned == badges_before
    assert fake.boards.stream == stream_before


# ---------------------------------------------------------------------------------------------------------------
# Levels


LEVELS = default_scoring().levels


def test_each_level_starts_at_its_threshold_of_the_packaged_curve() -> None:
    thresholds = LEVELS.thresholds
    for level, threshold in enumerate(thresholds, start=1):
        assert LEVELS.level_of(threshold) == level
        assert LEVELS.next_threshold(threshold) == (thresholds[level] if level < len(thresholds) else None)
        if level > 1:
            assert LEVELS.level_of(threshold - 1) == level - 1
            assert LEVELS.next_threshold(threshold - 1) == threshold


def test_a_negative_balance_is_level_1_and_past_the_top_there_is_no_next_level() -> None:
    assert (LEVELS.level_of(-40), LEVELS.next_threshold(-40)) == (1, LEVELS.thresholds[1])
    top = LEVELS.thresholds[-1]
    assert (LEVELS.level_of(top * 10), LEVELS.next_threshold(top * 10)) == (len(LEVELS.thresholds), None)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=1, max_value=500), max_size=12),
    points=st.integers(min_value=0, max_value=10_000),
)
def test_a_balance_lies_between_its_levels_threshold_and_the_next(steps: list[int], points: int) -> None:
    thresholds = [0]
    for step in steps:
        thresholds.append(thresholds[-1] + step)
    levels = Levels(tuple(thresholds))
    level = levels.level_of(points)
    upcoming = levels.next_threshold(points)
    assert thresholds[level - 1] <= points
    assert upcoming == (thresholds[level] if level < len(thresholds) else None)
    assert upcoming is None or points < upcoming


def reached(fake: FakeLeaderboards, user_id: str) -> list[int]:
    return [
        message.data["level"]
        for message in fake.boards.stream
        if message.type == EventType.LEVEL_REACHED and message.data["user_id"] == user_id
    ]


def test_a_level_is_announced_once_even_when_the_balance_dips_below_it_and_comes_back(fake: FakeLeaderboards) -> None:
    second, third = LEVELS.thresholds[1], LEVELS.thresholds[2]

    def give(points: int) -> LedgerEntry:
        return awarding.award(
            {"user_id": "alice", "points": points, "reason": "Helped"}, actor=ADMIN, context=fake.context()
        )

    first = give(second)
    assert reached(fake, "alice") == [2]
    awarding.reverse(first.key, "Given by mistake", actor=ADMIN, context=fake.context())
    give(second)
    assert reached(fake, "alice") == [2]
    give(third - second)
    assert reached(fake, "alice") == [2, 3]
    for message in fake.boards.stream:
        if message.type == EventType.LEVEL_REACHED:
            load_payload(message.type, message.data)


# ---------------------------------------------------------------------------------------------------------------
# Streaks


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=number) for number in range(count)]


@pytest.mark.parametrize(
    "first",
    [date(2025, 1, 29), date(2024, 12, 29), date(2024, 2, 26), date(2023, 2, 26)],
    ids=["month end", "year end", "leap February", "plain February"],
)
def test_days_in_a_row_run_on_across_month_and_year_ends(first: date) -> None:
    days = days_from(first, 6)
    assert longest_run(reversed(days)) == days
    assert current_streak(days, days[-1]) == 6
    assert current_streak(days, days[-1] + timedelta(days=1)) == 6
    assert current_streak(days, days[-1] + timedelta(days=2)) == 0


def test_the_longest_run_is_the_earliest_of_equally_long_runs() -> None:
    early, late = days_from(date(2025, 3, 1), 3), days_from(date(2025, 3, 10), 3)
    assert longest_run([*late, *early, early[0]]) == early
    assert longest_run([*late, *days_from(date(2025, 3, 5), 2)]) == late
    assert longest_run([]) == []


def test_the_current_streak_is_broken_by_a_missed_day() -> None:
    today = date(2025, 1, 2)
    days = [*days_from(date(2024, 12, 25), 4), *days_from(date(2024, 12, 30), 4)]
    assert current_streak(days, today) == 4
    assert current_streak(days, date(2024, 12, 29)) == 4
    assert current_streak(days, date(2024, 12, 30)) == 1


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.sets(st.integers(min_value=0, max_value=400), max_size=40), today=st.integers(min_value=0, max_value=402)
)
def test_no_streak_is_longer_than_the_longest_run(offsets: set[int], today: int) -> None:
    first = date(2024, 11, 1)
    days = {first + timedelta(days=offset) for offset in offsets}
    run = longest_run(days)
    assert all(later - earlier == timedelta(days=1) for earlier, later in pairwise(run))
    assert set(run) <= days
    assert current_streak(days, first + timedelta(days=today)) <= len(run)


def test_the_current_streak_counts_the_deployments_days_across_a_change_to_summer_time() -> None:
    # Half past midnight in Berlin, 26 March to 1 April 2024, is the evening before in UTC.
    fake = FakeLeaderboards(datetime(2024, 4, 2, 12, 0, tzinfo=BERLIN), zone=BERLIN)
    local = [datetime(2024, 3, 26, 0, 30, tzinfo=BERLIN) + timedelta(days=number) for number in range(7)]
    apply(fake, *(shared("alice", moment) for moment in local))
    badges = reading.user_badges("alice", actor=learner("alice"), context=fake.context())
    assert (badges.current_streak, badges.longest_streak) == (7, 7)
    # Counted in UTC, the last active day would be two days before 2 April.
    utc_days = {moment.astimezone(UTC).date() for moment in local}
    assert current_streak(utc_days, date(2024, 4, 2)) == 0


# ---------------------------------------------------------------------------------------------------------------
# A learner's badges


def test_a_learners_badges_show_the_tiers_earned_and_the_way_to_the_next(fake: FakeLeaderboards) -> None:
    reviews = [reviewed("rita", at) for at in moments(12)]
    apply(fake, *reviews, shared("rita", START))
    badges = reading.user_badges("rita", actor=learner("rita"), context=fake.context())
    by_name = {standing.definition.name: standing for standing in badges.badges}
    assert set(by_name) == {badge.name for badge in default_scoring().badges}
    reviewer = by_name["reviewer"]
    assert (reviewer.progress.value, reviewer.progress.earned_tiers, reviewer.progress.next_threshold) == (
        12,
        (10,),
        25,
    )
    assert [(badge.tier, badge.threshold) for badge in reviewer.earned] == [(1, 10)]
    curator = by_name["curator"]
    assert (curator.progress.value, curator.progress.earned_tiers, curator.progress.next_threshold) == (0, (), 10)
    assert curator.earned == []
    assert by_name["first-share"].progress.next_threshold is None
    total = 12 * 10 + 5
    assert (badges.points, badges.level, badges.next_level_at) == (
        total,
        LEVELS.level_of(total),
        LEVELS.next_threshold(total),
    )
    # Reviews on two consecutive days, long ago: no current streak, a longest of 2.
    assert (badges.current_streak, badges.longest_streak) == (0, 2)


def test_a_learners_badges_are_read_by_the_learner_their_teachers_and_admins_only(fake: FakeLeaderboards) -> None:
    apply(fake, shared("rita", START, cohorts=["7a"]))
    teacher_of_7a = Principal(user_id="t-7a", roles=frozenset({Role.TEACHER}), cohorts=("7a",))
    teacher_of_7b = Principal(user_id="t-7b", roles=frozenset({Role.TEACHER}), cohorts=("7b",))
    for reader in (learner("rita"), teacher_of_7a, ADMIN):
        assert reading.user_badges("rita", actor=reader, context=fake.context()).points == 5
    for stranger in (learner("sam", "7a"), teacher_of_7b):
        with pytest.raises(Forbidden):
            reading.user_badges("rita", actor=stranger, context=fake.context())
