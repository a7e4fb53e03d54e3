"""Pure rules of the knowledge commons: resources, freshness, endorsements and flags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.challenges.domain.errors import Forbidden, InvalidState
from shared.contracts.vocabulary import DecidedBy, FlagReason

# A resource keeps every flag it was given (resolved ones too), so its document stays bounded.
MAX_FLAGS = 200


class FreshnessState(StrEnum):
    """Whether a resource is due for a check."""

    FRESH = "fresh"
    STALE = "stale"


class ResourceSort(StrEnum):
    """Orders of the resource list."""

    NEWEST = "newest"
    FRESHNESS = "freshness"
    STALENESS = "staleness"
    ENDORSEMENTS = "endorsements"


def flag_key(user_id: str, reason: FlagReason) -> str:
    """Return what makes a flag a repeat while it is open: the same person giving the same reason."""
    return f"{reason.value}:{user_id}"


@dataclass(frozen=True)
class Flag:
    """A report that a resource is outdated, broken or inaccurate; open until an accepted revision resolves it."""

    id: str
    reason: FlagReason
    note: str
    user_id: str
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by_revision: str | None = None

    @property
    def is_open(self) -> bool:
        """Return whether no accepted revision has resolved this flag yet."""
        return self.resolved_at is None

    @property
    def key(self) -> str:
        """Return the flag's repeat key (see `flag_key`)."""
        return flag_key(self.user_id, self.reason)


@dataclass(frozen=True)
class Freshness:
    """When a resource was last verified, when it is due for a check, and whether that time has come."""

    state: FreshnessState
    last_verified_at: datetime
    review_by: datetime


def freshness_state(review_by: datetime, now: datetime) -> FreshnessState:
    """Return whether a resource due for review at `review_by` is stale at `now` (from that moment on)."""
    return FreshnessState.STALE if review_by <= now else FreshnessState.FRESH


@dataclass(frozen=True)
class Decision:
    """A binding decision on a revision: who made it, the peers who verified it, and why."""

    decided_by: DecidedBy | None  # None: the service itself (a superseded revision)
    decider_id: str | None = None
    verifier_ids: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class RevisionDecision:
    """The one record of how a revision was decided, kept on its resource and written once.

    The resource's document is where a revision is decided: accepting (which changes the resource) and
    rejecting both write this record there, in one conditional write with the event announcing it, and
    only if no record exists yet. So a revision is decided once, consumers see exactly one of
    `resource.revision_accepted` and `resource.revision_rejected`, and the revision's own document is
    marked afterwards from this record (a crash in between is finished by any retry).
    """

    revision_id: str
    accepted: bool
    decided_at: datetime
    decision: Decision
    # The resource version the revision became (accepted only).
    version: int | None = None
    resolved_flag_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """A shared learning resource in the knowledge commons, as of its current accepted version."""

    id: str
    owner_id: str
    url: str
    canonical_url: str
    title: str
    created_at: datetime
    last_verified_at: datetime
    review_by: datetime
    summary: str = ""
    tags: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    challenge_id: str | None = None
    endorsement_count: int = 0
    status: str = "active"
    version: int = 1
    updated_at: datetime | None = None
    review_interval_days: int | None = None
    flags: tuple[Flag, ...] = ()
    # Every decision on a revision of this resource, oldest first.
    decisions: tuple[RevisionDecision, ...] = ()
    # As of the moment passed to `as_seen_at`; never stored.
    stale: bool = False

    @property
    def open_flags(self) -> tuple[Flag, ...]:
        """Return the flags no accepted revision has resolved yet, oldest first."""
        return tuple(flag for flag in self.flags if flag.is_open)

    @property
    def open_flag_reasons(self) -> tuple[FlagReason, ...]:
        """Return the reasons of the open flags, each once, in a fixed order."""
        reasons = {flag.reason for flag in self.open_flags}
        return tuple(reason for reason in FlagReason if reason in reasons)

    @property
    def freshness(self) -> Freshness:
        """Return the resource's freshness as of `as_seen_at`."""
        state = FreshnessState.STALE if self.stale else FreshnessState.FRESH
        return Freshness(state=state, last_verified_at=self.last_verified_at, review_by=self.review_by)

    def as_seen_at(self, now: datetime) -> Resource:
        """Return the resource with its freshness state as of `now`."""
        return replace(self, stale=freshness_state(self.review_by, now) == FreshnessState.STALE)

    def decision_on(self, revision_id: str) -> RevisionDecision | None:
        """Return how the revision was decided, if it was."""
        return next((entry for entry in self.decisions if entry.revision_id == revision_id), None)


