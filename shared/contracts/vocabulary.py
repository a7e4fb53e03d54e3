"""The named values events carry, defined once: producers build payloads from them, consumers validate by them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ChallengeKind(StrEnum):
    """What learners do in a challenge."""

    SUBMISSION = "submission"
    RESOURCE = "resource"
    KNOWLEDGE = "knowledge"


class FlagReason(StrEnum):
    """Why someone flagged a resource."""

    OUTDATED = "outdated"
    BROKEN = "broken"
    INACCURATE = "inaccurate"


class DecidedBy(StrEnum):
    """Who made a binding decision on a proposed revision."""

    PEERS = "peers"
    OWNER = "owner"
    TEACHER = "teacher"
    ADMIN = "admin"


class TargetKind(StrEnum):
    """What peer review reviews: learners' submissions, or proposed revisions of resources."""

    SUBMISSION = "submission"
    REVISION = "revision"


class Verdict(StrEnum):
    """A verifier's verdict on a proposed revision."""

    APPROVE = "approve"
    REJECT = "reject"


def values(enumeration: type[StrEnum]) -> list[str]:
    """Return the values of an enumeration, in declaration order (for schema validators)."""
    return [member.value for member in enumeration]


# The rules a challenge may set its own points for (per rule, 0 to MAX_CHALLENGE_RULE_POINTS). The
# challenge's settings travel with the events of its work (`rule_points`), and the leaderboards award
# them instead of the rule's points; the rule's multipliers and caps still apply.
CHALLENGE_RULES = ("resource.shared", "review.submitted", "review.helpful", "review.accurate")
MAX_CHALLENGE_RULE_POINTS = 100


def rule_points_list(points: Mapping[str, int]) -> list[dict[str, Any]]:
    """Return a challenge's own points as events and documents carry them: `[{rule, points}]`, by rule."""
    return [{"rule": rule, "points": value} for rule, value in sorted(points.items())]


def rule_points_map(listed: Any) -> dict[str, int]:
    """Return the `{rule: points}` a `rule_points_list` holds (anything malformed left out)."""
    found: dict[str, int] = {}
    for item in listed if isinstance(listed, list) else ():
        if isinstance(item, Mapping) and isinstance(item.get("rule"), str):
            value = item.get("points")
            if isinstance(value, int) and not isinstance(value, bool):
                found[item["rule"]] = value
    return found
