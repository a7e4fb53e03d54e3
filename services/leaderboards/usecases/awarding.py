"""How points are created: events worked out under the rule book, staff awards and reversals, and badges.

Every path ends in `record_entries`: the batch is noted as pending, written to the ledger in one bulk write
(keyed, so a repeat adds nothing), put on the boards with its counters (marked in Redis, so a repeat
changes nothing there either), badges are worked out, and the pending note is dropped. A crash between
the steps leaves the pending note, which the repair sweep (or a repeat of the same entries) finishes;
nothing is lost and nothing counts twice.

On the hot path MongoDB is only written to (the inbox, the pending note, the ledger): caps' usage,
badges' progress and learners' cohorts are read from Redis, where they are kept with the boards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from services.leaderboards.domain.badges import BadgeDefinition, EarnedBadge
from services.leaderboards.domain.boards import boards_for
from services.leaderboards.domain.counters import (
    DAY_COUNTERS_KEPT,
    CounterOp,
    badge_counter,
    badge_ops,
    badge_value,
    days_counter,
    evidence_for,
    evidence_list,
    usage_from,
    usage_keys,
    usage_ops,
)
from services.leaderboards.domain.ledger import (
    MAX_MANUAL_POINTS,
    Category,
    LedgerEntry,
    PendingBatch,
    reversal_of,
    stream_event_id,
)
from services.leaderboards.domain.rules import (
    MAX_REASON,
    EventFacts,
    Usage,
    beneficiaries,
    cohorts_named,
    evaluate,
    local_day,
)
from services.leaderboards.usecases.context import Context, Scoring
from shared.consumer import Received
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound
from shared.faults import crash_point
from shared.ids import new_id

log = structlog.get_logger(__name__)


def apply_events(events: Sequence[Received], *, context: Context) -> int:
    """Work out and record the awards of a batch of events, in order; return how many entries were new.

    Caps are counted from the counters kept with the boards, then the batch's entries are worked out one
    event after the other. A batch delivered again finds its entries' keys stored and keeps them as they
    were; an event marked processed is skipped at once.
    """
    if not events:
        return 0
    scoring = context.scoring
    with context.exclusive():
        now = context.clock()
        again = context.inbox.record(events, now)
        crash_point("leaderboards.after_inbox_write")
        processed = context.boards.processed(sorted(again)) if again else set()
        # An event twice in one batch is worked out once, where it first came: a second time would count
        # against its own caps (and a replacing rule would take back its own award).
        fresh: dict[str, Received] = {}
        for event, data in events:
            if event.id not in processed:
                fresh.setdefault(event.id, (event, data))
        events = list(fresh.values())
        if not events:
            log.info("events_already_processed", count=len(processed))
            return 0
        batch_ids = [event.id for event, _ in events]
        context.people.note(_cohorts_named(events))
        users = sorted({user for event, data in events for user in beneficiaries(scoring.book, event.type, data)})
        cohorts = context.people.cohorts_of(users)
        usage = _usage(events, users, batch_ids, context)
        produced: list[LedgerEntry] = []
        batch = set(batch_ids)

        def earlier(user_id: str, rule: str, object_id: str) -> list[LedgerEntry]:
            stored = [
                entry for entry in context.ledger.of_object(user_id, rule, object_id) if entry.event_id not in batch
            ]
            mine = [e for e in produced if (e.user_id, e.rule, e.object_id) == (user_id, rule, object_id)]
            return _standing_awards([*stored, *mine])

        for event, data in events:
            facts = EventFacts(event.id, event.type, event.occurred_at, now)
            produced += evaluate(
                facts,
                data,
                scoring.book,
                usage,
                scoring.zone,
                cohorts_of=lambda user: cohorts.get(user, ()),
                earlier=earlier,
            )
        new = record_entries(produced, context)
        crash_point("leaderboards.before_inbox_processed")
        context.boards.mark_processed(batch_ids)
        return new


def _cohorts_named(events: Sequence[Received]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for event, data in events:
        named.update(cohorts_named(event.type, data))
    return named


def _usage(events: Sequence[Received], users: Sequence[str], batch_ids: Sequence[str], context: Context) -> Usage:
    """Return how much of each cap the batch's beneficiaries used before it, from the counters.

    A day whose counters are no longer kept (an event that arrived very late) is counted from the ledger.
    """
    scoring = context.scoring
    if not users:
        return Usage()
    today = local_day(context.clock(), scoring.zone)
    days = sorted({local_day(event.occurred_at, scoring.zone) for event, _ in events})
    recent = [day for day in days if today - day < DAY_COUNTERS_KEPT]
    usage = usage_from(context.boards.counters(usage_keys(users, recent, scoring.book)), users, recent)
    old = [day for day in days if day not in recent]
    if old:
        for entry in context.ledger.for_usage(
            user_ids=users, days=old, objects=[], lifetime_rules=[], excluding_events=batch_ids
        ):
            if local_day(entry.occurred_at, scoring.zone) in old:
                _count_day(usage, entry, scoring.zone)
    return usage


def _count_day(usage: Usage, entry: LedgerEntry, zone: ZoneInfo) -> None:
    """Count an entry against its day's caps only (its object and lifetime counts are in the counters)."""
    day = local_day(entry.occurred_at, zone)
    if entry.points > 0 or (entry.reverses and entry.points < 0):
        usage.per_day[(entry.user_id, entry.rule, day)] += -1 if entry.reverses else 1
    if entry.category == Category.ACTIVITY:
        usage.activity_points[(entry.user_id, day)] += entry.points