@dataclass(frozen=True)
class FreshnessPolicy:
    """How long a resource stays fresh after it was last verified: per resource, else per tag, else a default."""

    default_days: int = 365
    days_by_tag: Mapping[str, int] = field(default_factory=dict)

    def review_days(self, tags: Iterable[str], own_days: int | None = None) -> int:
        """Return the review interval: the resource's own, else the shortest of its tags', else the default."""
        if own_days is not None:
            return own_days
        return min((self.days_by_tag[tag] for tag in tags if tag in self.days_by_tag), default=self.default_days)

    def review_by(self, last_verified_at: datetime, tags: Iterable[str], own_days: int | None = None) -> datetime:
        """Return when a resource verified at `last_verified_at` should be checked again."""
        return last_verified_at + timedelta(days=self.review_days(tags, own_days))


@dataclass(frozen=True)
class ResourceQuery:
    """Which resources a listing shows, and in which order."""

    now: datetime
    tag: str | None = None
    owner_id: str | None = None
    challenge_id: str | None = None
    text: str | None = None
    stale: bool | None = None
    flagged: bool | None = None
    flag: FlagReason | None = None
    sort: ResourceSort = ResourceSort.NEWEST


# ---------------------------------------------------------------------------------------------------------------
# Endorsements and flags


def check_endorsement(resource: Resource, user_id: str, *, already_endorsed: bool) -> None:
    """Refuse an endorsement of one's own resource (403) and a second one by the same person (409)."""
    if user_id == resource.owner_id:
        raise Forbidden("Nobody may endorse their own resource")
    if already_endorsed:
        raise InvalidState("You have endorsed this resource already")


def check_flag(resource: Resource, user_id: str, reason: FlagReason) -> None:
    """Refuse a repeat of one's own open flag, and flags past the cap (both 409)."""
    key = flag_key(user_id, reason)
    repeated = next((flag for flag in resource.open_flags if flag.key == key), None)
    if repeated is not None:
        raise InvalidState(f"You flagged this resource {reason.value} already", flag_id=repeated.id)
    if len(resource.flags) >= MAX_FLAGS:
        raise InvalidState(f"This resource holds {MAX_FLAGS} flags, the most it may; propose a revision instead")


def add_flag(resource: Resource, flag: Flag) -> Resource:
    """Return the resource with one more open flag, refusing a repeat of the flagger's open one and the cap."""
    check_flag(resource, flag.user_id, flag.reason)
    return replace(resource, flags=(*resource.flags, flag))


def has_open_outdated_flag(resource: Resource, *, other_than: str) -> bool:
    """Return whether someone other than `other_than` flagged the resource outdated and the flag is still open.

    A reviser's own flag does not count, so flagging a resource and then updating it earns no bonus.
    """
    return any(flag.reason == FlagReason.OUTDATED and flag.user_id != other_than for flag in resource.open_flags)


def resolves(reason: FlagReason, changed_fields: Iterable[str]) -> bool:
    """Return whether an accepted revision changing these fields resolves a flag given for `reason`.

    Any accepted update is a fresh check of the content, so it answers `outdated` and `inaccurate`;
    only a new URL mends a `broken` link.
    """
    return reason in (FlagReason.OUTDATED, FlagReason.INACCURATE) or (
        reason == FlagReason.BROKEN and "url" in changed_fields
    )
