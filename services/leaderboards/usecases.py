"""Use cases of the leaderboards service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from services.leaderboards.domain import (
    BoardPage,
    LedgerEntry,
    PointsConfig,
    Standing,
    Window,
    check_board,
    competition_ranks,
    ledger_entries,
)
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event
from shared.domain import Forbidden
from shared.faults import crash_point
from shared.usecase import UseCaseContext

log = structlog.get_logger(__name__)


class Ledger(Protocol):
    """The append-only points ledger, one entry per (event, rule, user): the source of truth."""

    def append(self, entries: Sequence[LedgerEntry]) -> int:
        """Insert entries, skipping any already recorded; return how many were new."""
        ...

    def get_many(self, keys: Sequence[str]) -> list[LedgerEntry]: ...

    def mark_applied(self, keys: Sequence[str]) -> None: ...

    def unapplied(self, created_before: datetime, limit: int = 500) -> list[LedgerEntry]: ...

    def for_user(self, user_id: str, *, limit: int, offset: int) -> tuple[list[LedgerEntry], int, int]:
        """Return a page of a user's entries (newest first), their count and the user's total points."""
        ...


class Boards(Protocol):
    """The boards derived from the ledger; applying an entry twice changes nothing."""

    def apply(self, entries: Sequence[LedgerEntry]) -> int: ...

    def page(
        self, board: str, window: Window, now: datetime, *, limit: int, offset: int
    ) -> tuple[int, int, list[tuple[str, int]]]:
        """Return the board's size, how many rank above the first row, and the rows (user, points)."""
        ...


@dataclass
class Context(UseCaseContext):
    """What the leaderboards use cases need: the ledger, the boards and the points configuration."""

    ledger: Ledger = field(kw_only=True)
    boards: Boards = field(kw_only=True)
    points: PointsConfig = field(default_factory=PointsConfig, kw_only=True)


def apply_events(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> int:
    """Record the awards of a batch of events and put them on the boards; safe to repeat.

    The ledger write is one bulk insert keyed by (event, rule, user), so a repeat adds nothing. The boards
    are then updated from the stored entries through Redis markers, so a repeat changes nothing there either.
    A crash between the two leaves entries marked unapplied, which the repair sweep (or RQ's retry of the
    abandoned job) puts on the boards later.
    """
    now = context.clock()
    entries = [entry for event, data in events for entry in ledger_entries(event, data, context.points, now)]
    if not entries:
        return 0
    new = context.ledger.append(entries)
    crash_point("leaderboards.after_ledger_write")
    keys = [entry.key for entry in entries]
    stored = context.ledger.get_many(keys)
    context.boards.apply(stored)
    crash_point("leaderboards.after_board_update")
    context.ledger.mark_applied(keys)
    if new < len(entries):
        log.info("ledger_duplicates_skipped", duplicates=len(entries) - new)
    return new


def repair_boards(*, context: Context, grace: timedelta = timedelta(seconds=30)) -> int:
    """Put ledger entries that a crash kept off the boards onto them; return how many were repaired."""
    repaired = 0
    while True:
        pending: list[LedgerEntry] = context.ledger.unapplied(context.clock() - grace)
        if not pending:
            return repaired
        context.boards.apply(pending)
        context.ledger.mark_applied([entry.key for entry in pending])
        repaired += len(pending)


def board_page(board: str, *, window: Window, limit: int, offset: int, context: Context) -> BoardPage:
    """Return a page of a board in standard competition ranking (ties share a rank, earliest first)."""
    check_board(board)
    total, ahead, rows = context.boards.page(board, window, context.clock(), limit=limit, offset=offset)
    ranks = competition_ranks([points for _, points in rows], offset, ahead)
    standings = [
        Standing(rank=rank, user_id=user, points=points) for rank, (user, points) in zip(ranks, rows, strict=True)
    ]
    return BoardPage(board=board, window=window, total=total, entries=standings)


def user_points(
    user_id: str, *, actor: Principal, limit: int, offset: int, context: Context
) -> tuple[int, list[LedgerEntry], int]:
    """Return a user's total, a page of their ledger (newest first) and its size; self, staff or services only."""
    if actor.user_id != user_id and not actor.has_any(Role.TEACHER, Role.ADMIN, Role.SERVICE):
        raise Forbidden("Only the learner, teachers, admins and services may read a learner's ledger")
    entries, count, total = context.ledger.for_user(user_id, limit=limit, offset=offset)
    return total, entries, count
