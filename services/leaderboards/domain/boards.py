"""Pure rules of boards: their names, scores that pack points and time, windows and competition ranks."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.domain import NotFound

GLOBAL_BOARD = "global"
BOARD_PATTERN = re.compile(r"^(global|(cohort|challenge|tag):[A-Za-z0-9][A-Za-z0-9 ._:\-]{0,63})$")

# A board score packs the points and, for ties, when the total was reached (earlier ranks higher):
# score = points * SCALE + (SCALE - 1 - seconds since EPOCH). Doubles hold integers exactly up to 2**53,
# so totals up to 2**22 (about 4 million points) and times up to 2092 are exact.
SCORE_SCALE = 2**31
SCORE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
MAX_POINTS = 2**22


class Window(StrEnum):
    """Time windows a board is kept for."""

    ALL = "all"
    WEEK = "week"
    MONTH = "month"


PERIOD_PATTERNS = {Window.WEEK: re.compile(r"^\d{4}-W\d{2}$"), Window.MONTH: re.compile(r"^\d{4}-\d{2}$")}
# How many members either side a member view may show, and how many members one call may ask about.
MAX_AROUND = 50
MAX_MEMBERS = 50
# Pages kept rendered in Redis (the first page at these sizes): a read of one of them is one GET.
RENDERED_LIMITS = (10, 20, 50, 100)
# Past periods readable by default: twelve weeks of weekly boards, twelve months of monthly ones.
DEFAULT_PERIODS_KEPT = 12


def retention(window: Window, periods_kept: int) -> timedelta:
    """Return how long a window's board is kept after its period ends (the all-time board: for ever)."""
    if window == Window.WEEK:
        return timedelta(weeks=periods_kept)
    return timedelta(days=31 * periods_kept + 1)


class InvalidBoard(NotFound):
    """A board name outside global, cohort:{id}, challenge:{id}, tag:{name}: there is no such board."""


class UnknownPeriod(NotFound):
    """A period that is not kept: malformed, in the future, or older than the periods kept."""


class NotOnBoard(NotFound):
    """The learner has no points on this board in this period."""


def check_board(board: str) -> str:
    """Return the board name if it is well formed."""
    if not BOARD_PATTERN.fullmatch(board):
        raise InvalidBoard("A board is global, cohort:{id}, challenge:{id} or tag:{name}")
    return board


def reached_seconds(moment: datetime) -> int:
    """Return whole seconds from the score epoch to `moment`."""
    return max(0, int((moment - SCORE_EPOCH).total_seconds()))


def encode_score(points: int, reached_at: datetime) -> float:
    """Pack points and the time they were reached into one sortable score."""
    return float(points * SCORE_SCALE + (SCORE_SCALE - 1 - reached_seconds(reached_at)))


def decode_points(score: float) -> int:
    """Return the points packed in a board score."""
    return math.floor(score / SCORE_SCALE)


def window_periods(moment: datetime, zone: ZoneInfo) -> dict[Window, str]:
    """Return the period of each window that `moment` falls in, in the deployment's time zone."""
    local = moment.astimezone(zone)
    year, week, _ = local.isocalendar()
    return {Window.ALL: "all", Window.WEEK: f"{year}-W{week:02d}", Window.MONTH: f"{local:%Y-%m}"}


def period_end(window: Window, period: str, zone: ZoneInfo) -> datetime | None:
    """Return when a window's period ends (None for all time)."""
    if window == Window.ALL:
        return None
    if window == Window.WEEK:
        start = datetime.strptime(f"{period}-1", "%G-W%V-%u").replace(tzinfo=zone)
        return start + timedelta(weeks=1)
    start = datetime.strptime(f"{period}-01", "%Y-%m-%d").replace(tzinfo=zone)
    return (start + timedelta(days=32)).replace(day=1)


