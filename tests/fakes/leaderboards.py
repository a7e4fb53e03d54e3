"""In-memory storage of the leaderboards service: the protocols of its use cases, over dictionaries.

`tests/integration/test_leaderboards_storage.py` runs one contract over these and the real MongoDB ledger
and Redis boards, so the fakes cannot drift from what production does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from services.leaderboards.domain.badges import MAX_EVIDENCE, EarnedBadge, Levels
from services.leaderboards.domain.boards import (
    GLOBAL_BOARD,
    RENDERED_LIMITS,
    SCORE_SCALE,
    BoardRows,
    Window,
    decode_points,
    reached_seconds,
    render_page,
    window_periods,
)
from services.leaderboards.domain.counters import CROSSING_KEPT, CounterOp
from services.leaderboards.domain.ledger import (
    RECENT_KEPT,
    LedgerEntry,
    PendingBatch,
    ledger_order,
    render_entry,
    stream_event_id,
)
from services.leaderboards.domain.rules import local_day
from services.leaderboards.domain.viewing import ViewGrant
from services.leaderboards.settings import DEFAULT_RULES, read_scoring
from services.leaderboards.usecases.context import Context, Scoring
from shared.clock import to_milliseconds
from shared.consumer import Received
from shared.contracts.events import Event, EventType


class FakeLedger:
    """Ledger entries by key in insertion order, each with its day."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.days: dict[str, date] = {}

    def append(self, entries: Sequence[tuple[LedgerEntry, date]]) -> set[str]:
        new: set[str] = set()
        for entry, day in entries:
            if entry.key not in self.entries:
                # BSON keeps times to the millisecond: what is read back is what MongoDB gives back.
                self.entries[entry.key] = replace(
                    entry, occurred_at=to_milliseconds(entry.occurred_at), created_at=to_milliseconds(entry.created_at)
                )
                self.days[entry.key] = day
                new.add(entry.key)
        return new

    def get(self, key: str) -> LedgerEntry | None:
        return self.entries.get(key)

    def for_usage(
        self,
        *,
        user_ids: Sequence[str],
        days: Sequence[date],
        objects: Sequence[str],
        lifetime_rules: Sequence[str],
        excluding_events: Sequence[str],
    ) -> list[LedgerEntry]:
        return [
            entry
            for key, entry in self.entries.items()
            if entry.user_id in user_ids
            and entry.event_id not in excluding_events
            and (self.days[key] in days or entry.object_id in objects or entry.rule in lifetime_rules)
        ]

    def of_object(self, user_id: str, rule: str, object_id: str) -> list[LedgerEntry]:
        return [
            entry
            for entry in self.entries.values()
            if (entry.user_id, entry.rule, entry.object_id) == (user_id, rule, object_id)
        ]

    def page_for(self, user_id: str, *, limit: int, offset: int) -> list[LedgerEntry]:
        mine = [entry for entry in self.entries.values() if entry.user_id == user_id]
        # As the ledger orders them: newest write first, and the last of a write first.
        newest_first = sorted(reversed(mine), key=lambda entry: entry.created_at, reverse=True)
        return newest_first[offset : offset + limit]

    def everything(self, batch: int = 1000) -> Iterator[list[LedgerEntry]]:
        # As the ledger orders them: by the time they were recorded, then by their place in their write.
        ordered = sorted(self.entries.values(), key=lambda entry: entry.created_at)
        for start in range(0, len(ordered), batch):
            yield ordered[start : start + batch]


class FakePeople:
    """Cohorts by user."""

    def __init__(self) -> None:
        self.cohorts: dict[str, tuple[str, ...]] = {}

    def note(self, cohorts: Mapping[str, Sequence[str]]) -> None:
        for user_id, named in cohorts.items():
            self.cohorts[user_id] = tuple(named)

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        return {user_id: self.cohorts[user_id] for user_id in user_ids if self.cohorts.get(user_id)}


