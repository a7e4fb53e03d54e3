"""Pure rules of the counters kept beside the boards: what each entry adds to caps' usage and badges' progress.

Counting caps and badges over the ledger on every batch reads a learner's history again and again; these
counters are the same sums kept as the entries are applied (derived state, like the boards, rebuilt with
them). Each entry yields counter operations, applied once with the entry (behind its marker):

- `inc`: add `delta` to a field of a counter (`expires_at`: when the counter may go, 0 for never);
- `push`: keep `member` as evidence, the oldest MAX_EVIDENCE by the ledger's order (a negative `delta`
  takes it out again);
- `cross`: add `delta` to a field and, when the field reaches `threshold` (or falls below it), add one to
  (or take one from) the total's field. The field's entries are kept by ledger order (the first
  CROSSING_KEPT per threshold, in `members_key`), and the field's evidence is its `threshold`-th entry in
  that order, whichever entry came last: a rebuild, in the ledger's order, names the same one.

`usage_from` and `badge_value` read them back; a rebuild from the ledger must give them back exactly
(tests/unit/test_leaderboard_rebuild.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.leaderboards.domain.badges import MAX_EVIDENCE, BadgeDefinition, longest_run
from services.leaderboards.domain.ledger import Category, LedgerEntry
from services.leaderboards.domain.rules import RuleBook, Usage, local_day

# A day's usage is kept this long after the day ends (a late event counts against its own day's caps);
# an event older than that is counted from the ledger instead.
DAY_COUNTERS_KEPT = timedelta(days=35)
# How many of an object's or label's first entries a `cross` keeps, per unit of its threshold: enough that
# its threshold-th stays known though staff take back some of the first ones.
CROSSING_KEPT = 2
ACTIVITY_FIELD = "*activity"


@dataclass(frozen=True)
class CounterOp:
    """One change to a counter, applied with the entry it comes from."""

    kind: str
    key: str
    field: str = ""
    delta: int = 0
    threshold: int = 0
    total_key: str = ""
    total_field: str = ""
    evidence_key: str = ""
    member: str = ""
    expires_at: int = 0
    # `cross`: where the field's first entries are kept in ledger order (its evidence is among them).
    members_key: str = ""


def day_counter(user_id: str, day: date) -> str:
    """Return the counter of a learner's awards per rule and activity points on one day."""
    return f"day:{user_id}:{day.isoformat()}"


def object_counter(user_id: str, rule: str) -> str:
    """Return the counter of a learner's awards of one rule per object."""
    return f"object:{user_id}:{rule}"


def lifetime_counter(user_id: str) -> str:
    """Return the counter of a learner's awards per rule, in all."""
    return f"lifetime:{user_id}"


def badge_counter(user_id: str) -> str:
    """Return the counter of a learner's progress on every badge."""
    return f"badge:{user_id}"


def badge_detail_counter(user_id: str, badge: str) -> str:
    """Return the counter of a badge's objects or labels (entries per object or label)."""
    return f"badge:{user_id}:{badge}:detail"


def badge_members_counter(user_id: str, badge: str, field: str) -> str:
    """Return the set of the first entries of one of a badge's objects or labels, by ledger order."""
    return f"badge:{user_id}:{badge}:members:{field}"


def evidence_list(user_id: str, badge: str) -> str:
    """Return the set of the entries that count toward a badge, by their ledger order (`ledger_order`).

    (`...:evidence` held a list in arrival order before; a rebuild clears such keys.)
    """
    return f"badge:{user_id}:{badge}:earned"


def days_counter(user_id: str) -> str:
    """Return the counter of the entries a learner earned points by, per day (for streaks)."""
    return f"days:{user_id}"


def _day_expiry(day: date, zone: ZoneInfo) -> int:
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return int((end + DAY_COUNTERS_KEPT).timestamp())


def usage_ops(entry: LedgerEntry, book: RuleBook, zone: ZoneInfo) -> list[CounterOp]:
    """Return what an entry adds to its learner's caps' usage, as `Usage.count` counts it."""
    day = local_day(entry.occurred_at, zone)
    expiry = _day_expiry(day, zone)
    ops: list[CounterOp] = []
    step = -1 if entry.reverses else 1
    rule = next((candidate for candidate in book.rules if candidate.name == entry.rule), None)
    if entry.points > 0 or (entry.reverses and entry.points < 0):
        ops.append(CounterOp("inc", day_counter(entry.user_id, day), entry.rule, step, expires_at=expiry))
        if entry.object_id is not None and rule is not None and rule.caps.per_object is not None:
            ops.append(CounterOp("inc", object_counter(entry.user_id, entry.rule), entry.object_id, step))
        if rule is not None and rule.caps.lifetime is not None:
            ops.append(CounterOp("inc", lifetime_counter(entry.user_id), entry.rule, step))
    if entry.category == Category.ACTIVITY and entry.points:
        day_key = day_counter(entry.user_id, day)
        ops.append(CounterOp("inc", day_key, ACTIVITY_FIELD, entry.points, expires_at=expiry))
    return ops


