"""The named values events carry, defined once: producers build payloads from them, consumers validate by them."""

from __future__ import annotations

from enum import StrEnum


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
