"""In-memory ledger and boards of the leaderboards service: the protocols of its use cases, over dictionaries.

`tests/integration/test_leaderboards_storage.py` runs one contract over these and the real MongoDB ledger
and Redis boards, so the fakes cannot drift from what production does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from services.leaderboards.domain import (
    SCORE_SCALE,
    LedgerEntry,
    PointsConfig,
    Window,
    decode_points,
    reached_seconds,
    window_periods,
)
from services.leaderboards.usecases import Context


class FakeLedger:
    """Ledger entries by key, each with whether it reached the boards."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.applied: set[str] = set()

    def append(self, entries: Sequence[LedgerEntry]) -> int:
        new = [entry for entry in entries if entry.key not in self.entries]
        for entry in new:
            self.entries.setdefault(entry.key, entry)
        return len({entry.key for entry in new})

    def get_many(self, keys: Sequence[str]) -> list[LedgerEntry]:
        return [self.entries[key] for key in dict.fromkeys(keys) if key in self.entries]

    def mark_applied(self, keys: Sequence[str]) -> None:
        self.applied.update(key for key in keys if key in self.entries)

    def unapplied(self, created_before: datetime, limit: int = 500) -> list[LedgerEntry]:
        pending = [
            entry
            for key, entry in self.entries.items()
            if key not in self.applied and entry.created_at <= created_before
        ]
        return sorted(pending, key=lambda entry: entry.created_at)[:limit]

    def for_user(self, user_id: str, *, limit: int, offset: int) -> tuple[list[LedgerEntry], int, int]:
        mine = [entry for entry in self.entries.values() if entry.user_id == user_id]
        newest_first = sorted(mine, key=lambda entry: (entry.created_at, entry.key), reverse=True)
        return newest_first[offset : offset + limit], len(mine), sum(entry.points for entry in mine)


class FakeBoards:
    """Boards per window period: each member's total and when it was reached; each entry applied once."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.scores: dict[tuple[str, Window, str], dict[str, float]] = {}
        self.markers: set[str] = set()

    def apply(self, entries: Sequence[LedgerEntry]) -> int:
        applied = 0
        for entry in entries:
            if entry.key in self.markers:
                continue
            self.markers.add(entry.key)
            applied += 1
            reached = reached_seconds(entry.occurred_at)
            for board in entry.boards:
                for window, period in window_periods(entry.occurred_at, self.zone).items():
                    members = self.scores.setdefault((board, window, period), {})
                    total, when = entry.points, reached
                    if entry.user_id in members:
                        score = members[entry.user_id]
                        previous = decode_points(score)
                        total += previous
                        when = max(when, int(SCORE_SCALE - 1 - (score - previous * SCORE_SCALE)))
                    members[entry.user_id] = float(total * SCORE_SCALE + (SCORE_SCALE - 1 - when))
        return applied

    def page(
        self, board: str, window: Window, now: datetime, *, limit: int, offset: int
    ) -> tuple[int, int, list[tuple[str, int]]]:
        members = self.scores.get((board, window, window_periods(now, self.zone)[window]), {})
        # Redis orders equal scores by member, descending, in a reversed range.
        ordered = sorted(members.items(), key=lambda item: (item[1], item[0]), reverse=True)
        rows = [(member, decode_points(score)) for member, score in ordered[offset : offset + limit]]
        ahead = sum(1 for score in members.values() if rows and decode_points(score) > rows[0][1])
        return len(members), ahead, rows


@dataclass
class FakeLeaderboards:
    """The leaderboards service's storage in memory, and a settable clock."""

    now: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    points: PointsConfig = field(default_factory=PointsConfig)

    def __post_init__(self) -> None:
        self.ledger = FakeLedger()
        self.boards = FakeBoards(self.zone)

    def context(self) -> Context:
        """Return a use-case context over the fakes, its clock reading `now` at each call."""
        return Context(
            producer="leaderboards", clock=lambda: self.now, ledger=self.ledger, boards=self.boards, points=self.points
        )