def badge_ops(entry: LedgerEntry, badges: Sequence[BadgeDefinition], zone: ZoneInfo) -> list[CounterOp]:
    """Return what an entry adds to its learner's badges (a reversal takes its entry's share back)."""
    step = -1 if entry.reverses else 1
    member = entry.reverses or entry.key
    user = entry.user_id
    ops: list[CounterOp] = []
    for badge in badges:
        if badge.streak:
            if entry.points > 0 and entry.reverses is None:
                ops.append(CounterOp("inc", days_counter(user), local_day(entry.occurred_at, zone).isoformat(), 1))
            continue
        if badge.rule != entry.rule or (badge.adjustment is not None and badge.adjustment not in entry.adjustments):
            continue
        total, evidence = badge_counter(user), evidence_list(user, badge.name)
        if badge.objects_with_at_least is not None:
            if entry.object_id is not None:
                ops.append(
                    _cross(
                        badge, user, entry.object_id, step=step, threshold=badge.objects_with_at_least, member=member
                    )
                )
            continue
        if badge.distinct_labels:
            ops += [
                _cross(badge, user, label, step=step, threshold=1, member=member)
                for label in dict.fromkeys(entry.labels)
            ]
            continue
        ops.append(CounterOp("inc", total, badge.name, step))
        if badge.mean_points_at_least is not None:
            ops.append(CounterOp("inc", total, f"{badge.name}:points", entry.points))
        ops.append(CounterOp("push", evidence, delta=step, member=member))
    return ops


def _cross(badge: BadgeDefinition, user: str, field: str, *, step: int, threshold: int, member: str) -> CounterOp:
    return CounterOp(
        "cross",
        badge_detail_counter(user, badge.name),
        field,
        step,
        threshold=threshold,
        total_key=badge_counter(user),
        total_field=badge.name,
        evidence_key=evidence_list(user, badge.name),
        member=member,
        members_key=badge_members_counter(user, badge.name, field),
    )


def usage_keys(user_ids: Iterable[str], days: Iterable[date], book: RuleBook) -> list[str]:
    """Return the counters a batch's caps are counted from."""
    keys: list[str] = []
    per_object = [rule.name for rule in book.rules if rule.caps.per_object is not None]
    lifetime = any(rule.caps.lifetime is not None for rule in book.rules)
    for user in user_ids:
        keys += [day_counter(user, day) for day in days]
        keys += [object_counter(user, rule) for rule in per_object]
        if lifetime:
            keys.append(lifetime_counter(user))
    return keys


def usage_from(counters: Mapping[str, Mapping[str, int]], user_ids: Iterable[str], days: Iterable[date]) -> Usage:
    """Return the caps' usage these counters hold for these learners and days."""
    usage = Usage()
    for user in user_ids:
        for day in days:
            for field, value in counters.get(day_counter(user, day), {}).items():
                if field == ACTIVITY_FIELD:
                    usage.activity_points[(user, day)] += value
                else:
                    usage.per_day[(user, field, day)] += value
        for key, fields in counters.items():
            prefix = f"object:{user}:"
            if key.startswith(prefix):
                for object_id, value in fields.items():
                    usage.per_object[(user, key[len(prefix) :], object_id)] += value
        for rule, value in counters.get(lifetime_counter(user), {}).items():
            usage.lifetime[(user, rule)] += value
    return usage


def badge_value(badge: BadgeDefinition, counters: Mapping[str, int], days: Iterable[date] = ()) -> int:
    """Return a learner's count toward a badge from their badge counter (and active days, for a streak)."""
    if badge.streak:
        return len(longest_run(days))
    value = counters.get(badge.name, 0)
    mean = counters.get(f"{badge.name}:points", 0) / value if value else 0.0
    if badge.mean_points_at_least is not None and value and mean < badge.mean_points_at_least:
        return 0
    return value


def evidence_for(
    badge: BadgeDefinition, threshold: int, listed: Sequence[str], days: Iterable[date] = ()
) -> tuple[str, ...]:
    """Return a tier's evidence: the first entries counted (for a streak, the days of its longest run)."""
    if badge.streak:
        return tuple(day.isoformat() for day in longest_run(days))[: min(threshold, MAX_EVIDENCE)]
    return tuple(listed[: min(threshold, MAX_EVIDENCE)])
