"""Pure rules of badges, levels and streaks: criteria over a learner's ledger, defined as data.

A badge counts a learner's standing entries of one rule (never reversals, nor entries a reversal took
back), optionally only those an adjustment applied to, or the distinct objects with enough entries, or
the distinct labels, or requires a mean; or counts consecutive active days (a streak). A tiered badge has
several thresholds; each tier is earned once, with the entries that earned it as its evidence. The counts
are kept as entries arrive (domain/counters.py); this module defines badges, levels and streaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.leaderboards.domain.rules import InvalidRules

# Evidence kept per badge: enough to explain it, bounded so a badge document stays small.
MAX_EVIDENCE = 50


@dataclass(frozen=True)
class BadgeDefinition:
    """A badge: what it counts, and the thresholds of its tiers."""

    name: str
    title: str
    description: str
    thresholds: tuple[int, ...]
    rule: str | None = None
    # Only entries this adjustment applied to (e.g. an update of a resource flagged outdated).
    adjustment: str | None = None
    # Count distinct objects with at least this many entries (e.g. resources endorsed 3 times or more).
    objects_with_at_least: int | None = None
    # Count distinct labels instead of entries (e.g. the cohorts of the authors reviewed).
    distinct_labels: bool = False
    # The entries' mean points must be at least this (e.g. reviews close to the consensus).
    mean_points_at_least: float | None = None
    # Count consecutive active days instead (a streak).
    streak: bool = False


@dataclass(frozen=True)
class Levels:
    """The points each level starts at: a threshold curve (level 1 at 0)."""

    thresholds: tuple[int, ...]

    def level_of(self, points: int) -> int:
        """Return the level a total reaches."""
        return max((index + 1 for index, threshold in enumerate(self.thresholds) if points >= threshold), default=1)

    def next_threshold(self, points: int) -> int | None:
        """Return the points the next level starts at, or None at the top (level 2's for a negative balance)."""
        level = self.level_of(points)
        return self.thresholds[level] if level < len(self.thresholds) else None


@dataclass(frozen=True)
class BadgeProgress:
    """Where a learner stands on one badge: the tiers earned (with evidence) and the way to the next."""

    definition: BadgeDefinition
    value: int
    earned_tiers: tuple[int, ...]
    # Per earned tier, the keys of the entries that earned it.
    evidence: Mapping[int, tuple[str, ...]]
    next_threshold: int | None


@dataclass(frozen=True)
class EarnedBadge:
    """A tier of a badge a learner earned, when, and the ledger entries that earned it."""

    user_id: str
    badge: str
    tier: int
    threshold: int
    earned_at: datetime
    evidence: tuple[str, ...]

    @property
    def key(self) -> str:
        """Return the award's unique key: a tier of a badge is earned once."""
        return f"{self.user_id}:{self.badge}:{self.tier}"


_BADGE_KEYS = {
    "name", "title", "description", "thresholds", "rule", "adjustment", "objects_with_at_least", "distinct_labels",
    "mean_points_at_least", "streak",
}  # fmt: skip


def load_badges(entries: Sequence[Mapping[str, Any]]) -> tuple[BadgeDefinition, ...]:
    """Return the badges a rules file's `[[badges]]` define, refusing what it would not understand."""
    badges: list[BadgeDefinition] = []
    for entry in entries:
        name = entry.get("name", "?")
        unknown = sorted(set(entry) - _BADGE_KEYS)
        if unknown:
            raise InvalidRules(f"badge {name}: unknown keys {', '.join(unknown)}")
        try:
            thresholds = tuple(sorted(int(value) for value in entry["thresholds"]))
            badge = BadgeDefinition(
                name=entry["name"],
                title=entry["title"],
                description=entry["description"],
                thresholds=thresholds,
                rule=entry.get("rule"),
                adjustment=entry.get("adjustment"),
                objects_with_at_least=entry.get("objects_with_at_least"),
                distinct_labels=bool(entry.get("distinct_labels", False)),
                mean_points_at_least=entry.get("mean_points_at_least"),
                streak=bool(entry.get("streak", False)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidRules(f"badge {name}: {error}") from None
        if not thresholds or thresholds[0] < 1:
            raise InvalidRules(f"badge {name}: thresholds are whole numbers from 1")
        if badge.streak == (badge.rule is not None):
            raise InvalidRules(f"badge {name}: count a rule's entries, or a streak, one of the two")
        badges.append(badge)
    return tuple(badges)


def longest_run(days: Iterable[date]) -> list[date]:
    """Return the longest run of consecutive days (the earliest of equally long runs)."""
    best: list[date] = []
    run: list[date] = []
    for day in sorted(set(days)):
        run = [*run, day] if run and day - run[-1] == timedelta(days=1) else [day]
        if len(run) > len(best):
            best = run
    return best


def current_streak(days: Iterable[date], today: date) -> int:
    """Return how many consecutive days up to today (or yesterday, today not yet active) a learner was active."""
    days = set(days)
    cursor = today if today in days else today - timedelta(days=1)
    count = 0
    while cursor in days:
        count += 1
        cursor -= timedelta(days=1)
    return count
