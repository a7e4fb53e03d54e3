"""Pure rules of points: the rule book (data, loaded from a file) and how an event's awards are worked out.

`evaluate` turns one event into ledger entries under a rule book, given how much of each cap its
beneficiaries have used (`Usage`). It is deterministic: the same events in the same order over the same
usage give the same entries, which is what lets a batch be replayed and the boards be rebuilt.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.leaderboards.domain.boards import boards_for
from services.leaderboards.domain.ledger import Category, LedgerEntry, ledger_key, reversal_of
from shared.contracts.vocabulary import MAX_CHALLENGE_RULE_POINTS, rule_points_map

MAX_REASON = 200


class InvalidRules(ValueError):
    """A rule book that cannot be used; the message names the rule and what is wrong."""


@dataclass(frozen=True)
class Condition:
    """A rule applies only when a field of the event's data equals a value, or is at least a number."""

    field: str
    equals: Any = None
    at_least: float | None = None

    def holds(self, data: Mapping[str, Any]) -> bool:
        """Return whether the event's data meets the condition."""
        value = data.get(self.field)
        if self.at_least is not None:
            return isinstance(value, int | float) and not isinstance(value, bool) and value >= self.at_least
        return bool(value == self.equals)


@dataclass(frozen=True)
class Adjustment:
    """When a field has a value, the award is multiplied (`factor`) or added to (`points`)."""

    field: str
    equals: Any
    factor: float | None = None
    points: int = 0
    note: str = ""


@dataclass(frozen=True)
class Caps:
    """How many awards of a rule a beneficiary may get: per day, per object, in all (None: no limit)."""

    per_day: int | None = None
    per_object: int | None = None
    lifetime: int | None = None


