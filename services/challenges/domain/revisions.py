"""Pure rules of knowledge updates: proposed revisions of resources, their diff and who decides on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from services.challenges.domain.errors import Forbidden, InvalidField, InvalidState
from services.challenges.domain.resources import (
    DecidedBy,
    Decision,
    FreshnessPolicy,
    Resource,
    RevisionDecision,
    resolves,
)
from services.challenges.domain.urls import canonicalize_url

REVISABLE_FIELDS = ("title", "summary", "url")
SUPERSEDED_REASON = "superseded: the resource changed since this was proposed"


class RevisionStatus(StrEnum):
    """Where a proposed revision is in its life."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class FieldChange:
    """One field of a revision: its value when proposed and the proposed value."""

    old: str
    new: str


@dataclass(frozen=True)
class Revision:
    """A proposed knowledge update of a resource; pending until peers verify it or someone decides on it."""

    id: str
    resource_id: str
    proposer_id: str
    base_version: int
    changes: Mapping[str, FieldChange]
    note: str
    created_at: datetime
    sources: tuple[str, ...] = ()
    proposer_cohorts: tuple[str, ...] = ()
    flagged_outdated: bool = False
    status: RevisionStatus = RevisionStatus.PENDING
    decided_at: datetime | None = None
    decision: Decision | None = None
    # The resource version this revision became, once accepted.
    version: int | None = None
    resolved_flag_ids: tuple[str, ...] = ()

    @property
    def changed_fields(self) -> tuple[str, ...]:
        """Return the names of the fields this revision changes, in a fixed order."""
        return tuple(name for name in REVISABLE_FIELDS if name in self.changes)

    @property
    def is_pending(self) -> bool:
        """Return whether nobody has decided on this revision yet."""
        return self.status == RevisionStatus.PENDING


def diff(resource: Resource, proposed: Mapping[str, str]) -> dict[str, FieldChange]:
    """Return what a proposal changes; a proposal changing nothing, or sending a field unchanged, is refused."""
    if not any(name in proposed for name in REVISABLE_FIELDS):
        raise InvalidField("body", "Propose a new title, summary or url")
    changes: dict[str, FieldChange] = {}
    for name in REVISABLE_FIELDS:
        if name not in proposed:
            continue
        old: str = getattr(resource, name)
        new = proposed[name].strip() if name == "url" else proposed[name]
        if new == old:
            raise InvalidField(name, f"The {name} is the same as now: change it or leave it out")
        changes[name] = FieldChange(old=old, new=new)
    return changes


def decider_role(*, actor_id: str, is_teacher: bool, is_admin: bool, owner_id: str, proposer_id: str) -> DecidedBy:
    """Return in what capacity someone decides on a revision: never their own; its owner, a teacher, an admin."""
    if actor_id == proposer_id:
        raise Forbidden("Nobody may decide on their own revision")
    if actor_id == owner_id:
        return DecidedBy.OWNER
    if is_admin:
        return DecidedBy.ADMIN
    if is_teacher:
        return DecidedBy.TEACHER
    raise Forbidden("Only the resource's owner, a teacher or an admin may decide on a revision")


def check_pending(revision: Revision) -> None:
    """Refuse a decision on a revision decided already (409)."""
    if not revision.is_pending:
        raise InvalidState(f"This revision was {revision.status.value} already", revision_status=revision.status.value)


def is_superseded(resource: Resource, revision: Revision) -> bool:
    """Return whether the resource took in another revision since this one was proposed."""
    return resource.decision_on(revision.id) is None and resource.version != revision.base_version


def apply_revision(
    resource: Resource, revision: Revision, decision: Decision, now: datetime, policy: FreshnessPolicy
) -> Resource:
    """Return the resource with the revision made current: the next version, verified now, its flags resolved."""
    check_undecided(resource, revision)
    if is_superseded(resource, revision):
        raise InvalidState(SUPERSEDED_REASON)
    changed = revision.changed_fields
    resolved_ids = tuple(flag.id for flag in resource.open_flags if resolves(flag.reason, changed))
    flags = tuple(
        replace(flag, resolved_at=now, resolved_by_revision=revision.id) if flag.id in resolved_ids else flag
        for flag in resource.flags
    )
    url = revision.changes["url"].new if "url" in revision.changes else resource.url
    version = resource.version + 1
    record = RevisionDecision(
        revision_id=revision.id,
        accepted=True,
        decided_at=now,
        decision=decision,
        version=version,
        resolved_flag_ids=resolved_ids,
    )
    return replace(
        resource,
        title=revision.changes["title"].new if "title" in revision.changes else resource.title,
        summary=revision.changes["summary"].new if "summary" in revision.changes else resource.summary,
        url=url,
        canonical_url=canonicalize_url(url) if "url" in revision.changes else resource.canonical_url,
        version=version,
        updated_at=now,
        last_verified_at=now,
        review_by=policy.review_by(now, resource.tags, resource.review_interval_days),
        flags=flags,
        decisions=(*resource.decisions, record),
    )


def reject_revision(resource: Resource, revision: Revision, decision: Decision, now: datetime) -> Resource:
    """Return the resource with the revision's rejection recorded (its content unchanged)."""
    check_undecided(resource, revision)
    record = RevisionDecision(revision_id=revision.id, accepted=False, decided_at=now, decision=decision)
    return replace(resource, decisions=(*resource.decisions, record))


def check_undecided(resource: Resource, revision: Revision) -> None:
    """Refuse deciding a revision of another resource, or one its resource recorded a decision on (409)."""
    if revision.resource_id != resource.id:
        raise ValueError(f"revision {revision.id} belongs to resource {revision.resource_id}, not {resource.id}")
    recorded = resource.decision_on(revision.id)
    if recorded is not None:
        status = RevisionStatus.ACCEPTED if recorded.accepted else RevisionStatus.REJECTED
        raise InvalidState(f"This revision was {status.value} already", revision_status=status.value)


def decided(revision: Revision, record: RevisionDecision) -> Revision:
    """Return the revision as its resource's record decided it."""
    return replace(
        revision,
        status=RevisionStatus.ACCEPTED if record.accepted else RevisionStatus.REJECTED,
        decided_at=record.decided_at,
        decision=record.decision,
        version=record.version,
        resolved_flag_ids=record.resolved_flag_ids,
    )
