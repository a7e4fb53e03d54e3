"""The boards in Redis: sorted sets derived from the ledger, updated so that a replay changes nothing.

Each ledger entry is applied by one Lua script, atomically: it sets the entry's marker (or, finding it,
does nothing), adds the points to every board and window the entry counts on, counts the entry in the
learner's kept balance, and publishes `points.awarded` (and `level.reached` when the balance crosses a
level first) on the leaderboards' stream. A crash before the script leaves nothing; a replay after it
changes nothing; so every board and every stream message happens once per entry. A batch is one pipelined
round trip. Reads are one round trip too: a page, a member's neighbourhood, a balance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from redis.exceptions import NoScriptError

from services.leaderboards.domain.badges import MAX_EVIDENCE
from services.leaderboards.domain.boards import (
    GLOBAL_BOARD,
    RENDERED_LIMITS,
    SCORE_SCALE,
    BoardRows,
    Window,
    decode_points,
    period_end,
    reached_seconds,
    render_page,
    retention,
    window_periods,
)
from services.leaderboards.domain.counters import CROSSING_KEPT, CounterOp
from services.leaderboards.domain.ledger import RECENT_KEPT, LedgerEntry, ledger_order, render_entry, stream_event_id
from shared.contracts.events import SCHEMA_VERSION, Event, EventType
from shared.contracts.streams import LEADERBOARD_STREAM, STREAM_MAXLEN, event_from_stream, stream_fields

KEY_PREFIX = "lb"
ENTRIES_KEY = f"{KEY_PREFIX}:entries"
LEVELS_KEY = f"{KEY_PREFIX}:levels"
# The lock one writer holds at a time (services.leaderboards.bootstrap.Dependencies.writer_lock); not a board.
WRITER_LOCK_KEY = f"{KEY_PREFIX}:writer"
# A rendered page is kept this long; it is served only while its board's version is the one it was
# rendered at (every change to a board bumps its version), so a page is never staler than its board.
PAGE_TTL_SECONDS = 60
# How long Redis remembers that an entry is on the boards. Redelivery (RQ retries, the repair sweep)
# happens within hours; later, an entry the ledger holds already is put on the boards only while a pending
# batch holds it (services.leaderboards.usecases.awarding.record_entries). Two weeks leaves a margin.
APPLIED_MARKER_TTL_SECONDS = 14 * 24 * 3600
# Versions of the boards, which `clear` leaves: a page rendered before a rebuild must never match a
# version the rebuild reaches again.
VERSION_PREFIX = f"{KEY_PREFIX}:v:"
_KEPT_BY_CLEAR = (f"{KEY_PREFIX}:published:".encode(), VERSION_PREFIX.encode())
# How many board periods' keys a process remembers before it starts again.
MAX_KNOWN_PERIODS = 10_000

# KEYS: marker, stream, entries hash, levels hash, the entry's board keys (the first is the global all-time
#       board), the versions of those boards (bumped with the update, so no rendered page outlives a
#       change), then the counters its counter operations change, and last the learner's newest entries.
# ARGV: 1 marker ttl, 2 member, 3 points, 4 reached seconds, 5 scale, 6 publish (1/0), 7 level thresholds
#       (comma separated), 8 points.awarded envelope (JSON), 9 level.reached event id, 10 occurred_at,
#       11 stream maxlen, 12 how many board keys, 13 how many versions (as many), 14 how many counter operations, the
#       expiry of each board key, then each operation as 11 values: kind, key (its index in KEYS), field,
#       delta, threshold, total key (index), total field, evidence key (index), member, expires at, members
#       key (index; a `cross` keeps its field's first entries there, by ledger order); and last
#       the entry's place in the ledger's order (ledger_order), then the entry rendered as the ledger shows it.
# A learner's newest entries and a badge's evidence are sorted sets scored by that place, not lists in
# arrival order: a batch a crash interrupted reaches the boards after later ones, and a rebuild must give
# back exactly what was kept live.
_APPLY_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  return 0
end
local member = ARGV[2]
local points = tonumber(ARGV[3])
local reached = tonumber(ARGV[4])
local scale = tonumber(ARGV[5])
local boards = tonumber(ARGV[12])
local pages = tonumber(ARGV[13])
local operations = tonumber(ARGV[14])
redis.call('HINCRBY', KEYS[3], member, 1)
local order = ARGV[#ARGV - 1]
-- The learner's newest entries, rendered (the last key and the last argument), the newest kept.
redis.call('ZADD', KEYS[#KEYS], order, ARGV[#ARGV])
redis.call('ZREMRANGEBYRANK', KEYS[#KEYS], 0, -(__RECENT_KEPT__ + 1))

-- Evidence: the oldest entries that count, at most __MAX_EVIDENCE__; one taken back leaves.
local function keep(key, item, delta)
  if delta > 0 then
    redis.call('ZADD', key, 'NX', order, item)
    redis.call('ZREMRANGEBYRANK', key, __MAX_EVIDENCE__, -1)
  else
    redis.call('ZREM', key, item)
  end
end

local base = 14 + boards
for o = 0, operations - 1 do
  local a = base + o * 11
  local kind = ARGV[a + 1]
  local key = KEYS[tonumber(ARGV[a + 2])]
  local delta = tonumber(ARGV[a + 4])
  if kind == 'inc' then
    redis.call('HINCRBY', key, ARGV[a + 3], delta)
    local expires = tonumber(ARGV[a + 10])
    if expires > 0 then redis.call('EXPIREAT', key, expires) end
  elseif kind == 'push' then
    keep(key, ARGV[a + 9], delta)
  elseif kind == 'cross' then
    local count = redis.call('HINCRBY', key, ARGV[a + 3], delta)
    local threshold = tonumber(ARGV[a + 5])
    if (delta > 0 and count == threshold) or (delta < 0 and count == threshold - 1) then
      local step = 1
      if delta < 0 then step = -1 end
      redis.call('HINCRBY', KEYS[tonumber(ARGV[a + 6])], ARGV[a + 7], step)
    end
    -- The field's evidence is its threshold-th entry by ledger order, whichever entry came last.
    local members = KEYS[tonumber(ARGV[a + 11])]
    local item = ARGV[a + 9]
    local before = redis.call('ZRANGE', members, threshold - 1, threshold - 1)[1]
    if delta > 0 then
      redis.call('ZADD', members, 'NX', order, item)
      redis.call('ZREMRANGEBYRANK', members, threshold * __CROSSING_KEPT__, -1)
    else
      redis.call('ZREM', members, item)
    end
    local after = redis.call('ZRANGE', members, threshold - 1, threshold - 1)[1]
    if before ~= after then
      local evidence = KEYS[tonumber(ARGV[a + 8])]
      if before then redis.call('ZREM', evidence, before) end
      if after then
        redis.call('ZADD', evidence, 'NX', redis.call('ZSCORE', members, after), after)
        redis.call('ZREMRANGEBYRANK', evidence, __MAX_EVIDENCE__, -1)
      end
    end
  end
end

if points == 0 then
  return 1
end
for i = 5 + boards, 4 + boards + pages do
  redis.call('INCR', KEYS[i])
  local version_expiry = tonumber(ARGV[10 + i - boards])
  if version_expiry and version_expiry > 0 then
    redis.call('EXPIREAT', KEYS[i], version_expiry)
  end
end
local balance = nil
for i = 5, 4 + boards do
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
  local expiry = tonumber(ARGV[10 + i])
  if expiry and expiry > 0 then
    redis.call('EXPIREAT', KEYS[i], expiry)
  end
  if i == 5 then balance = total end
end
local maxlen = ARGV[11]
local publish = ARGV[6] == '1'
if publish then
  local awarded = cjson.decode(ARGV[8])
  awarded['data']['total'] = balance
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'type', 'points.awarded', 'event', cjson.encode(awarded))
end
local level = 0
for threshold in string.gmatch(ARGV[7], '[^,]+') do
  if balance >= tonumber(threshold) then level = level + 1 end
end
local highest = tonumber(redis.call('HGET', KEYS[4], member) or '1')
if level > highest then
  redis.call('HSET', KEYS[4], member, level)
  if publish then
    local reached_level = {
      id = ARGV[9], type = 'level.reached', occurred_at = ARGV[10], producer = 'leaderboards',
      actor_id = cjson.null, schema_version = 1,
      data = {user_id = member, level = level, points = balance},
    }
    local message = cjson.encode(reached_level)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'type', 'level.reached', 'event', message)
  end
end
return 1
"""
_APPLY = (
    _APPLY_SCRIPT.replace("__RECENT_KEPT__", str(RECENT_KEPT))
    .replace("__MAX_EVIDENCE__", str(MAX_EVIDENCE))
    .replace("__CROSSING_KEPT__", str(CROSSING_KEPT))
)

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
return {total, ahead, rows, first}
"""

# A member and the K members either side: the same answer as a page that starts K rows above them.
_AROUND = """
local index = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not index then
  return false