class FakePending:
    """Batches between the ledger and the boards, by id, with when they were opened."""

    def __init__(self) -> None:
        self.batches: dict[str, tuple[datetime, list[LedgerEntry]]] = {}

    def open(self, batch_id: str, entries: Sequence[LedgerEntry], now: datetime) -> None:
        # Kept as MongoDB gives them back (times to the millisecond), to compare with the ledger's.
        kept = [
            replace(entry, occurred_at=to_milliseconds(entry.occurred_at), created_at=to_milliseconds(entry.created_at))
            for entry in entries
        ]
        self.batches[batch_id] = (now, kept)

    def close(self, batch_id: str) -> None:
        self.batches.pop(batch_id, None)

    def holding(self, keys: Sequence[str]) -> list[PendingBatch]:
        wanted = set(keys)
        return [
            PendingBatch(batch_id, list(entries))
            for batch_id, (_, entries) in self.batches.items()
            if wanted & {entry.key for entry in entries}
        ]

    def stale(self, created_before: datetime, limit: int = 50) -> list[PendingBatch]:
        ordered = sorted(self.batches.items(), key=lambda item: item[1][0])
        return [
            PendingBatch(batch_id, list(entries)) for batch_id, (opened, entries) in ordered if opened <= created_before
        ][:limit]


class FakeInbox:
    """Received events by id, in arrival order."""

    def __init__(self) -> None:
        self.events: dict[str, Received] = {}

    def record(self, events: Sequence[Received], received_at: datetime) -> set[str]:
        again = {event.id for event, _ in events if event.id in self.events}
        for event, data in events:
            # Kept as MongoDB gives it back: the envelope's fields, the payload as data, times to the millisecond.
            kept = Event(
                type=event.type,
                producer=event.producer,
                actor_id=event.actor_id,
                data=dict(data),
                id=event.id,
                occurred_at=to_milliseconds(event.occurred_at),
            )
            self.events.setdefault(event.id, (kept, dict(data)))
        return again

    def in_order(self, batch: int = 1000) -> Iterator[list[Received]]:
        ordered = list(self.events.values())
        for start in range(0, len(ordered), batch):
            yield ordered[start : start + batch]


class FakeBadges:
    """Earned tiers by key."""

    def __init__(self) -> None:
        self.earned: dict[str, EarnedBadge] = {}

    def add_many(self, earned: Sequence[EarnedBadge]) -> int:
        new = 0
        for badge in earned:
            if badge.key not in self.earned:
                self.earned[badge.key] = replace(badge, earned_at=to_milliseconds(badge.earned_at))
                new += 1
        return new

    def of_users(self, user_ids: Sequence[str]) -> list[EarnedBadge]:
        mine = [badge for badge in self.earned.values() if badge.user_id in user_ids]
        return sorted(mine, key=lambda badge: badge.earned_at)