@dataclass(frozen=True)
class Rule:
    """One way to earn points."""

    name: str
    event: str
    beneficiary: str
    object: str
    reason: str
    points: int = 0
    # The points come from this field of the data instead (a challenge's points).
    points_from: str | None = None
    # The points are multiplied by this field of the data (a grade, an accuracy; 0 to 1).
    scale: str | None = None
    # Award every item of this list field (each item merged into the data; "." names a plain value).
    each: str | None = None
    when: tuple[Condition, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    caps: Caps = field(default_factory=Caps)
    category: Category = Category.ACTIVITY
    # A later award of this rule for the same object and beneficiary replaces the earlier one.
    replaces: bool = False
    # Which cohorts' boards the points land on: the event's (the actor's) or the beneficiary's own.
    boards_of: str = "payload"
    # A list field of the data whose values the entry keeps as labels (for badges, e.g. cohorts reviewed).
    labels: str | None = None


@dataclass(frozen=True)
class RuleBook:
    """The rules in force, their version, the daily cap on activity points, and the level curve.

    Badges are defined in the same file (`services.leaderboards.domain.badges.load_badges`).
    """

    version: int
    daily_activity_cap: int | None
    rules: tuple[Rule, ...]
    level_thresholds: tuple[int, ...] = (0,)

    def for_event(self, event_type: str) -> tuple[Rule, ...]:
        """Return the rules an event type triggers, in the book's order."""
        return tuple(rule for rule in self.rules if rule.event == event_type)

    @property
    def event_types(self) -> frozenset[str]:
        """Return every event type some rule awards points for."""
        return frozenset(rule.event for rule in self.rules)


def load_rules(document: Mapping[str, Any]) -> RuleBook:
    """Return the rule book a parsed rules file describes, refusing anything it would not understand."""
    levels = document.get("levels", {})
    unknown = sorted(set(document) - _DOCUMENT_KEYS) + [f"levels.{key}" for key in sorted(set(levels) - {"thresholds"})]
    if unknown:
        raise InvalidRules(f"the rules file has unknown keys {', '.join(unknown)}")
    try:
        version = document["version"]
        rules = tuple(_rule(entry) for entry in document["rules"])
    except KeyError as error:
        raise InvalidRules(f"the rules file lacks {error.args[0]!r}") from None
    if not isinstance(version, int) or version < 1:
        raise InvalidRules("the rules file's version must be a whole number from 1")
    names = [rule.name for rule in rules]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidRules(f"rule names repeat: {', '.join(repeated)}")
    cap = document.get("daily_activity_cap")
    if cap is not None and (not isinstance(cap, int) or cap < 0):
        raise InvalidRules("daily_activity_cap must be a whole number from 0")
    thresholds = tuple(levels.get("thresholds", (0,)))
    if not thresholds or thresholds[0] != 0 or list(thresholds) != sorted(set(thresholds)):
        raise InvalidRules("levels.thresholds must start at 0 and rise")
    return RuleBook(version=version, daily_activity_cap=cap, rules=rules, level_thresholds=thresholds)


_DOCUMENT_KEYS = {"version", "daily_activity_cap", "rules", "levels", "badges"}
_RULE_KEYS = {
    "name", "event", "beneficiary", "object", "reason", "points", "points_from", "scale", "each", "when",
    "adjustments", "caps", "category", "replaces", "boards_of", "labels",
}  # fmt: skip


def _rule(entry: Mapping[str, Any]) -> Rule:
    name = entry.get("name", "?")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise InvalidRules(f"rule {name}: unknown keys {', '.join(unknown)}")
    try:
        caps = entry.get("caps", {})
        rule = Rule(
            name=entry["name"],
            event=entry["event"],
            beneficiary=entry["beneficiary"],
            object=entry["object"],
            reason=entry["reason"],
            points=int(entry.get("points", 0)),
            points_from=entry.get("points_from"),
            scale=entry.get("scale"),
            each=entry.get("each"),
            when=tuple(Condition(**condition) for condition in entry.get("when", ())),
            adjustments=tuple(Adjustment(**adjustment) for adjustment in entry.get("adjustments", ())),
            caps=Caps(**caps),
            category=Category(entry.get("category", "activity")),
            replaces=bool(entry.get("replaces", False)),
            boards_of=entry.get("boards_of", "payload"),
            labels=entry.get("labels"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidRules(f"rule {name}: {error}") from None
    if rule.boards_of not in ("payload", "beneficiary"):
        raise InvalidRules(f"rule {name}: boards_of is payload or beneficiary")
    if rule.points_from is None and rule.points == 0:
        raise InvalidRules(f"rule {name}: give points or points_from")
    return rule


@dataclass
class Usage:
    """How much of each cap beneficiaries have used: awards per day, per object and in all, activity points a day.

    Filled from the ledger before a batch and updated as the batch's entries are worked out, in order.
    """

    per_day: Counter[tuple[str, str, date]] = field(default_factory=Counter)
    per_object: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    lifetime: Counter[tuple[str, str]] = field(default_factory=Counter)
    activity_points: Counter[tuple[str, date]] = field(default_factory=Counter)

    def count(self, entry: LedgerEntry, zone: ZoneInfo) -> None:
        """Count an entry against its beneficiary's caps (a reversal takes its entry's use back)."""
        day = local_day(entry.occurred_at, zone)
        step = -1 if entry.reverses else 1
        if entry.points > 0 or (entry.reverses and entry.points < 0):
            self.per_day[(entry.user_id, entry.rule, day)] += step
            if entry.object_id is not None:
                self.per_object[(entry.user_id, entry.rule, entry.object_id)] += step
            self.lifetime[(entry.user_id, entry.rule)] += step
        if entry.category == Category.ACTIVITY:
            self.activity_points[(entry.user_id, day)] += entry.points


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """Return the day a moment falls on in the deployment's time zone (caps and streaks count these days)."""
    return moment.astimezone(zone).date()


@dataclass(frozen=True)
class EventFacts:
    """What the evaluation needs of one event besides its data."""

    event_id: str
    event_type: str
    occurred_at: datetime
    now: datetime


def evaluate(
    facts: EventFacts,
    data: Mapping[str, Any],
    book: RuleBook,
    usage: Usage,
    zone: ZoneInfo,
    *,
    cohorts_of: Callable[[str], Sequence[str]],
    earlier: Callable[[str, str, str], Sequence[LedgerEntry]] = lambda _user, _rule, _object: (),
) -> list[LedgerEntry]:
    """Return the ledger entries an event earns, updating `usage` as it goes.

    An award a cap leaves nothing of is still an entry, of 0 points, whose reason says which cap: every
    decision is on the ledger, and a replayed event finds it there. `earlier(user, rule, object)` returns a
    beneficiary's standing entries for an object, which a replacing rule reverses first.
    """
    entries: list[LedgerEntry] = []
    for rule in book.for_event(facts.event_type):
        for item in _items(rule, data):
            if not all(condition.holds(item) for condition in rule.when):
                continue
            user_id = item.get(rule.beneficiary) if rule.beneficiary != "." else item.get(".")
            if not isinstance(user_id, str) or not user_id:
                continue
            object_id = str(item.get(rule.object) or "") or None
            if rule.replaces and object_id is not None:
                for previous in earlier(user_id, rule.name, object_id):
                    reversal = reversal_of(
                        previous,
                        reason=f"Replaced by a later decision: {previous.reason}"[:MAX_REASON],
                        event_id=facts.event_id,
                        event_type=facts.event_type,
                        # It counts when the award it replaces did: that period's boards lose it.
                        occurred_at=previous.occurred_at,
                        now=facts.now,
                        actor_id=None,
                    )
                    usage.count(reversal, zone)
                    entries.append(reversal)
            entry = _award(
                rule,
                book,
                facts,
                item,
                user_id=user_id,
                object_id=object_id,
                usage=usage,
                zone=zone,
                cohorts_of=cohorts_of,
            )
            usage.count(entry, zone)
            entries.append(entry)
    return entries


# Whose cohorts an event's `cohorts` are: the actor's, named by this field of the data.
COHORTS_BELONG_TO = {
    "resource.shared": "owner_id",
    "resource.endorsed": "endorser_id",
    "resource.revision_accepted": "proposer_id",
    "resource.revision_rejected": "proposer_id",
    "review.submitted": "reviewer_id",
    "review.rated": "reviewer_id",
    "target.graded": "author_id",
}


def cohorts_named(event_type: str, data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return the cohorts an event names for a learner (its actor's), to place later awards of theirs."""
    user_field = COHORTS_BELONG_TO.get(event_type)
    user_id = data.get(user_field) if user_field else None
    cohorts = data.get("cohorts")
    # No cohorts named is not "in no cohort": a producer that does not know them says nothing.
    if not isinstance(user_id, str) or not isinstance(cohorts, list) or not cohorts:
        return {}
    return {user_id: [str(cohort) for cohort in cohorts]}


def beneficiaries(book: RuleBook, event_type: str, data: Mapping[str, Any]) -> set[str]:
    """Return every learner some rule of the book may award for this event (before conditions and caps)."""
    users: set[str] = set()
    for rule in book.for_event(event_type):
        for item in _items(rule, data):
            user_id = item.get(rule.beneficiary) if rule.beneficiary != "." else item.get(".")
            if isinstance(user_id, str) and user_id:
                users.add(user_id)
    return users


def _items(rule: Rule, data: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    if rule.each is None:
        return [data]
    values = data.get(rule.each) or ()
    return [{**data, **value} if isinstance(value, Mapping) else {**data, ".": value} for value in values]


def _award(
    rule: Rule,
    book: RuleBook,
    facts: EventFacts,
    item: Mapping[str, Any],
    *,
    user_id: str,
    object_id: str | None,
    usage: Usage,
    zone: ZoneInfo,
    cohorts_of: Callable[[str], Sequence[str]],
) -> LedgerEntry:
    points, notes, applied = _points(rule, item)
    day = local_day(facts.occurred_at, zone)
    capped = _cap_note(rule, book, usage, user_id=user_id, object_id=object_id, day=day, points=points)
    if capped is not None:
        points, note = capped
        notes.append(note)
    cohorts = cohorts_of(user_id) if rule.boards_of == "beneficiary" else item.get("cohorts") or ()
    reason = _reason(rule.reason, item)
    if notes:
        reason = f"{reason} ({'; '.join(notes)})"
    return LedgerEntry(
        key=ledger_key(facts.event_id, rule.name, user_id),
        user_id=user_id,
        points=points,
        rule=rule.name,
        reason=reason[:MAX_REASON],
        event_id=facts.event_id,
        event_type=facts.event_type,
        boards=boards_for(list(cohorts), item.get("challenge_id"), list(item.get("tags") or ())),
        occurred_at=facts.occurred_at,
        created_at=facts.now,
        rule_version=book.version,
        object_id=object_id,
        category=rule.category,
        adjustments=tuple(applied),
        labels=tuple(str(value) for value in item.get(rule.labels) or ()) if rule.labels else (),
    )


def _points(rule: Rule, item: Mapping[str, Any]) -> tuple[int, list[str], list[str]]:
    """Return the award before caps, the notes of the adjustments that applied, and their fields."""
    base: float = rule.points
    notes: list[str] = []
    # A challenge's own points for this rule, carried in its events (`rule_points`), replace the rule's.
    override = rule_points_map(item.get("rule_points")).get(rule.name)
    if rule.points_from is None and isinstance(override, int) and not isinstance(override, bool):
        base = max(0, min(override, MAX_CHALLENGE_RULE_POINTS))
        notes.append(f"{base:g} points in this challenge")
    if rule.points_from is not None:
        value = item.get(rule.points_from)
        base = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
    if rule.scale is not None:
        factor = item.get(rule.scale)
        base *= factor if isinstance(factor, int | float) and not isinstance(factor, bool) else 0
    applied: list[str] = []
    for adjustment in rule.adjustments:
        if item.get(adjustment.field) == adjustment.equals:
            if adjustment.factor is not None:
                base *= adjustment.factor
            base += adjustment.points
            applied.append(adjustment.field)
            if adjustment.note:
                notes.append(adjustment.note)
    # Half a point and above rounds up: a late review (10 x 0.5) is 5, outside cohorts (10 x 1.2) 12. The
    # product is rounded to 6 places first, so 45 x 0.7 (31.499999999999996 in binary) is 31.5, hence 32.
    return max(0, math.floor(round(base, 6) + 0.5)), notes, applied


def _cap_note(
    rule: Rule, book: RuleBook, usage: Usage, *, user_id: str, object_id: str | None, day: date, points: int
) -> tuple[int, str] | None:
    """Return the capped points and why, when a cap takes some or all of an award; None when none does."""
    if points <= 0:
        return None
    caps = rule.caps
    reached = [
        (caps.per_day, usage.per_day[(user_id, rule.name, day)], f"the limit of {caps.per_day} a day is reached"),
        (
            caps.per_object if object_id is not None else None,
            usage.per_object[(user_id, rule.name, object_id or "")],
            f"the limit of {caps.per_object} for this is reached",
        ),
        (caps.lifetime, usage.lifetime[(user_id, rule.name)], f"the limit of {caps.lifetime} in all is reached"),
    ]
    for limit, used, note in reached:
        if limit is not None and used >= limit:
            return 0, note
    if rule.category != Category.ACTIVITY or book.daily_activity_cap is None:
        return None
    left = book.daily_activity_cap - usage.activity_points[(user_id, day)]
    if left <= 0:
        return 0, f"the daily limit of {book.daily_activity_cap} activity points is reached"
    if left < points:
        return left, f"{points - left} above the daily limit of {book.daily_activity_cap} activity points"
    return None


class _Template(string.Formatter):
    """Fills a reason from the event's data; a missing field shows as nothing rather than failing."""

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(str(key), "")
        return str(value)[:80] if value is not None else ""


def _reason(template: str, item: Mapping[str, Any]) -> str:
    values = dict(item)
    grade = item.get("grade")
    if isinstance(grade, int | float) and not isinstance(grade, bool):
        values["grade_percent"] = round(grade * 100)
    try:
        return _Template().format(template, **values)
    except (ValueError, IndexError):
        return template