end
local total = redis.call('ZCARD', KEYS[1])
local around = tonumber(ARGV[2])
local first = index - around
if first < 0 then first = 0 end
local rows = redis.call('ZREVRANGE', KEYS[1], first, index + around, 'WITHSCORES')
local scale = tonumber(ARGV[3])
local points = math.floor(tonumber(rows[2]) / scale)
local ahead = redis.call('ZCOUNT', KEYS[1], string.format('%.17g', (points + 1) * scale), '+inf')
return {total, ahead, rows, first, index}
"""

# Publishes a message once: its marker is kept for ever (a learner earns few badges).
_PUBLISH_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX') then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[2], 'event', ARGV[3])
return 1
"""


def board_key(board: str, window: Window, period: str) -> str:
    """Return the Redis key of a board in one window period."""
    if window == Window.ALL:
        return f"{KEY_PREFIX}:{board}:all"
    return f"{KEY_PREFIX}:{board}:{window.value}:{period}"


def counter_key(logical: str) -> str:
    """Return the Redis key of a counter (domain/counters.py names them)."""
    return f"{KEY_PREFIX}:c:{logical}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def page_key(board: str, window: Window, period: str, limit: int) -> str:
    """Return the Redis key of a board's first page, rendered at one size."""
    return f"{KEY_PREFIX}:page:{board}:{window.value}:{period}:{limit}"