class FakeBoards:
    """Boards per window period (each member's packed score), balances, levels and the stream, in memory."""

    def __init__(self, zone: ZoneInfo, level_thresholds: Sequence[int] = (0,)) -> None:
        self.zone = zone
        self.levels = Levels(tuple(level_thresholds))
        self.scores: dict[tuple[str, Window, str], dict[str, float]] = {}
        self.markers: set[str] = set()
        self.counts: dict[str, int] = {}
        self.highest_level: dict[str, int] = {}
        self.stream: list[Event] = []
        self.published_keys: set[str] = set()
        self.pages: dict[tuple[str, Window, str, int], bytes] = {}
        self.counter_values: dict[str, dict[str, int]] = {}
        # Sorted sets, as Redis keeps them: member -> score (the entry's ledger order).
        self.evidence_lists: dict[str, dict[str, int]] = {}
        self.processed_ids: set[str] = set()
        self.recent: dict[str, dict[bytes, int]] = {}
        self.crossing_members: dict[str, dict[str, int]] = {}

    def _keep(self, key: str, member: str, delta: int, order: int) -> None:
        kept = self.evidence_lists.setdefault(key, {})
        if delta > 0:
            kept.setdefault(member, order)
            for dropped in _by_score(kept)[MAX_EVIDENCE:]:
                del kept[dropped]
        else:
            kept.pop(member, None)

    def _run(self, op: CounterOp, order: int) -> None:
        fields = self.counter_values.setdefault(op.key, {})
        if op.kind == "push":
            self._keep(op.key, op.member, op.delta, order)
            return
        fields[op.field] = fields.get(op.field, 0) + op.delta
        if op.kind == "cross":
            count = fields[op.field]
            if (op.delta > 0 and count == op.threshold) or (op.delta < 0 and count == op.threshold - 1):
                step = 1 if op.delta > 0 else -1
                totals = self.counter_values.setdefault(op.total_key, {})
                totals[op.total_field] = totals.get(op.total_field, 0) + step
            # The field's evidence is its threshold-th entry by ledger order, whichever came last.
            members = self.crossing_members.setdefault(op.members_key, {})
            before = _nth(members, op.threshold - 1)
            if op.delta > 0:
                members.setdefault(op.member, order)
                for dropped in _by_score(members)[op.threshold * CROSSING_KEPT :]:
                    del members[dropped]
            else:
                members.pop(op.member, None)
            after = _nth(members, op.threshold - 1)
            if before != after:
                if before is not None:
                    self._keep(op.evidence_key, before, -1, order)
                if after is not None:
                    self._keep(op.evidence_key, after, 1, members[after])

    def apply(
        self,
        entries: Sequence[LedgerEntry],
        *,
        publish: bool = True,
        counters: Mapping[str, Sequence[CounterOp]] | None = None,
    ) -> int:
        applied = 0
        for entry in entries:
            if entry.key in self.markers:
                continue
            self.markers.add(entry.key)
            order = ledger_order(entry)
            newest = self.recent.setdefault(entry.user_id, {})
            newest[render_entry(entry)] = order
            for dropped in _by_score(newest)[: max(0, len(newest) - RECENT_KEPT)]:
                del newest[dropped]
            for op in (counters or {}).get(entry.key, ()):
                self._run(op, order)
            applied += 1
            self.counts[entry.user_id] = self.counts.get(entry.user_id, 0) + 1
            if entry.points == 0:
                continue
            reached = reached_seconds(entry.occurred_at)
            for board in dict.fromkeys((GLOBAL_BOARD, *entry.boards)):
                for window, period in window_periods(entry.occurred_at, self.zone).items():
                    for limit in RENDERED_LIMITS:
                        self.pages.pop((board, window, period, limit), None)
                    members = self.scores.setdefault((board, window, period), {})
                    total, when = entry.points, reached
                    if entry.user_id in members:
                        score = members[entry.user_id]
                        previous = decode_points(score)
                        total += previous
                        when = max(when, int(SCORE_SCALE - 1 - (score - previous * SCORE_SCALE)))
                    members[entry.user_id] = float(total * SCORE_SCALE + (SCORE_SCALE - 1 - when))
            balance, _ = self.balance(entry.user_id)
            # The messages the Redis script publishes, as a consumer of the stream reads them back.
            if publish:
                self.stream.append(
                    Event(
                        type=EventType.POINTS_AWARDED,
                        producer="leaderboards",
                        actor_id=entry.actor_id,
                        data={
                            "entry_key": entry.key,
                            "user_id": entry.user_id,
                            "points": entry.points,
                            "rule": entry.rule,
                            "reason": entry.reason,
                            "source_event_id": entry.event_id,
                            "boards": list(entry.boards),
                            "reverses": entry.reverses,
                            "total": balance,
                        },
                        id=stream_event_id(f"points:{entry.key}"),
                        occurred_at=entry.created_at,
                    )
                )
            level = self.levels.level_of(balance)
            if level > self.highest_level.get(entry.user_id, 1):
                self.highest_level[entry.user_id] = level
                if publish:
                    self.stream.append(
                        Event(
                            type=EventType.LEVEL_REACHED,
                            producer="leaderboards",
                            actor_id=None,
                            data={"user_id": entry.user_id, "level": level, "points": balance},
                            id=stream_event_id(f"level:{entry.key}"),
                            occurred_at=entry.created_at,
                        )
                    )
        return applied

    def _ordered(self, board: str, window: Window, period: str) -> list[tuple[str, float]]:
        members = self.scores.get((board, window, period), {})
        # Redis orders equal scores by member, descending, in a reversed range.
        return sorted(members.items(), key=lambda item: (item[1], item[0]), reverse=True)

    def _rows(self, ordered: list[tuple[str, float]], first: int, count: int) -> tuple[int, list[tuple[str, int]]]:
        rows = [(member, decode_points(score)) for member, score in ordered[first : first + count]]
        ahead = sum(1 for _, score in ordered if rows and decode_points(score) > rows[0][1])
        return ahead, rows

    def page(self, board: str, window: Window, period: str, *, limit: int, offset: int) -> BoardRows:
        ordered = self._ordered(board, window, period)
        ahead, rows = self._rows(ordered, offset, limit)
        return BoardRows(len(ordered), ahead, rows, offset)

    def around(
        self, board: str, window: Window, period: str, user_ids: Sequence[str], *, around: int
    ) -> list[BoardRows | None]:
        ordered = self._ordered(board, window, period)
        positions = {member: index for index, (member, _) in enumerate(ordered)}
        answers: list[BoardRows | None] = []
        for user_id in user_ids:
            if user_id not in positions:
                answers.append(None)
                continue
            index = positions[user_id]
            first = max(0, index - around)
            ahead, rows = self._rows(ordered, first, index + around - first + 1)
            answers.append(BoardRows(len(ordered), ahead, rows, first, index))
        return answers

    def rendered_page(self, board: str, window: Window, period: str, limit: int) -> bytes | None:
        return self.pages.get((board, window, period, limit))

    def render_pages(self, keys: Iterable[tuple[str, Window, str]]) -> dict[tuple[str, Window, str, int], bytes]:
        rendered: dict[tuple[str, Window, str, int], bytes] = {}
        for board, window, period in set(keys):
            ordered = self._ordered(board, window, period)
            rows = [(member, decode_points(score)) for member, score in ordered[: max(RENDERED_LIMITS)]]
            for limit in RENDERED_LIMITS:
                body = render_page(board, window, period, len(ordered), rows[:limit])
                rendered[(board, window, period, limit)] = body
                self.pages[(board, window, period, limit)] = body
        return rendered

    def counters(self, logical_keys: Sequence[str]) -> dict[str, dict[str, int]]:
        return {key: dict(self.counter_values[key]) for key in logical_keys if self.counter_values.get(key)}

    def evidence(self, logical_keys: Sequence[str]) -> dict[str, list[str]]:
        return {key: _by_score(self.evidence_lists.get(key, {})) for key in logical_keys}

    def processed(self, event_ids: Sequence[str]) -> set[str]:
        return {event_id for event_id in event_ids if event_id in self.processed_ids}

    def mark_processed(self, event_ids: Sequence[str]) -> None:
        self.processed_ids.update(event_ids)

    def published(self, message_keys: Sequence[str]) -> set[str]:
        return {key for key in message_keys if key in self.published_keys}

    def recent_points(self, user_id: str) -> tuple[int, int, list[bytes]]:
        total, count = self.balance(user_id)
        return total, count, _by_score(self.recent.get(user_id, {}))[::-1]

    def balance(self, user_id: str) -> tuple[int, int]:
        score = self.scores.get((GLOBAL_BOARD, Window.ALL, "all"), {}).get(user_id)
        return (decode_points(score) if score is not None else 0), self.counts.get(user_id, 0)

    def publish_once(self, messages: Iterable[tuple[str, Event]]) -> int:
        new = 0
        for key, event in messages:
            if key not in self.published_keys:
                self.published_keys.add(key)
                self.stream.append(event)
                new += 1
        return new

    def latest_announcement(self) -> str:
        return f"{len(self.stream)}-0"

    def announcements_after(self, last_id: str, *, block_ms: int, count: int = 100) -> list[tuple[str, Event]]:
        # Message n (from 1) has the id "n-0"; nothing arrives while a fake waits.
        seen = int(last_id.split("-", maxsplit=1)[0]) if last_id not in ("$", "") else len(self.stream)
        return [(f"{index + 1}-0", event) for index, event in enumerate(self.stream) if index >= seen][:count]

    def clear(self) -> int:
        removed = len(self.scores) + len(self.markers)
        self.scores.clear()
        self.markers.clear()
        self.counts.clear()
        self.highest_level.clear()
        self.pages.clear()
        self.counter_values.clear()
        self.evidence_lists.clear()
        self.recent.clear()
        self.crossing_members.clear()
        self.processed_ids.clear()
        return removed

    def standings(self, board: str = GLOBAL_BOARD, window: Window = Window.ALL, period: str = "all") -> dict[str, int]:
        """Return every member's points on a board (for tests)."""
        return {member: decode_points(score) for member, score in self._ordered(board, window, period)}