def resolve_period(window: Window, period: str | None, now: datetime, zone: ZoneInfo, periods_kept: int) -> str:
    """Return the period to read: the current one by default, or a past one that is still kept."""
    current = window_periods(now, zone)[window]
    if period is None or window == Window.ALL or period == current:
        if window == Window.ALL and period not in (None, "all"):
            raise UnknownPeriod("The all-time window has no periods; leave period out")
        return current
    example = "2026-W48" if window == Window.WEEK else "2026-11"
    if not PERIOD_PATTERNS[window].fullmatch(period):
        raise UnknownPeriod(f"A {window.value} period looks like {example}")
    try:
        end = period_end(window, period, zone)
    except ValueError:
        raise UnknownPeriod(f"A {window.value} period looks like {example}") from None
    assert end is not None
    if window_periods(end - timedelta(seconds=1), zone)[window] != period:
        raise UnknownPeriod(f"A {window.value} period looks like {example}")
    if period > current:
        raise UnknownPeriod(f"{period} has not begun")
    if _periods_between(window, period, current) > periods_kept:
        raise UnknownPeriod(f"Only the last {periods_kept} {window.value} periods are kept; {period} is older")
    return period


def _periods_between(window: Window, earlier: str, later: str) -> int:
    """Return how many weeks or months `earlier` is before `later` (both well-formed periods)."""
    if window == Window.MONTH:
        (year_a, month_a), (year_b, month_b) = (map(int, earlier.split("-")), map(int, later.split("-")))
        return (year_b * 12 + month_b) - (year_a * 12 + month_a)
    start_a = datetime.strptime(f"{earlier}-1", "%G-W%V-%u")
    start_b = datetime.strptime(f"{later}-1", "%G-W%V-%u")
    return (start_b - start_a).days // 7


def boards_for(cohorts: Sequence[str], challenge_id: str | None, tags: Sequence[str]) -> tuple[str, ...]:
    """Return every board an award counts on: global, plus its cohorts, challenge and tags."""
    boards = [GLOBAL_BOARD]
    boards += [f"cohort:{cohort}" for cohort in cohorts]
    if challenge_id:
        boards.append(f"challenge:{challenge_id}")
    boards += [f"tag:{tag}" for tag in tags]
    return tuple(dict.fromkeys(board for board in boards if BOARD_PATTERN.fullmatch(board)))


@dataclass(frozen=True)
class BoardRows:
    """Rows of a board in order: its size, how many rank above the first row, the rows and their offset."""

    total: int
    ahead: int
    rows: list[tuple[str, int]]
    offset: int
    # For a member's neighbourhood: the member's position (0-based) on the board.
    position: int | None = None


@dataclass(frozen=True)
class Standing:
    """A user's place on a board."""

    rank: int
    user_id: str
    points: int


@dataclass(frozen=True)
class BoardPage:
    """A page of a board."""

    board: str
    window: Window
    total: int
    entries: list[Standing] = field(default_factory=list)
    period: str = "all"


@dataclass(frozen=True)
class MemberView:
    """A member's place on a board: rank, points, percentile, and the neighbours either side."""

    board: str
    window: Window
    period: str
    user_id: str
    rank: int
    points: int
    percentile: float
    total: int
    neighbors: list[Standing] = field(default_factory=list)


def percentile(rank: int, total: int) -> float:
    """Return the share of a board's members (percent) ranked at or below a rank: 100.0 for first place."""
    if total <= 0:
        return 0.0
    return round(100 * (total - rank + 1) / total, 1)


def competition_ranks(points: Sequence[int], offset: int, ahead_of_first: int) -> list[int]:
    """Rank a page in standard competition order (1, 1, 3): a rank is one more than those with more points.

    `ahead_of_first` is how many members have more points than the page's first entry.
    """
    ranks: list[int] = []
    for index, value in enumerate(points):
        if index == 0:
            ranks.append(ahead_of_first + 1)
        elif value == points[index - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(offset + index + 1)
    return ranks


def entry_board_periods(boards: Iterable[str], moment: datetime, zone: ZoneInfo) -> set[tuple[str, Window, str]]:
    """Return every (board, window, period) an award at `moment` on these boards counts on (global included)."""
    periods = window_periods(moment, zone)
    return {(board, window, period) for board in (GLOBAL_BOARD, *boards) for window, period in periods.items()}


def render_page(board: str, window: Window, period: str, total: int, rows: Sequence[tuple[str, int]]) -> bytes:
    """Return the JSON body of a board's first page, as `GET /leaderboards/{board}` answers it."""
    ranks = competition_ranks([points for _, points in rows], 0, 0)
    document = {
        "board": board,
        "entries": [
            {"points": points, "rank": rank, "user_id": user} for rank, (user, points) in zip(ranks, rows, strict=True)
        ],
        "period": period,
        "total": total,
        "window": window.value,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
