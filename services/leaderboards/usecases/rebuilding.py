"""Operators' tools over the ledger: rebuild every board from it, and replay the events under new rules.

A rebuild clears the derived state in Redis (boards, balances, levels, markers) and puts every ledger
entry back, announcing nothing. A replay works out every received event again under another rule book,
compares with what the ledger holds, and reports the difference per learner; applied, it corrects the
ledger the only way the ledger is corrected: a reversal of what changed and a new entry of the new points.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.leaderboards.domain.ledger import Category, LedgerEntry, reversal_of
from services.leaderboards.domain.rules import MAX_REASON, EventFacts, Usage, beneficiaries, evaluate
from services.leaderboards.usecases.awarding import counter_ops, record_entries
from services.leaderboards.usecases.context import Context, Scoring

_PREFIXES = re.compile(r"^(?:reversal:|replay:v\d+:)+")


def origin_key(key: str) -> str:
    """Return the key of the award an entry stands for: reversals and replays name the award they correct."""
    return _PREFIXES.sub("", key)


def _keep_alive(held: object) -> None:
    """Extend a held lock, if it is one (a rebuild or replay may outlast the lock's expiry)."""
    reacquire = getattr(held, "reacquire", None)
    if callable(reacquire):
        reacquire()


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    entries: int
    keys_removed: int


def rebuild_boards(*, context: Context, progress: Callable[[int], None] = lambda _count: None) -> RebuildReport:
    """Rebuild every board, window, balance and level from the ledger; announces nothing on the stream.

    The writer lock is held throughout, so the worker waits (and RQ retries its job) meanwhile.
    """
    entries = 0
    with context.exclusive() as held:
        # A page a reader renders of a board half rebuilt is marked with a version the next change passes.
        removed = context.boards.clear()
        for chunk in context.ledger.everything():
            context.boards.apply(chunk, publish=False, counters=counter_ops(chunk, context.scoring))
            entries += len(chunk)
            progress(len(chunk))
            _keep_alive(held)
    return RebuildReport(entries=entries, keys_removed=removed)


@dataclass(frozen=True)
class Change:
    """One award the new rules would make differently: its key, rule, points before and after, and why."""

    key: str
    user_id: str
    rule: str
    before: int
    after: int
    reason: str


@dataclass
class ReplayReport:
    """What a new rule book would change, per learner, and what was written if it was applied."""

    version: int
    events: int
    changes: list[Change] = field(default_factory=list)
    written: int = 0

    def per_learner(self) -> dict[str, tuple[int, list[Change]]]:
        """Return each learner's change of balance and the awards behind it."""
        grouped: dict[str, list[Change]] = defaultdict(list)
        for change in self.changes:
            grouped[change.user_id].append(change)
        return {
            user_id: (sum(change.after - change.before for change in changes), changes)
            for user_id, changes in sorted(grouped.items())
        }


@dataclass
class _LedgerState:
    """The ledger as a replay compares it: points per award, the entries standing for each, staff's awards."""

    points: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    standing: dict[str, list[LedgerEntry]] = field(default_factory=lambda: defaultdict(list))
    reversed_keys: set[str] = field(default_factory=set)
    first: dict[str, LedgerEntry] = field(default_factory=dict)
    # Awards staff made or corrected stay as staff left them.
    staff_decided: set[str] = field(default_factory=set)


def _ledger_state(context: Context, held: object) -> _LedgerState:
    state = _LedgerState()
    for chunk in context.ledger.everything():
        for entry in chunk:
            origin = origin_key(entry.key)
            if entry.category == Category.MANUAL or entry.actor_id is not None:
                state.staff_decided.add(origin)
            state.points[origin] += entry.points
            state.first.setdefault(origin, entry)
            if entry.reverses:
                state.reversed_keys.add(entry.reverses)
            else:
                state.standing[origin].append(entry)
        _keep_alive(held)
    return state


def _corrections(
    origin: str, state: _LedgerState, made: dict[str, LedgerEntry], version: int, now: datetime
) -> list[LedgerEntry]:
    """Return the reversals of what stands for an award and, if the new rules make it, its new entry."""
    corrections = [
        reversal_of(
            entry,
            reason=f"Rules version {version}: {entry.reason}"[:MAX_REASON],
            event_id=f"replay:v{version}",
            event_type="replay",
            occurred_at=entry.occurred_at,
            now=now,
            actor_id=None,
        )
        for entry in state.standing.get(origin, ())
        if entry.key not in state.reversed_keys and entry.points
    ]
    award = made.get(origin)
    if award is not None and award.points:
        corrections.append(
            replace(
                award,
                key=f"replay:v{version}:{origin}",
                reason=f"{award.reason} (rules version {version})"[:MAX_REASON],
                created_at=now,
            )
        )
    return corrections


def replay(
    scoring: Scoring,
    *,
    context: Context,
    apply: bool = False,
    progress: Callable[[int], None] = lambda _count: None,
) -> ReplayReport:
    """Work out every received event again under `scoring`, report the changes, and apply them if asked.

    Staff awards and what staff corrected are left as they are. Events are worked out in arrival order with
    caps counted among themselves, as the worker would have counted them; learners' cohorts are their current
    ones.
    """
    version = scoring.book.version
    with context.exclusive() as held:
        produced, events = _evaluate_all(scoring, context, progress, held)
        now = context.clock()
        after: dict[str, int] = defaultdict(int)
        made: dict[str, LedgerEntry] = {}
        for entry in produced:
            after[origin_key(entry.key)] += entry.points
            if entry.reverses is None:
                made[entry.key] = entry
        state = _ledger_state(context, held)
        report = ReplayReport(version=version, events=events)
        corrections: list[LedgerEntry] = []
        for origin in sorted((set(state.points) | set(after)) - state.staff_decided):
            old, new = state.points.get(origin, 0), after.get(origin, 0)
            if old == new:
                continue
            model = made.get(origin) or state.first[origin]
            reason = made[origin].reason if origin in made else "No longer awarded by the rules in force"
            report.changes.append(Change(origin, model.user_id, model.rule, old, new, reason))
            if apply:
                corrections += _corrections(origin, state, made, version, now)
        for start in range(0, len(corrections), 500):
            report.written += record_entries(corrections[start : start + 500], context)
            _keep_alive(held)
    return report


def _evaluate_all(
    scoring: Scoring, context: Context, progress: Callable[[int], None], held: object
) -> tuple[list[LedgerEntry], int]:
    """Return the entries every received event earns under `scoring`, worked out in arrival order."""
    usage = Usage()
    produced: list[LedgerEntry] = []
    by_object: dict[tuple[str, str, str], list[LedgerEntry]] = defaultdict(list)
    events = 0
    now = context.clock()

    def earlier(user_id: str, rule: str, object_id: str) -> list[LedgerEntry]:
        entries = by_object[(user_id, rule, object_id)]
        reversed_keys = {entry.reverses for entry in entries if entry.reverses}
        return [e for e in entries if not e.reverses and e.key not in reversed_keys and e.points]

    for chunk in context.inbox.in_order():
        users = sorted({user for event, data in chunk for user in beneficiaries(scoring.book, event.type, data)})
        cohorts = context.people.cohorts_of(users)

        def cohorts_of(user: str, known: dict[str, tuple[str, ...]] = cohorts) -> tuple[str, ...]:
            return known.get(user, ())

        for event, data in chunk:
            facts = EventFacts(event.id, event.type, event.occurred_at, now)
            entries = evaluate(
                facts,
                data,
                scoring.book,
                usage,
                scoring.zone,
                cohorts_of=cohorts_of,
                earlier=earlier,
            )
            for entry in entries:
                if entry.object_id is not None:
                    by_object[(entry.user_id, entry.rule, entry.object_id)].append(entry)
            produced += entries
            events += 1
        progress(len(chunk))
        _keep_alive(held)
    return produced, events
