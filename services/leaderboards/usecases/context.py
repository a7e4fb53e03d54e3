"""What every use case of the leaderboards service needs, and the storage it expects (as protocols).

`services.leaderboards.repository` implements the protocols over MongoDB (the ledger, the source of truth)
and Redis (the boards, derived from it); the unit tests' in-memory fakes implement them over dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from services.leaderboards.domain.badges import BadgeDefinition, EarnedBadge, Levels
from services.leaderboards.domain.boards import DEFAULT_PERIODS_KEPT, BoardRows, Window
from services.leaderboards.domain.counters import CounterOp
from services.leaderboards.domain.ledger import LedgerEntry, PendingBatch
from services.leaderboards.domain.rules import RuleBook
from services.leaderboards.domain.viewing import ViewGrant
from shared.consumer import Received
from shared.contracts.events import Event
from shared.usecase import UseCaseContext


class Ledger(Protocol):
    """The append-only points ledger, one entry per (event, rule, user): the source of truth."""

    def append(self, entries: Sequence[tuple[LedgerEntry, date]]) -> set[str]:
        """Insert entries (each with its local day), skipping any already recorded; return the keys inserted."""
        ...

    def get(self, key: str) -> LedgerEntry | None: ...

    def for_usage(
        self,
        *,
        user_ids: Sequence[str],
        days: Sequence[date],
        objects: Sequence[str],
        lifetime_rules: Sequence[str],
        excluding_events: Sequence[str],
    ) -> list[LedgerEntry]:
        """Return these users' entries of these days, about these objects, or of these rules (not of these events)."""
        ...

    def of_object(self, user_id: str, rule: str, object_id: str) -> list[LedgerEntry]:
        """Return a user's entries of a rule about an object, reversals included."""
        ...

    def page_for(self, user_id: str, *, limit: int, offset: int) -> list[LedgerEntry]: ...

    def everything(self, batch: int = 1000) -> Iterable[list[LedgerEntry]]: ...


class PendingBatches(Protocol):
    """Batches of entries between the ledger and the boards: what the repair sweep finishes after a crash."""

    def open(self, batch_id: str, entries: Sequence[LedgerEntry], now: datetime) -> None: ...

    def close(self, batch_id: str) -> None: ...

    def holding(self, keys: Sequence[str]) -> list[PendingBatch]: ...

    def stale(self, created_before: datetime, limit: int = 50) -> list[PendingBatch]: ...


class People(Protocol):
    """Learners' cohorts as events last named them."""

    def note(self, cohorts: Mapping[str, Sequence[str]]) -> None: ...

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, tuple[str, ...]]: ...


class Inbox(Protocol):
    """The events received, each once, in arrival order (what a replay under new rules works from)."""

    def record(self, events: Sequence[Received], received_at: datetime) -> set[str]:
        """Keep these events; return the ids of those kept before."""
        ...

    def in_order(self, batch: int = 1000) -> Iterable[list[Received]]: ...


class Badges(Protocol):
    """Earned badge tiers, each once."""

    def add_many(self, earned: Sequence[EarnedBadge]) -> int: ...

    def of_users(self, user_ids: Sequence[str]) -> list[EarnedBadge]: ...


class Boards(Protocol):
    """The state derived from the ledger in Redis: boards, balances, counters, pages, marks and the stream.

    Applying an entry twice changes nothing.
    """

    def apply(
        self,
        entries: Sequence[LedgerEntry],
        *,
        publish: bool = True,
        counters: Mapping[str, Sequence[CounterOp]] | None = None,
    ) -> int: ...

    def counters(self, logical_keys: Sequence[str]) -> dict[str, dict[str, int]]: ...

    def evidence(self, logical_keys: Sequence[str]) -> dict[str, list[str]]: ...

    def processed(self, event_ids: Sequence[str]) -> set[str]: ...

    def mark_processed(self, event_ids: Sequence[str]) -> None: ...

    def published(self, message_keys: Sequence[str]) -> set[str]: ...

    def page(self, board: str, window: Window, period: str, *, limit: int, offset: int) -> BoardRows: ...

    def around(
        self, board: str, window: Window, period: str, user_ids: Sequence[str], *, around: int
    ) -> list[BoardRows | None]: ...

    def rendered_page(self, board: str, window: Window, period: str, limit: int) -> bytes | None:
        """Return a board's first page as rendered JSON, if rendered since the board last changed."""
        ...

    def render_pages(self, keys: Iterable[tuple[str, Window, str]]) -> dict[tuple[str, Window, str, int], bytes]:
        """Render these boards' first pages at every kept size and keep them; return them."""
        ...

    def balance(self, user_id: str) -> tuple[int, int]: ...

    def recent_points(self, user_id: str) -> tuple[int, int, list[bytes]]:
        """Return a learner's balance, entry count and newest entries rendered (`render_entry`), newest first."""
        ...

    def publish_once(self, messages: Iterable[tuple[str, Event]]) -> int: ...

    def latest_announcement(self) -> str:
        """Return the id of the stream's newest message."""
        ...

    def announcements_after(self, last_id: str, *, block_ms: int, count: int = 100) -> list[tuple[str, Event]]:
        """Return the stream's messages after `last_id`, waiting up to `block_ms` for one."""
        ...

    def clear(self) -> int: ...


class ViewTokens(Protocol):
    """Read-only tokens for classroom screens, one board each."""

    def mint(self, board: str, granted_by: str, now: datetime, lifetime: timedelta) -> ViewGrant: ...

    def find(self, token: str) -> ViewGrant | None: ...


@dataclass(frozen=True)
class Scoring:
    """The rules in force, the badges, the level curve, the time zone and how many past periods are kept."""

    book: RuleBook
    badges: tuple[BadgeDefinition, ...] = ()
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    periods_kept: int = DEFAULT_PERIODS_KEPT

    @property
    def levels(self) -> Levels:
        """Return the level curve."""
        return Levels(self.book.level_thresholds)


@dataclass
class Context(UseCaseContext):
    """What the leaderboards use cases need: storage, the scoring, and one writer at a time."""

    ledger: Ledger = field(kw_only=True)
    people: People = field(kw_only=True)
    badges: Badges = field(kw_only=True)
    inbox: Inbox = field(kw_only=True)
    pending: PendingBatches = field(kw_only=True)
    view_tokens: ViewTokens = field(kw_only=True)
    boards: Boards = field(kw_only=True)
    scoring: Scoring = field(kw_only=True)
    # Held while a batch is worked out and recorded: caps are counted over the ledger, so one writer at a time.
    exclusive: Callable[[], AbstractContextManager[object]] = field(default=nullcontext, kw_only=True)
