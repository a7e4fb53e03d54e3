"""Board rules: packed scores, competition ranks, time windows and their periods, board names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.leaderboards.domain.boards import (
    GLOBAL_BOARD,
    MAX_POINTS,
    SCORE_EPOCH,
    InvalidBoard,
    Window,
    boards_for,
    check_board,
    competition_ranks,
    decode_points,
    encode_score,
    period_end,
    window_periods,
)

BERLIN = ZoneInfo("Europe/Berlin")
# Zones whose DST changes happen away from midnight, so every local midnight exists.
ZONES = [ZoneInfo(name) for name in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland")]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

points_range = st.integers(min_value=-1000, max_value=MAX_POINTS - 1)
# Scores keep whole seconds from the epoch exact until 2092.
reached_moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


# ---------------------------------------------------------------------------------------------------------------
# Scores


@settings(max_examples=200, deadline=None)
@given(points=points_range, reached_at=reached_moments)
def test_decode_points_recovers_the_encoded_points(points: int, reached_at: datetime) -> None:
    assert decode_points(encode_score(points, reached_at)) == points


@settings(max_examples=200, deadline=None)
@given(points=points_range, reached_at=reached_moments)
def test_score_is_an_exactly_representable_integer(points: int, reached_at: datetime) -> None:
    score = encode_score(points, reached_at)
    assert score == int(score)
    assert abs(score) < 2**53


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(points_range, min_size=2, max_size=2, unique=True),
    first_reached=reached_moments,
    second_reached=reached_moments,
)
def test_more_points_always_score_higher_whenever_reached(
    points: list[int], first_reached: datetime, second_reached: datetime
) -> None:
    fewer, more = sorted(points)
    assert encode_score(more, second_reached) > encode_score(fewer, first_reached)


@settings(max_examples=200, deadline=None)
@given(points=points_range, earlier=reached_moments, later=reached_moments)
def test_same_points_reached_earlier_score_higher(points: int, earlier: datetime, later: datetime) -> None:
    assume(earlier < later)
    assert encode_score(points, earlier) > encode_score(points, later)


def test_same_points_reached_in_the_same_second_tie() -> None:
    moment = datetime(2024, 6, 1, 8, 0, 0, tzinfo=UTC)
    assert encode_score(40, moment) == encode_score(40, moment + timedelta(milliseconds=400))


def test_moments_before_the_epoch_count_as_the_epoch() -> None:
    assert encode_score(10, SCORE_EPOCH - timedelta(days=30)) == encode_score(10, SCORE_EPOCH)


def test_negative_totals_decode_and_rank_below_zero() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    assert decode_points(encode_score(-5, moment)) == -5
    assert encode_score(-1, SCORE_EPOCH) < encode_score(0, moment + timedelta(days=10_000))


# ---------------------------------------------------------------------------------------------------------------
# Ranks


@pytest.mark.parametrize(
    ("points", "offset", "ahead_of_first", "ranks"),
    [
        ([30, 30, 20], 0, 0, [1, 1, 3]),
        ([30, 20, 20, 10], 0, 0, [1, 2, 2, 4]),
        ([50, 50, 50], 0, 0, [1, 1, 1]),
        ([10], 0, 0, [1]),
        ([], 0, 0, []),
        # Board 90, 80, 80, 80, 70: the page from offset 2 starts inside the tie at rank 2.
        ([80, 80, 70], 2, 1, [2, 2, 5]),
        # Board 90, 80, 70, 70: the page from offset 3 starts inside the tie at rank 3.
        ([70], 3, 2, [3]),
        ([60, 50], 10, 10, [11, 12]),
    ],
)
def test_competition_ranks(points: list[int], offset: int, ahead_of_first: int, ranks: list[int]) -> None:
    assert competition_ranks(points, offset, ahead_of_first) == ranks


@settings(max_examples=200, deadline=None)
@given(
    board=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=30),
    offset=st.integers(min_value=0, max_value=29),
    limit=st.integers(min_value=1, max_value=10),
)
def test_ranks_of_any_page_agree_with_ranks_of_the_whole_board(board: list[int], offset: int, limit: int) -> None:
    ordered = sorted(board, reverse=True)
    assume(offset < len(ordered))
    page = ordered[offset : offset + limit]
    ahead_of_first = sum(1 for value in ordered if value > page[0])
    expected = [1 + sum(1 for other in ordered if other > value) for value in page]
    assert competition_ranks(page, offset, ahead_of_first) == expected


# ---------------------------------------------------------------------------------------------------------------
# Windows


def test_periods_of_a_plain_weekday_in_utc() -> None:
    assert window_periods(datetime(2024, 5, 15, 9, 0, tzinfo=UTC), ZoneInfo("UTC")) == {
        Window.ALL: "all",
        Window.WEEK: "2024-W20",
        Window.MONTH: "2024-05",
    }


def test_sunday_late_evening_utc_is_already_next_week_and_month_in_berlin() -> None:
    # Sunday 31 March 2024, 23:30 UTC is Monday 1 April, 01:30 CEST.
    moment = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    assert window_periods(moment, ZoneInfo("UTC")) == {
        Window.ALL: "all",
        Window.WEEK: "2024-W13",
        Window.MONTH: "2024-03",
    }
    assert window_periods(moment, BERLIN) == {Window.ALL: "all", Window.WEEK: "2024-W14", Window.MONTH: "2024-04"}


def test_week_periods_use_the_iso_week_year() -> None:
    assert window_periods(datetime(2021, 1, 1, 12, tzinfo=UTC), ZoneInfo("UTC"))[Window.WEEK] == "2020-W53"
    assert window_periods(datetime(2024, 12, 30, 12, tzinfo=UTC), ZoneInfo("UTC"))[Window.WEEK] == "2025-W01"
    assert window_periods(datetime(2024, 12, 30, 12, tzinfo=UTC), ZoneInfo("UTC"))[Window.MONTH] == "2024-12"


@pytest.mark.parametrize(
    ("window", "period", "zone", "end"),
    [
        (Window.WEEK, "2024-W13", "UTC", datetime(2024, 4, 1, tzinfo=UTC)),
        (Window.WEEK, "2024-W13", "Europe/Berlin", datetime(2024, 3, 31, 22, 0, tzinfo=UTC)),
        (Window.WEEK, "2020-W53", "UTC", datetime(2021, 1, 4, tzinfo=UTC)),
        (Window.MONTH, "2024-02", "UTC", datetime(2024, 3, 1, tzinfo=UTC)),
        (Window.MONTH, "2024-12", "UTC", datetime(2025, 1, 1, tzinfo=UTC)),
        (Window.MONTH, "2024-03", "Europe/Berlin", datetime(2024, 3, 31, 22, 0, tzinfo=UTC)),
        (Window.MONTH, "2024-10", "Europe/Berlin", datetime(2024, 10, 31, 23, 0, tzinfo=UTC)),
    ],
)
def test_period_end_is_local_midnight_after_the_period(window: Window, period: str, zone: str, end: datetime) -> None:
    assert period_end(window, period, ZoneInfo(zone)) == end


def test_the_all_time_window_never_ends() -> None:
    assert period_end(Window.ALL, "all", BERLIN) is None


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    window=st.sampled_from([Window.WEEK, Window.MONTH]),
)
def test_a_moment_falls_before_the_end_of_its_period_and_the_end_starts_the_next(
    moment: datetime, zone: ZoneInfo, window: Window
) -> None:
    period = window_periods(moment, zone)[window]
    end = period_end(window, period, zone)
    assert end is not None
    assert moment < end
    assert window_periods(end, zone)[window] != period
    assert window_periods(end - timedelta(microseconds=1), zone)[window] == period


# ---------------------------------------------------------------------------------------------------------------
# Boards


def test_an_award_counts_on_global_first_then_cohorts_challenge_and_tags() -> None:
    assert boards_for(["c1", "c2"], "ch1", ["python", "ml"]) == (
        GLOBAL_BOARD,
        "cohort:c1",
        "cohort:c2",
        "challenge:ch1",
        "tag:python",
        "tag:ml",
    )


def test_an_award_without_context_counts_on_global_only() -> None:
    assert boards_for([], None, []) == (GLOBAL_BOARD,)
    assert boards_for([], "", []) == (GLOBAL_BOARD,)


def test_repeated_boards_are_listed_once() -> None:
    assert boards_for(["c1", "c1"], None, ["x", "x", "y"]) == (GLOBAL_BOARD, "cohort:c1", "tag:x", "tag:y")


def test_boards_with_invalid_names_are_dropped() -> None:
    boards = boards_for(["", "-c"], "ch/1", ["a/b", "#tag", "t" * 65, "ok"])
    assert boards == (GLOBAL_BOARD, "tag:ok")


@pytest.mark.parametrize(
    "board",
    [
        "global",
        "cohort:c1",
        "challenge:66a1f0",
        "tag:python",
        "tag:machine learning",
        "tag:v1.2_beta",
        "cohort:2024:spring",
    ],
)
def test_well_formed_boards_are_accepted(board: str) -> None:
    assert check_board(board) == board


@pytest.mark.parametrize(
    "board",
    [
        "",
        "Global",
        "global:all",
        "cohort",
        "cohort:",
        "user:alice",
        "tag:-python",
        "tag:a/b",
        "tag:" + "t" * 65,
        " global",
        "tag:python;DEL",
    ],
)
def test_malformed_boards_are_refused(board: str) -> None:
    with pytest.raises(InvalidBoard):
        check_board(board)


@pytest.mark.parametrize("board", ["global\n", "tag:python\n"])
def test_board_with_a_trailing_newline_is_refused(board: str) -> None:
    with pytest.raises(InvalidBoard):
        check_board(board)
