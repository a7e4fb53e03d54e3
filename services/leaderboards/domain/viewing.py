"""The classroom screen: who may watch a board, and what the screen shows of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# A token minted for a classroom screen lasts a school day unless asked otherwise, at most a week.
DEFAULT_VIEW_TOKEN_HOURS = 12
MAX_VIEW_TOKEN_HOURS = 24 * 7
# How many learners the screen lists.
SCREEN_ROWS = 20
# A stream answers for this long at most, then closes; the browser reconnects at once (EventSource), from
# the last message it had, so no update is lost. A bounded stream frees the API worker it holds.
STREAM_SECONDS = 25.0
# How long the stream waits for news before sending a keep-alive comment.
STREAM_HEARTBEAT_SECONDS = 5.0


@dataclass(frozen=True)
class ViewGrant:
    """A read-only token for one board's classroom screen."""

    token: str
    board: str
    granted_by: str
    expires_at: datetime


def view_lifetime(hours: float | None) -> timedelta:
    """Return how long a new view token lasts."""
    return timedelta(hours=min(hours or DEFAULT_VIEW_TOKEN_HOURS, MAX_VIEW_TOKEN_HOURS))


def touches_board(announced_boards: list[str] | None, board: str) -> bool:
    """Return whether points announced on these boards change this board (every entry is on `global`)."""
    return board == "global" or board in (announced_boards or [])