def counter_ops(entries: Sequence[LedgerEntry], scoring: Scoring) -> dict[str, list[CounterOp]]:
    """Return what each entry adds to the caps' usage and the badges' progress, by entry key."""
    return {
        entry.key: usage_ops(entry, scoring.book, scoring.zone) + badge_ops(entry, scoring.badges, scoring.zone)
        for entry in entries
    }


def _standing_awards(entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    """Return the awards no reversal took back (reversals themselves excluded), with points."""
    reversed_keys = {entry.reverses for entry in entries if entry.reverses}
    return [entry for entry in entries if not entry.reverses and entry.key not in reversed_keys and entry.points]


def record_entries(entries: Sequence[LedgerEntry], context: Context) -> int:
    """Record entries in the ledger and put those new to it on the boards, with badges; return how many were new.

    Every way points are created ends here; the caller holds the writer lock. Entries the ledger held
    already are put on the boards only if a pending batch still holds them (a crash interrupted it), so an
    entry counts on the boards once, whoever records it again.
    """
    if not entries:
        return 0
    zone = context.scoring.zone
    unique = [replace(entry, position=place) for place, entry in enumerate({e.key: e for e in entries}.values())]
    batch_id = new_id()
    context.pending.open(batch_id, unique, context.clock())
    inserted = context.ledger.append([(entry, local_day(entry.occurred_at, zone)) for entry in unique])
    crash_point("leaderboards.after_ledger_write")
    fresh = [entry for entry in unique if entry.key in inserted]
    repeated = [entry.key for entry in unique if entry.key not in inserted]
    interrupted = [batch for batch in context.pending.holding(repeated) if batch.batch_id != batch_id]
    if repeated:
        log.info("ledger_duplicates_skipped", duplicates=len(repeated), interrupted_batches=len(interrupted))
    _finish([*fresh, *_recorded(interrupted, context)], context)
    for batch in interrupted:
        context.pending.close(batch.batch_id)
    context.pending.close(batch_id)
    return len(fresh)


def _recorded(batches: Sequence[PendingBatch], context: Context) -> list[LedgerEntry]:
    """Return the entries of interrupted batches that the ledger holds as they were written then (as stored)."""
    entries: list[LedgerEntry] = []
    for batch in batches:
        for entry in batch.entries:
            stored = context.ledger.get(entry.key)
            # Kept as stored: it carries its place in the write (`position`, which equality leaves out).
            if stored is not None and stored == entry:
                entries.append(stored)
    return entries


def _finish(entries: Sequence[LedgerEntry], context: Context) -> None:
    """Put entries on the boards with their counters (the pages they touch go stale), and award badges."""
    if not entries:
        return
    scoring = context.scoring
    context.boards.apply(entries, counters=counter_ops(entries, scoring))
    crash_point("leaderboards.after_board_update")
    award_badges(sorted({entry.user_id for entry in entries}), {entry.rule for entry in entries}, context=context)


def award_badges(user_ids: Sequence[str], rules: set[str], *, context: Context) -> int:
    """Record and announce the badge tiers these learners reached; each tier once, ever. Return how many were new.

    Only badges counting one of `rules` (or streaks) can have changed; their progress is read from the
    counters. A tier is announced through a marker, so a crash between recording and announcing is
    finished the next time the learner's badges are looked at.
    """
    scoring = context.scoring
    definitions = [badge for badge in scoring.badges if badge.streak or badge.rule in rules]
    if not user_ids or not definitions:
        return 0
    streaks = any(badge.streak for badge in definitions)
    keys = [badge_counter(user) for user in user_ids] + ([days_counter(user) for user in user_ids] if streaks else [])
    counters = context.boards.counters(keys)
    reached: list[tuple[str, BadgeDefinition, int, int]] = []
    for user_id in user_ids:
        days = _active_days(counters.get(days_counter(user_id), {}))
        for definition in definitions:
            value = badge_value(definition, counters.get(badge_counter(user_id), {}), days)
            for tier, threshold in enumerate(definition.thresholds, start=1):
                if value >= threshold:
                    reached.append((user_id, definition, tier, threshold))
    keys_of = {(user, badge.name, tier): f"{user}:{badge.name}:{tier}" for user, badge, tier, _ in reached}
    done = context.boards.published(list(keys_of.values()))
    new_tiers = [item for item in reached if keys_of[(item[0], item[1].name, item[2])] not in done]
    if not new_tiers:
        return 0
    listed = context.boards.evidence(sorted({evidence_list(user, badge.name) for user, badge, _, _ in new_tiers}))
    now = context.clock()
    earned = [
        EarnedBadge(
            user,
            badge.name,
            tier,
            threshold,
            now,
            evidence_for(
                badge,
                threshold,
                listed.get(evidence_list(user, badge.name), []),
                _active_days(counters.get(days_counter(user), {})),
            ),
        )
        for user, badge, tier, threshold in new_tiers
    ]
    new = context.badges.add_many(earned)
    crash_point("leaderboards.after_badges_recorded")
    titles = {badge.name: badge.title for badge in scoring.badges}
    context.boards.publish_once((badge.key, _badge_event(badge, titles[badge.badge], context)) for badge in earned)
    return new


def _active_days(counted: Mapping[str, int]) -> set[date]:
    return {date.fromisoformat(day) for day, count in counted.items() if count > 0}


def _badge_event(badge: EarnedBadge, title: str, context: Context) -> Event:
    event = context.event(
        EventType.BADGE_EARNED,
        None,
        {
            "user_id": badge.user_id,
            "badge": badge.badge,
            "title": title,
            "tier": badge.tier,
            "threshold": badge.threshold,
            "evidence": list(badge.evidence),
        },
        badge.earned_at,
    )
    return Event(
        type=event.type,
        producer=event.producer,
        actor_id=None,
        data=event.data,
        id=stream_event_id(f"badge:{badge.key}"),
        occurred_at=event.occurred_at,
    )


def repair_boards(*, context: Context, grace: timedelta = timedelta(seconds=30)) -> int:
    """Finish the batches a crash interrupted (still pending after `grace`); return how many entries were repaired."""
    repaired = 0
    for _ in range(1000):  # bounded: each round closes the batches it found
        with context.exclusive():
            batches = context.pending.stale(context.clock() - grace)
            if not batches:
                return repaired
            entries = _recorded(batches, context)
            _finish(entries, context)
            for batch in batches:
                context.pending.close(batch.batch_id)
        repaired += len(entries)
        if entries:
            log.info("boards_repaired", entries=len(entries), batches=len(batches))
    return repaired


def award(
    fields: Mapping[str, Any], *, actor: Principal, context: Context, idempotency_key: str | None = None
) -> LedgerEntry:
    """Record a staff award (or deduction) with its reason, on the boards it names; returns the entry.

    A teacher awards learners of their own cohorts only, never themselves; an admin anyone. With an
    idempotency key, a retried request answers with the entry the first one made.
    """
    if not actor.is_staff:
        raise Forbidden("Only teachers and admins award points")
    user_id: str = fields["user_id"]
    if user_id == actor.user_id:
        raise Forbidden("Nobody awards points to themselves")
    cohorts = tuple(fields.get("cohorts") or ())
    if not actor.is_admin:
        _check_teacher_reaches(actor, user_id, cohorts, context)
    points: int = fields["points"]
    if points == 0 or abs(points) > MAX_MANUAL_POINTS:
        raise InvalidField("points", f"An award is between -{MAX_MANUAL_POINTS} and {MAX_MANUAL_POINTS}, not 0")
    award_id = f"{actor.user_id}:{idempotency_key}" if idempotency_key else new_id()
    now = context.clock()
    entry = LedgerEntry(
        key=f"award:{award_id}",
        user_id=user_id,
        points=points,
        rule="manual",
        reason=str(fields["reason"])[:MAX_REASON],
        event_id=f"award:{award_id}",
        event_type="manual",
        boards=boards_for(list(cohorts), fields.get("challenge_id"), list(fields.get("tags") or ())),
        occurred_at=now,
        created_at=now,
        rule_version=context.scoring.book.version,
        category=Category.MANUAL,
        actor_id=actor.user_id,
    )
    with context.exclusive():
        existing = context.ledger.get(entry.key) if idempotency_key else None
        if existing is not None and (existing.user_id, existing.points, existing.reason, existing.boards) != (
            entry.user_id,
            entry.points,
            entry.reason,
            entry.boards,
        ):
            raise InvalidState(
                "This Idempotency-Key was used for another award; use a new key for a new award",
                existing_key=existing.key,
            )
        # A retry records nothing new, and finishes what a crash may have left (the boards, the badges).
        record_entries([entry], context)
    stored = context.ledger.get(entry.key)
    assert stored is not None
    return stored


def reverse(entry_key: str, reason: str, *, actor: Principal, context: Context) -> LedgerEntry:
    """Take an entry back with a reason, by a reversal entry on the same boards; an entry is reversed once."""
    if not actor.is_staff:
        raise Forbidden("Only teachers and admins reverse points")
    entry = context.ledger.get(entry_key)
    if entry is None:
        raise NotFound(f"No ledger entry with key {entry_key}")
    if not actor.is_admin and not (
        entry.actor_id == actor.user_id or set(entry.boards) & {f"cohort:{cohort}" for cohort in actor.cohorts}
    ):
        raise Forbidden("A teacher reverses entries on their cohorts' boards, or awards they made")
    if entry.reverses is not None:
        raise InvalidState("A reversal is not reversed; award the points again instead")
    now = context.clock()
    # The reversal counts when the entry did: last week's board loses last week's points.
    reversal = reversal_of(
        entry,
        reason=reason[:MAX_REASON],
        event_id=f"reversal:{entry.key}",
        event_type="manual",
        occurred_at=entry.occurred_at,
        now=now,
        actor_id=actor.user_id,
    )
    with context.exclusive():
        if context.ledger.get(reversal.key) is not None:
            raise InvalidState("This entry was reversed already", existing_key=reversal.key)
        record_entries([reversal], context)
    stored = context.ledger.get(reversal.key)
    assert stored is not None
    return stored


def _check_teacher_reaches(actor: Principal, user_id: str, cohorts: Sequence[str], context: Context) -> None:
    foreign = sorted(set(cohorts) - set(actor.cohorts))
    if foreign:
        raise Forbidden(f"A teacher places awards on their own cohorts' boards only, not {', '.join(foreign)}")
    learner_cohorts = context.people.cohorts_of([user_id]).get(user_id, ())
    if not set(learner_cohorts) & set(actor.cohorts):
        raise Forbidden("A teacher awards learners of their own cohorts only")
