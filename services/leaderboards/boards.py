"""Leaderboards as Redis sorted sets: derived from the ledger, updated so that a replay changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from services.leaderboards.domain import (
    SCORE_SCALE,
    WINDOW_RETENTION,
    LedgerEntry,
    Window,
    decode_points,
    period_end,
    reached_seconds,
    window_periods,
)

KEY_PREFIX = "lb"
# How long Redis remembers that an entry is on the boards. Redelivery (RQ retries, the repair sweep)
# happens within hours; two weeks leaves a wide margin.
APPLIED_MARKER_TTL_SECONDS = 14 * 24 * 3600

# Adds one ledger entry to each of its board keys, at most once: the marker and the updates are one atomic
# script, so a crash before it leaves nothing applied and a replay after it changes nothing.
# KEYS: marker, board keys...  ARGV: marker ttl, member, points, reached seconds, scale, expiry per board key.
_APPLY = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return 0
end
local member = ARGV[2]
local points = tonumber(ARGV[3])
local reached = tonumber(ARGV[4])
local scale = tonumber(ARGV[5])
for i = 2, #KEYS do
  local total = points
  local when = reached
  local current = redis.call('ZSCORE', KEYS[i], member)
  if current then
    local score = tonumber(current)
    local previous = math.floor(score / scale)
    local previous_when = scale - 1 - (score - previous * scale)
    total = previous + points
    if previous_when > when then when = previous_when end
  end
  redis.call('ZADD', KEYS[i], string.format('%.17g', total * scale + (scale - 1 - when)), member)
  local expiry = tonumber(ARGV[4 + i])
  if expiry and expiry > 0 then
    redis.call('EXPIREAT', KEYS[i], expiry)
  end
end
return 1
"""

# One round trip for a page: its size, its rows, and how many members have more points than the first row.
_PAGE = """
local total = redis.call('ZCARD', KEYS[1])
local first = tonumber(ARGV[1])
local rows = redis.call('ZREVRANGE', KEYS[1], first, first + tonumber(ARGV[2]) - 1, 'WITHSCORES')
local ahead = 0
if #rows > 0 then
  local scale = tonumber(ARGV[3])
  local points = math.floor(tonumber(rows[2]) / scale)
  ahead = redis.call('ZCOUNT', KEYS[1], string.format('%.17g', (points + 1) * scale), '+inf')
end
return {total, ahead, rows}
"""


def board_key(board: str, window: Window, period: str) -> str:
    """Return the Redis key of a board in one window period."""
    if window == Window.ALL:
        return f"{KEY_PREFIX}:{board}:all"
    return f"{KEY_PREFIX}:{board}:{window.value}:{period}"


def applied_marker(entry_key: str) -> str:
    """Return the Redis key that records an entry as applied."""
    return f"{KEY_PREFIX}:applied:{entry_key}"


class BoardStore:
    """Reads and updates the Redis boards."""

    def __init__(self, connection: Any, zone: ZoneInfo) -> None:
        self._connection = connection
        self.zone = zone
        self._apply: Any = None
        self._page: Any = None

    @property
    def connection(self) -> redis.Redis:
        connection: redis.Redis = self._connection() if callable(self._connection) else self._connection
        return connection

    def _scripts(self) -> tuple[Any, Any]:
        if self._apply is None:
            self._apply = self.connection.register_script(_APPLY)
            self._page = self.connection.register_script(_PAGE)
        return self._apply, self._page

    def _keys_and_expiries(self, entry: LedgerEntry) -> tuple[list[str], list[int]]:
        keys: list[str] = []
        expiries: list[int] = []
        periods = window_periods(entry.occurred_at, self.zone)
        for board in entry.boards:
            for window, period in periods.items():
                keys.append(board_key(board, window, period))
                end = period_end(window, period, self.zone)
                expiries.append(int((end + WINDOW_RETENTION[window]).timestamp()) if end else 0)
        return keys, expiries

    def apply(self, entries: Sequence[LedgerEntry]) -> int:
        """Put entries on their boards in one pipelined round trip; return how many were new to Redis."""
        if not entries:
            return 0
        apply_script, _ = self._scripts()
        with self.connection.pipeline(transaction=False) as pipeline:
            for entry in entries:
                keys, expiries = self._keys_and_expiries(entry)
                apply_script(
                    keys=[applied_marker(entry.key), *keys],
                    args=[
                        APPLIED_MARKER_TTL_SECONDS,
                        entry.user_id,
                        entry.points,
                        reached_seconds(entry.occurred_at),
                        SCORE_SCALE,
                        *expiries,
                    ],
                    client=pipeline,
                )
            results = pipeline.execute()
        return sum(int(result) for result in results)

    def page(
        self, board: str, window: Window, now: datetime, *, limit: int, offset: int
    ) -> tuple[int, int, list[tuple[str, int]]]:
        """Return the board's size, how many rank above the first row, and the rows (user, points)."""
        _, page_script = self._scripts()
        period = window_periods(now, self.zone)[window]
        total, ahead, rows = page_script(keys=[board_key(board, window, period)], args=[offset, limit, SCORE_SCALE])
        pairs = [
            (member.decode() if isinstance(member, bytes) else str(member), decode_points(float(score)))
            for member, score in zip(rows[0::2], rows[1::2], strict=True)
        ]
        return int(total), int(ahead), pairs
