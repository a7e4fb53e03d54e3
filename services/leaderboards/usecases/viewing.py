"""The classroom screen: read-only tokens for one board, and the board as the screen shows it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from services.leaderboards.domain.boards import Window, check_board, competition_ranks, resolve_period
from services.leaderboards.domain.viewing import SCREEN_ROWS, ViewGrant, touches_board, view_lifetime
from services.leaderboards.usecases.context import Context
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.domain import Forbidden


def mint_view_token(board: str, *, hours: float | None, actor: Principal, context: Context) -> ViewGrant:
    """Mint a read-only token for one board's classroom screen (teachers and admins)."""
    check_board(board)
    if not actor.has_any(Role.TEACHER, Role.ADMIN):
        raise Forbidden("Only teachers and admins mint tokens for a classroom screen")
    return context.view_tokens.mint(board, actor.user_id, context.clock(), view_lifetime(hours))


def may_watch(board: str, token: str, context: Context) -> bool:
    """Return whether a view token lets its holder watch this board (and only this board)."""
    grant = context.view_tokens.find(token)
    return grant is not None and grant.board == board and grant.expires_at > context.clock()


@dataclass(frozen=True)
class Screen:
    """What the classroom screen shows: the board's first rows, each learner's badges, and when."""

    board: str
    period: str
    total: int
    rows: list[dict[str, Any]]

    def document(self) -> dict[str, Any]:
        """Return the screen as the stream sends it."""
        return {"board": self.board, "period": self.period, "total": self.total, "rows": self.rows}


def screen(board: str, *, window: Window = Window.ALL, context: Context) -> Screen:
    """Return the board's first rows with each learner's badges (their highest tier of each)."""
    check_board(board)
    scoring = context.scoring
    period = resolve_period(window, None, context.clock(), scoring.zone, scoring.periods_kept)
    rows = context.boards.page(board, window, period, limit=SCREEN_ROWS, offset=0)
    ranks = competition_ranks([points for _, points in rows.rows], rows.offset, rows.ahead)
    titles = {badge.name: badge.title for badge in scoring.badges}
    earned: dict[str, dict[str, int]] = defaultdict(dict)
    for badge in context.badges.of_users([user for user, _ in rows.rows]):
        earned[badge.user_id][badge.badge] = max(badge.tier, earned[badge.user_id].get(badge.badge, 0))
    return Screen(
        board,
        period,
        rows.total,
        [
            {
                "rank": rank,
                "user_id": user,
                "points": points,
                "badges": [
                    {"name": name, "title": titles.get(name, name), "tier": tier}
                    for name, tier in sorted(earned[user].items())
                ],
            }
            for rank, (user, points) in zip(ranks, rows.rows, strict=True)
        ],
    )


def changes_screen(event: Event, board: str, shown: Screen) -> bool:
    """Return whether an announcement changes what the board's screen shows: points on the board, or a
    badge of a learner it lists."""
    if event.type == EventType.POINTS_AWARDED:
        boards = event.data.get("boards")
        return touches_board(boards if isinstance(boards, list) else None, board)
    if event.type == EventType.BADGE_EARNED:
        return event.data.get("user_id") in {row["user_id"] for row in shown.rows}
    return False