def recent_key(user_id: str) -> str:
    """Return the Redis key of a learner's newest ledger entries, rendered, scored by their ledger order.

    (`lb:recent:` held a list in arrival order before; a rebuild clears such keys.)
    """
    return f"{KEY_PREFIX}:latest:{user_id}"


def version_key(board: str, window: Window, period: str) -> str:
    """Return the Redis key of a board period's version: bumped by every change, never reset by a rebuild."""
    return f"{VERSION_PREFIX}{board_key(board, window, period).removeprefix(KEY_PREFIX + ':')}"


def applied_marker(entry_key: str) -> str:
    """Return the Redis key that records an entry as applied."""
    return f"{KEY_PREFIX}:applied:{entry_key}"


def processed_marker(event_id: str) -> str:
    """Return the Redis key that records an event as processed."""
    return f"{KEY_PREFIX}:processed:{event_id}"


def published_marker(message_key: str) -> str:
    """Return the Redis key that records a stream message as published."""
    return f"{KEY_PREFIX}:published:{message_key}"


def _version(value: bytes | str | None) -> bytes:
    """Return a board's version as stored (a board never changed is at version 0)."""
    if value is None:
        return b"0"
    return value.encode() if isinstance(value, str) else value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rows(raw: Sequence[Any]) -> list[tuple[str, int]]:
    return [
        (member.decode() if isinstance(member, bytes) else str(member), decode_points(float(score)))
        for member, score in zip(raw[0::2], raw[1::2], strict=True)
    ]