def _by_score(members: Mapping[Any, int]) -> list[Any]:
    """Return a sorted set's members as Redis orders them: by score, then by the member itself."""
    return [member for member, _ in sorted(members.items(), key=lambda item: (item[1], item[0]))]


def _nth(members: Mapping[str, int], rank: int) -> str | None:
    """Return a sorted set's member at this rank (from 0), or None."""
    ordered = _by_score(members)
    return ordered[rank] if 0 <= rank < len(ordered) else None


def default_scoring(zone: ZoneInfo | None = None, path: Path = DEFAULT_RULES) -> Scoring:
    """Return the packaged rules file's scoring in a time zone."""
    return read_scoring(path, zone or ZoneInfo("UTC"))


class FakeViewTokens:
    """Classroom screens' tokens by token (the use case checks their expiry)."""

    def __init__(self) -> None:
        self.grants: dict[str, ViewGrant] = {}

    def mint(self, board: str, granted_by: str, now: datetime, lifetime: timedelta) -> ViewGrant:
        grant = ViewGrant(f"view-{len(self.grants) + 1}", board, granted_by, now + lifetime)
        self.grants[grant.token] = grant
        return grant

    def find(self, token: str) -> ViewGrant | None:
        return self.grants.get(token)


@dataclass
class FakeLeaderboards:
    """The leaderboards service's storage in memory, the packaged rules, and a settable clock."""

    now: datetime
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    scoring: Scoring | None = None

    def __post_init__(self) -> None:
        self.scoring = replace(self.scoring or default_scoring(self.zone), zone=self.zone)
        self.ledger = FakeLedger()
        self.people = FakePeople()
        self.badges = FakeBadges()
        self.inbox = FakeInbox()
        self.pending = FakePending()
        self.view_tokens = FakeViewTokens()
        self.boards = FakeBoards(self.zone, self.scoring.book.level_thresholds)

    def context(self) -> Context:
        """Return a use-case context over the fakes, its clock reading `now` at each call."""
        assert self.scoring is not None
        return Context(
            producer="leaderboards",
            clock=lambda: self.now,
            ledger=self.ledger,
            people=self.people,
            badges=self.badges,
            inbox=self.inbox,
            pending=self.pending,
            view_tokens=self.view_tokens,
            boards=self.boards,
            scoring=self.scoring,
        )

    def day_of(self, entry: LedgerEntry) -> date:
        """Return the local day an entry counts on."""
        return local_day(entry.occurred_at, self.zone)
