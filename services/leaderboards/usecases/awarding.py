"""How points are created: events worked out under the rule book, staff awards and reversals, and badges.

Every path ends in `record_entries`: one bulk write to the ledger (keyed, so a repeat adds nothing), then the
stored entries onto the boards (marked in Redis, so a repeat changes nothing there either), then badges.
A crash between the steps leaves entries marked unapplied, which RQ's retry of the job or the repair sweep
finishes; nothing is lost and nothing counts twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import structlog

from services.leaderboards.domain.badges import EarnedBadge, progress
from services.leaderboards.domain.boards import Window, boards_for, entry_board_periods
from services.leaderboards.domain.ledger import (
    MAX_MANUAL_POINTS,
    Category,
    LedgerEntry,
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
from services.leaderboards.usecases.context import Context
from shared.consumer import Received
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType
from shared.domain import Forbidden, InvalidField, InvalidState, NotFound
from shared.faults import crash_point
from shared.ids import new_id

log = structlog.get_logger(__name__)


def apply_events(events: Sequence[Received], *, context: Context) -> int:
    """Work out and record the awards of a batch of events, in order; return how many entries were new.

    Caps are counted over the ledger without the batch's own events, then the batch's entries are worked
    out one event after the other, so a batch delivered again (after a crash at any point) works out the
    same entries and the keys already stored are kept as they are.
    """
    if not events:
        return 0
    scoring = context.scoring
    with context.exclusive():
        now = context.clock()
        processed = context.inbox.record(events, now)
        crash_point("leaderboards.after_inbox_write")
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
        context.people.note(_cohorts_named(events), {})
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
        context.inbox.mark_processed(batch_ids)
        return new


def _cohorts_named(events: Sequence[Received]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for event, data in events:
        named.update(cohorts_named(event.type, data))
    return named


def _usage(events: Sequence[Received], users: Sequence[str], batch_ids: Sequence[str], context: Context) -> Usage:
    """Return how much of each cap the batch's beneficiaries used before it, from the ledger."""
    scoring = context.scoring
    usage = Usage()
    if not users:
        return usage
    days = sorted({local_day(event.occurred_at, scoring.zone) for event, _ in events})
    capped_objects = {rule.object for rule in scoring.book.rules if rule.caps.per_object is not None}
    objects = sorted(
        {str(data[name]) for _, data in events for name in capped_objects if isinstance(data.get(name), str)}
    )
    lifetime = [rule.name for rule in scoring.book.rules if rule.caps.lifetime is not None]
    for entry in context.ledger.for_usage(
        user_ids=users, days=days, objects=objects, lifetime_rules=lifetime, excluding_events=batch_ids
    ):
        usage.count(entry, scoring.zone)
    return usage


def _standing_awards(entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    """Return the awards no reversal took back (reversals themselves excluded), with points."""
    reversed_keys = {entry.reverses for entry in entries if entry.reverses}
    return [entry for entry in entries if not entry.reverses and entry.key not in reversed_keys and entry.points]


def record_entries(entries: Sequence[LedgerEntry], context: Context) -> int:
    """Append entries, put the stored ones on the boards, mark them, and award the badges they complete.

    Every way points are created ends here; the caller holds the writer lock.
    """
    if not entries:
        return 0
    zone = context.scoring.zone
    unique = list({entry.key: entry for entry in entries}.values())
    new = context.ledger.append([(entry, local_day(entry.occurred_at, zone)) for entry in unique])
    crash_point("leaderboards.after_ledger_write")
    keys = [entry.key for entry in unique]
    # In the order they were worked out (a reversal before the award replacing it), not the store's order.
    recorded = {entry.key: entry for entry in context.ledger.get_many(keys)}
    stored = [recorded[key] for key in keys if key in recorded]
    done = context.ledger.applied(keys)
    fresh = [entry for entry in stored if entry.key not in done]
    context.boards.apply(fresh)
    crash_point("leaderboards.after_board_update")
    touched: set[tuple[str, Window, str]] = set()
    for entry in fresh:
        if entry.points:
            touched |= entry_board_periods(entry.boards, entry.occurred_at, zone)
    context.boards.refresh_pages(touched)
    context.ledger.mark_applied(keys)
    earners = [entry for entry in stored if entry.points > 0 and entry.reverses is None]
    active: dict[str, set[date]] = defaultdict(set)
    for entry in earners:
        active[entry.user_id].add(local_day(entry.occurred_at, zone))
    context.people.note({}, active)
    award_badges(sorted(active), {entry.rule for entry in earners}, context=context)
    if new < len(unique):
        log.info("ledger_duplicates_skipped", duplicates=len(unique) - new)
    return new


def award_badges(user_ids: Sequence[str], rules: set[str], *, context: Context) -> int:
    """Record and announce the badge tiers these learners completed; each tier once, ever. Return how many were new.

    Only badges counting one of `rules` (or streaks) can have changed. Every tier earned is announced
    through a marker, so a crash between recording and announcing is finished by the next batch.
    """
    scoring = context.scoring
    definitions = [badge for badge in scoring.badges if badge.streak or badge.rule in rules]
    if not user_ids or not definitions:
        return 0
    now = context.clock()
    counted = sorted({badge.rule for badge in definitions if badge.rule})
    entries_by_user: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in context.ledger.of_users(user_ids, counted) if counted else []:
        entries_by_user[entry.user_id].append(entry)
    days = context.people.active_days(user_ids) if any(badge.streak for badge in definitions) else {}
    earned: list[EarnedBadge] = []
    for user_id in user_ids:
        for definition in definitions:
            state = progress(definition, entries_by_user[user_id], scoring.zone, days.get(user_id, set()))
            for tier, threshold in enumerate(definition.thresholds, start=1):
                if threshold in state.earned_tiers:
                    evidence = state.evidence[threshold]
                    earned.append(EarnedBadge(user_id, definition.name, tier, threshold, now, evidence))
    if not earned:
        return 0
    new = context.badges.add_many(earned)
    crash_point("leaderboards.after_badges_recorded")
    titles = {badge.name: badge.title for badge in scoring.badges}
    context.boards.publish_once((badge.key, _badge_event(badge, titles[badge.badge], context)) for badge in earned)
    return new


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
    """Put ledger entries that a crash kept off the boards onto them; return how many were repaired."""
    repaired = 0
    while True:
        pending = context.ledger.unapplied(context.clock() - grace)
        if not pending:
            return repaired
        with context.exclusive():
            record_entries(pending, context)
        repaired += len(pending)


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