class RedisBoards:
    """Reads and updates the Redis boards, the kept balances and the leaderboards' stream."""

    def __init__(
        self,
        connection: redis.Redis | Callable[[], redis.Redis],
        zone: ZoneInfo,
        *,
        periods_kept: int,
        level_thresholds: Sequence[int],
    ) -> None:
        self._connection = connection
        self.zone = zone
        self.periods_kept = periods_kept
        self._thresholds = ",".join(str(threshold) for threshold in level_thresholds)
        self._scripts: dict[str, str] = {}
        # A board period's key, expiry and page keys, worked out once (a profile of a batch found the date
        # parsing of every entry's expiries a tenth of its time); a few boards and periods are live at a time.
        self._period_keys: dict[tuple[str, Window, str], tuple[str, int, str]] = {}

    @property
    def connection(self) -> redis.Redis:
        connection = self._connection() if callable(self._connection) else self._connection
        return connection

    def _run(self, source: str, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        """Run a Lua script once per (keys, args) in one pipelined round trip, by its SHA.

        redis-py's Script objects ask SCRIPT EXISTS before every pipeline, a second round trip; here the
        script is loaded once per process, and again only if Redis forgot it (a restart or SCRIPT FLUSH).
        Every script here may run twice harmlessly (markers), so a pipeline refused by NOSCRIPT is rerun.
        """
        if not calls:
            return []
        for attempt in range(2):
            sha = self._scripts.get(source)
            if sha is None or attempt:
                sha = self._scripts[source] = str(self.connection.script_load(source))
            with self.connection.pipeline(transaction=False) as pipeline:
                for keys, args in calls:
                    pipeline.evalsha(sha, len(keys), *keys, *args)
                results = pipeline.execute(raise_on_error=False)
            if not any(isinstance(result, NoScriptError) for result in results):
                break
        errors = [result for result in results if isinstance(result, Exception)]
        if errors:
            raise errors[0]
        return list(results)

    def _keys_and_expiries(self, entry: LedgerEntry) -> tuple[list[str], list[int], list[str]]:
        keys: list[str] = []
        expiries: list[int] = []
        versions: list[str] = []
        periods = window_periods(entry.occurred_at, self.zone)
        boards = [GLOBAL_BOARD, *(board for board in entry.boards if board != GLOBAL_BOARD)]
        for board in boards:
            for window, period in periods.items():
                key, expiry, version = self._period(board, window, period)
                keys.append(key)
                expiries.append(expiry)
                versions.append(version)
        return keys, expiries, versions

    def _period(self, board: str, window: Window, period: str) -> tuple[str, int, str]:
        known = self._period_keys.get((board, window, period))
        if known is None:
            if len(self._period_keys) >= MAX_KNOWN_PERIODS:
                self._period_keys.clear()
            end = period_end(window, period, self.zone)
            known = (
                board_key(board, window, period),
                int((end + retention(window, self.periods_kept)).timestamp()) if end else 0,
                version_key(board, window, period),
            )
            self._period_keys[(board, window, period)] = known
        return known

    def _awarded(self, entry: LedgerEntry) -> str:
        data = {
            "entry_key": entry.key,
            "user_id": entry.user_id,
            "points": entry.points,
            "rule": entry.rule,
            "reason": entry.reason,
            "source_event_id": entry.event_id,
            "boards": list(entry.boards),
            "reverses": entry.reverses,
            "total": None,
        }
        envelope = {
            "id": stream_event_id(f"points:{entry.key}"),
            "type": EventType.POINTS_AWARDED.value,
            "occurred_at": _iso(entry.created_at),
            "producer": "leaderboards",
            "actor_id": entry.actor_id,
            "data": data,
            "schema_version": SCHEMA_VERSION,
        }
        return json.dumps(envelope, separators=(",", ":"))

    def apply(
        self,
        entries: Sequence[LedgerEntry],
        *,
        publish: bool = True,
        counters: Mapping[str, Sequence[CounterOp]] | None = None,
    ) -> int:
        """Put entries on their boards in one pipelined round trip; return how many were new to Redis.

        `counters` holds each entry's counter operations (by entry key), applied with it, once.
        `publish=False` (a rebuild) updates the boards without announcing anything on the stream.
        """
        if not entries:
            return 0
        calls = []
        for entry in entries:
            keys, expiries, versions = self._keys_and_expiries(entry)
            head = [applied_marker(entry.key), LEADERBOARD_STREAM, ENTRIES_KEY, LEVELS_KEY, *keys, *versions]
            operations = (counters or {}).get(entry.key, ())
            counter_keys: dict[str, int] = {}

            def index(logical: str, known: dict[str, int] = counter_keys, offset: int = len(head)) -> int:
                if not logical:
                    return 0
                if logical not in known:
                    known[logical] = offset + len(known) + 1
                return known[logical]

            encoded: list[Any] = []
            for op in operations:
                encoded += [
                    op.kind,
                    index(op.key),
                    op.field,
                    op.delta,
                    op.threshold,
                    index(op.total_key),
                    op.total_field,
                    index(op.evidence_key),
                    op.member,
                    op.expires_at,
                    index(op.members_key),
                ]
            calls.append(
                (
                    [*head, *(counter_key(logical) for logical in counter_keys), recent_key(entry.user_id)],
                    [
                        APPLIED_MARKER_TTL_SECONDS,
                        entry.user_id,
                        entry.points,
                        reached_seconds(entry.occurred_at),
                        SCORE_SCALE,
                        "1" if publish else "0",
                        self._thresholds,
                        self._awarded(entry),
                        stream_event_id(f"level:{entry.key}"),
                        _iso(entry.created_at),
                        STREAM_MAXLEN,
                        len(keys),
                        len(versions),
                        len(operations),
                        *expiries,
                        *encoded,
                        str(ledger_order(entry)),
                        render_entry(entry),
                    ],
                )
            )
        results = self._run(_APPLY, calls)
        return sum(int(result) for result in results)

    def counters(self, logical_keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """Return these counters' fields (one pipelined round trip); absent counters are left out."""
        wanted = list(dict.fromkeys(logical_keys))
        if not wanted:
            return {}
        with self.connection.pipeline(transaction=False) as pipeline:
            for logical in wanted:
                pipeline.hgetall(counter_key(logical))
            results = pipeline.execute()
        return {
            logical: {_text(field): int(value) for field, value in fields.items()}
            for logical, fields in zip(wanted, results, strict=True)
            if fields
        }

    def evidence(self, logical_keys: Sequence[str]) -> dict[str, list[str]]:
        """Return these evidence lists, oldest first (one pipelined round trip)."""
        wanted = list(dict.fromkeys(logical_keys))
        if not wanted:
            return {}
        with self.connection.pipeline(transaction=False) as pipeline:
            for logical in wanted:
                pipeline.zrange(counter_key(logical), 0, -1)
            results = pipeline.execute()
        return {logical: [_text(item) for item in items] for logical, items in zip(wanted, results, strict=True)}

    def page(self, board: str, window: Window, period: str, *, limit: int, offset: int) -> BoardRows:
        """Return a page of a board in one window period."""
        [(total, ahead, rows, first)] = self._run(
            _PAGE, [([board_key(board, window, period)], [offset, limit, SCORE_SCALE])]
        )
        return BoardRows(int(total), int(ahead), _rows(rows), int(first))

    def around(
        self, board: str, window: Window, period: str, user_ids: Sequence[str], *, around: int
    ) -> list[BoardRows | None]:
        """Return each member's neighbourhood (K rows either side), None for a non-member; one round trip."""
        key = board_key(board, window, period)
        results = self._run(_AROUND, [([key], [user_id, around, SCORE_SCALE]) for user_id in user_ids])
        answers: list[BoardRows | None] = []
        for result in results:
            if not result:
                answers.append(None)
                continue
            total, ahead, rows, first, index = result
            answers.append(BoardRows(int(total), int(ahead), _rows(rows), int(first), int(index)))
        return answers

    def rendered_page(self, board: str, window: Window, period: str, limit: int) -> bytes | None:
        """Return a board's first page as rendered JSON, if rendered at the board's version (one MGET)."""
        stored, version = self.connection.mget(
            [page_key(board, window, period, limit), version_key(board, window, period)]
        )
        if stored is None:
            return None
        raw = stored.encode() if isinstance(stored, str) else stored
        rendered_at, _, body = raw.partition(b"\n")
        return body if rendered_at == _version(version) else None

    def render_pages(self, keys: Iterable[tuple[str, Window, str]]) -> dict[tuple[str, Window, str, int], bytes]:
        """Render the first pages of these boards at every kept size, and keep them; return them (two round trips).

        Each board is read with its version in one MULTI, and its pages are kept marked with that version:
        a render that loses a race with a change (or with another render) is never served.
        """
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        largest = max(RENDERED_LIMITS)
        with self.connection.pipeline(transaction=True) as pipeline:
            for board, window, period in wanted:
                key = board_key(board, window, period)
                pipeline.get(version_key(board, window, period))
                pipeline.zcard(key)
                pipeline.zrevrange(key, 0, largest - 1, withscores=True)
            results = pipeline.execute()
        rendered: dict[tuple[str, Window, str, int], bytes] = {}
        with self.connection.pipeline(transaction=False) as pipeline:
            for index, (board, window, period) in enumerate(wanted):
                version, total, raw = results[3 * index : 3 * index + 3]
                rows = [
                    (member.decode() if isinstance(member, bytes) else str(member), decode_points(float(score)))
                    for member, score in raw
                ]
                for limit in RENDERED_LIMITS:
                    body = render_page(board, window, period, int(total), rows[:limit])
                    rendered[(board, window, period, limit)] = body
                    marked = _version(version) + b"\n" + body
                    pipeline.set(page_key(board, window, period, limit), marked, ex=PAGE_TTL_SECONDS)
            pipeline.execute()
        return rendered

    def recent_points(self, user_id: str) -> tuple[int, int, list[bytes]]:
        """Return a learner's balance, entry count and newest entries rendered (one pipelined round trip)."""
        with self.connection.pipeline(transaction=False) as pipeline:
            pipeline.zscore(board_key(GLOBAL_BOARD, Window.ALL, "all"), user_id)
            pipeline.hget(ENTRIES_KEY, user_id)
            pipeline.zrevrange(recent_key(user_id), 0, -1)
            score, count, recent = pipeline.execute()
        points = decode_points(float(score)) if score is not None else 0
        return points, int(count or 0), [item.encode() if isinstance(item, str) else item for item in recent]

    def balance(self, user_id: str) -> tuple[int, int]:
        """Return a learner's kept balance and how many ledger entries made it (one round trip)."""
        with self.connection.pipeline(transaction=False) as pipeline:
            pipeline.zscore(board_key(GLOBAL_BOARD, Window.ALL, "all"), user_id)
            pipeline.hget(ENTRIES_KEY, user_id)
            score, count = pipeline.execute()
        return (decode_points(float(score)) if score is not None else 0), int(count or 0)

    def processed(self, event_ids: Sequence[str]) -> set[str]:
        """Return which of these events were processed (their entries recorded, on the boards, with badges)."""
        return self._marked(event_ids, processed_marker)

    def mark_processed(self, event_ids: Sequence[str]) -> None:
        """Record that these events are processed (kept as long as the entries' markers)."""
        if not event_ids:
            return
        with self.connection.pipeline(transaction=False) as pipeline:
            for event_id in event_ids:
                pipeline.set(processed_marker(event_id), 1, ex=APPLIED_MARKER_TTL_SECONDS)
            pipeline.execute()

    def published(self, message_keys: Sequence[str]) -> set[str]:
        """Return which of these messages (badge tiers) were published already."""
        return self._marked(message_keys, published_marker)

    def _marked(self, names: Sequence[str], marker: Callable[[str], str]) -> set[str]:
        """Return which of these names have their marker set (one MGET)."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return set()
        found = self.connection.mget([marker(name) for name in wanted])
        return {name for name, value in zip(wanted, found, strict=True) if value is not None}

    def latest_announcement(self) -> str:
        """Return the id of the stream's newest message ("0-0" for an empty stream)."""
        newest: Any = self.connection.xrevrange(LEADERBOARD_STREAM, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    def announcements_after(self, last_id: str, *, block_ms: int, count: int = 100) -> list[tuple[str, Event]]:
        """Return the stream's messages after `last_id`, waiting up to `block_ms` for one (XREAD BLOCK)."""
        replies: Any = self.connection.xread({LEADERBOARD_STREAM: last_id}, count=count, block=block_ms)
        found: list[tuple[str, Event]] = []
        for _stream, messages in replies or ():
            for message_id, fields in messages:
                found.append((_text(message_id), event_from_stream(fields)))
        return found

    def publish_once(self, messages: Iterable[tuple[str, Event]]) -> int:
        """Publish each (key, event) on the stream unless published before; return how many were new."""
        pending = list(messages)
        if not pending:
            return 0
        calls = []
        for key, event in pending:
            fields = stream_fields(event)
            calls.append(
                ([published_marker(key), LEADERBOARD_STREAM], [STREAM_MAXLEN, fields["type"], fields["event"]])
            )
        results = self._run(_PUBLISH_ONCE, calls)
        return sum(int(result) for result in results)

    def clear(self) -> int:
        """Remove every board, balance, level, counter and marker.

        The stream, published markers, board versions and the writer lock stay.
        """
        removed = 0
        batch: list[bytes] = []
        for key in self.connection.scan_iter(match=f"{KEY_PREFIX}:*", count=1000):
            # The writer lock shares the prefix, and a rebuild clears while holding it: it must stay.
            if key.startswith(_KEPT_BY_CLEAR) or key == WRITER_LOCK_KEY.encode():
                continue
            batch.append(key)
            if len(batch) >= 1000:
                removed += int(self.connection.unlink(*batch))
                batch = []
        if batch:
            removed += int(self.connection.unlink(*batch))
        return removed
