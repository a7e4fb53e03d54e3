"""Pure rules of the leaderboards service: awards from events, board scores, windows and ranks."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.events import Event, EventType
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


# How long a window's board is kept after its period ends (the all-time board is kept for ever).
WINDOW_RETENTION = {Window.WEEK: timedelta(weeks=6), Window.MONTH: timedelta(days=400)}


class InvalidBoard(NotFound):
    """A board name outside global, cohort:{id}, challenge:{id}, tag:{name}: there is no such board."""


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


def boards_for(cohorts: Sequence[str], challenge_id: str | None, tags: Sequence[str]) -> tuple[str, ...]:
    """Return every board an award counts on: global, plus its cohorts, challenge and tags."""
    boards = [GLOBAL_BOARD]
    boards += [f"cohort:{cohort}" for cohort in cohorts]
    if challenge_id:
        boards.append(f"challenge:{challenge_id}")
    boards += [f"tag:{tag}" for tag in tags]
    return tuple(dict.fromkeys(board for board in boards if BOARD_PATTERN.fullmatch(board)))


@dataclass(frozen=True)
class Award:
    """Points a rule gives one user for one event."""

    user_id: str
    points: int
    rule: str
    reason: str
    boards: tuple[str, ...]


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the append-only ledger: who got how many points, by which rule, for which event."""

    key: str
    user_id: str
    points: int
    rule: str
    reason: str
    event_id: str
    event_type: str
    boards: tuple[str, ...]
    occurred_at: datetime
    created_at: datetime


def ledger_key(event_id: str, rule: str, user_id: str) -> str:
    """Return the entry's unique key: one award per event, rule and user, however often it arrives."""
    return f"{event_id}:{rule}:{user_id}"


@dataclass(frozen=True)
class PointsConfig:
    """Points per action; configurable per deployment."""

    resource_shared: int = 5


Rule = Callable[[Event, Mapping[str, Any], PointsConfig], list[Award]]


def _resource_shared(event: Event, data: Mapping[str, Any], config: PointsConfig) -> list[Award]:
    boards = boards_for(data.get("cohorts", ()), data.get("challenge_id"), data.get("tags", ()))
    title = str(data.get("title", ""))[:80]
    return [Award(data["owner_id"], config.resource_shared, "resource.shared", f"Shared a resource: {title}", boards)]


# The rules each event type triggers; a rule's name is recorded on every entry it makes.
RULES: Mapping[str, tuple[Rule, ...]] = {
    EventType.RESOURCE_SHARED: (_resource_shared,),
}


def awards_for(event: Event, data: Mapping[str, Any], config: PointsConfig) -> list[Award]:
    """Return the awards an event earns under the configured rules."""
    return [award for rule in RULES.get(event.type, ()) for award in rule(event, data, config)]


def ledger_entries(event: Event, data: Mapping[str, Any], config: PointsConfig, now: datetime) -> list[LedgerEntry]:
    """Turn an event's awards into ledger entries keyed for idempotency."""
    return [
        LedgerEntry(
            key=ledger_key(event.id, award.rule, award.user_id),
            user_id=award.user_id,
            points=award.points,
            rule=award.rule,
            reason=award.reason,
            event_id=event.id,
            event_type=event.type,
            boards=award.boards,
            occurred_at=event.occurred_at,
            created_at=now,
        )
        for award in awards_for(event, data, config)
        if award.points != 0
    ]


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
