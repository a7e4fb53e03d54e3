"""Use cases of knowledge updates: proposing, deciding and verifying revisions of resources.

Accepting a revision touches two documents without a transaction. The resource is written first, in one
conditional write that also records the revision's id in `applied_revisions` and carries
`resource.revision_accepted` in the resource's outbox; then the revision document is marked accepted.
If the process dies in between, any retry (the same request again, or `revision.verified` delivered
again) finds the id in `applied_revisions` and only marks the revision document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from services.challenges.domain import resources as resource_rules
from services.challenges.domain import revisions as rules
from services.challenges.domain.errors import DomainError, DuplicateResource, InvalidState, NotFound
from services.challenges.domain.resources import AppliedRevision, DecidedBy, Decision, Resource
from services.challenges.domain.revisions import REVISABLE_FIELDS, SUPERSEDED_REASON, Revision, RevisionStatus
from services.challenges.domain.urls import canonicalize_url
from services.challenges.repository.resources import RESOURCES
from services.challenges.repository.revisions import REVISIONS
from services.challenges.repository.store import new_id
from services.challenges.usecases.context import Context
from services.challenges.usecases.resources import get_resource
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.faults import crash_point

log = structlog.get_logger(__name__)

# Flags or endorsements arriving meanwhile make the accept's conditional write miss; it then reads again.
ACCEPT_ATTEMPTS = 10


def _payload(resource: Resource, revision: Revision, **extra: Any) -> dict[str, Any]:
    """Return the data of a revision event: who proposed, whose resource, and where the reviser's points land."""
    decision = revision.decision
    return {
        "revision_id": revision.id,
        "resource_id": resource.id,
        "owner_id": resource.owner_id,
        "proposer_id": revision.proposer_id,
        "changed_fields": list(revision.changed_fields),
        "base_version": revision.base_version,
        "flagged_outdated": revision.flagged_outdated,
        "version": revision.version,
        "decided_by": decision.decided_by.value if decision and decision.decided_by else None,
        "decider_id": decision.decider_id if decision else None,
        "verifier_ids": list(decision.verifier_ids) if decision else [],
        "reason": decision.reason if decision else None,
        "resolved_flag_ids": list(revision.resolved_flag_ids),
        "tags": list(resource.tags),
        "cohorts": list(revision.proposer_cohorts),
        "challenge_id": resource.challenge_id,
        **extra,
    }


def propose_revision(resource_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context) -> Revision:
    """Propose a knowledge update; it stays pending (readers see the current version) until it is decided.

    One pending proposal per person and resource: a second waits until the first is decided (409).
    """
    resource = get_resource(resource_id, context=context)
    pending = context.repositories.revisions.pending_of(resource.id, actor.user_id)
    if pending is not None:
        raise InvalidState(
            "Your earlier proposal for this resource is still pending: wait for its decision", existing_id=pending.id
        )
    changes = rules.diff(resource, {name: fields[name] for name in REVISABLE_FIELDS if name in fields})
    if "url" in changes:
        existing = context.repositories.resources.find_by_canonical_url(canonicalize_url(changes["url"].new))
        if existing is not None and existing.id != resource.id:
            raise DuplicateResource(existing.id)
    now = context.clock()
    revision = Revision(
        id=new_id(),
        resource_id=resource.id,
        proposer_id=actor.user_id,
        proposer_cohorts=actor.cohorts,
        base_version=resource.version,
        changes=changes,
        note=fields["note"],
        sources=tuple(fields.get("sources", ())),
        flagged_outdated=resource_rules.has_open_outdated_flag(resource, other_than=actor.user_id),
        created_at=now,
    )
    # Peer review shows verifiers the change itself, so it need not call back.
    details = {
        "changes": {name: {"old": change.old, "new": change.new} for name, change in changes.items()},
        "note": revision.note,
        "sources": list(revision.sources),
    }
    event = context.event(EventType.RESOURCE_REVISION_PROPOSED, actor, _payload(resource, revision, **details), now)
    context.repositories.revisions.add(revision, [event])
    context.outbox.dispatch(REVISIONS, revision.id, [event])
    return revision


def get_revision(resource_id: str, revision_id: str, *, context: Context) -> Revision:
    """Return a revision of this resource (every member may read the history)."""
    revision = context.repositories.revisions.get(revision_id)
    if revision is None or revision.resource_id != resource_id:
        raise NotFound(f"No revision with id {revision_id} of resource {resource_id}")
    return revision


def list_revisions(
    resource_id: str, *, context: Context, status: RevisionStatus | None, limit: int, offset: int
) -> tuple[list[Revision], int]:
    """List a resource's revisions, newest first, optionally by status."""
    get_resource(resource_id, context=context)
    return context.repositories.revisions.of_resource(resource_id, status=status, limit=limit, offset=offset)


def decide_revision(
    resource_id: str, revision_id: str, fields: Mapping[str, Any], *, actor: Principal, context: Context
) -> Revision:
    """Accept or reject a pending revision: the resource's owner, a teacher or an admin; never its proposer."""
    revision = get_revision(resource_id, revision_id, context=context)
    resource = get_resource(resource_id, context=context)
    role = rules.decider_role(
        actor_id=actor.user_id,
        is_teacher=actor.has_any(Role.TEACHER),
        is_admin=actor.is_admin,
        owner_id=resource.owner_id,
        proposer_id=revision.proposer_id,
    )
    rules.check_pending(revision)
    decision = Decision(decided_by=role, decider_id=actor.user_id, reason=fields.get("reason"))
    if fields["decision"] == "accept":
        decided, problem = _accept(revision, decision, actor=actor, context=context)
    else:
        decided, problem = _reject_unless_applied(resource, revision, decision, actor=actor, context=context)
    if problem is not None:
        raise problem
    return decided


def apply_verifications(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Accept or reject revisions that peers verified (`revision.verified`); a decided revision is left alone."""
    for event, payload in events:
        try:
            _apply_verification(event, payload, context=context)
        except DomainError as error:
            # Decided meanwhile, or the resource is gone: the verdict has nothing left to change.
            log.info("revision_verification_skipped", event_id=event.id, reason=str(error))


def _apply_verification(event: Event, payload: Mapping[str, Any], *, context: Context) -> None:
    revision = context.repositories.revisions.get(payload["revision_id"])
    if revision is None or revision.resource_id != payload["resource_id"]:
        log.warning(
            "revision_verification_unknown",
            event_id=event.id,
            revision_id=payload["revision_id"],
            resource_id=payload["resource_id"],
        )
        return
    if not revision.is_pending:
        return  # a redelivery, or the owner or a teacher decided first
    decision = Decision(
        decided_by=DecidedBy.PEERS,
        verifier_ids=tuple(payload["verifier_ids"]),
        reason="; ".join(payload["reasons"]) or None,
    )
    if payload["verdict"] == "approve":
        _, problem = _accept(revision, decision, actor=None, context=context)
    else:
        resource = get_resource(revision.resource_id, context=context)
        _, problem = _reject_unless_applied(resource, revision, decision, actor=None, context=context)
    if problem is not None:
        log.info("revision_verification_refused", event_id=event.id, revision_id=revision.id, reason=str(problem))


def _accept(
    revision: Revision, decision: Decision, *, actor: Principal | None, context: Context
) -> tuple[Revision, DomainError | None]:
    """Make a revision current; return the decided revision and the problem to answer a person with, if any."""
    for _attempt in range(ACCEPT_ATTEMPTS):
        resource = get_resource(revision.resource_id, context=context)
        applied = resource.applied(revision.id)
        if applied is not None:
            return _finish_accepted(revision, applied, context=context), None
        if rules.is_superseded(resource, revision):
            superseded = Decision(decided_by=None, verifier_ids=decision.verifier_ids, reason=SUPERSEDED_REASON)
            decided = _reject(resource, revision, superseded, actor=actor, context=context)
            return decided, InvalidState(SUPERSEDED_REASON, revision_status=decided.status.value)
        now = context.clock()
        after = rules.apply_revision(resource, revision, decision, now, context.freshness)
        applied = after.applied_revisions[-1]
        flagged_outdated = revision.flagged_outdated or resource_rules.has_open_outdated_flag(
            resource, other_than=revision.proposer_id
        )
        outcome = rules.accepted(revision, applied)
        event = context.event(
            EventType.RESOURCE_REVISION_ACCEPTED,
            actor,
            _payload(resource, outcome, flagged_outdated=flagged_outdated),
            now,
        )
        try:
            stored = context.repositories.resources.apply_revision(resource, after, [event], now)
        except DuplicateResource as duplicate:
            reason = f"superseded: resource {duplicate.existing_id} has this url now"
            lost = Decision(decided_by=None, verifier_ids=decision.verifier_ids, reason=reason)
            return _reject(resource, revision, lost, actor=actor, context=context), duplicate
        if stored:
            crash_point("revisions.accept.after_resource_write")
            context.outbox.dispatch(RESOURCES, resource.id, [event])
            return _finish_accepted(revision, applied, context=context), None
    raise InvalidState("The resource is changing quickly right now; try again")


def _finish_accepted(revision: Revision, applied: AppliedRevision, *, context: Context) -> Revision:
    """Mark the revision document accepted as its resource took it in (idempotent)."""
    decided = rules.accepted(revision, applied)
    repository = context.repositories.revisions
    if repository.decide(decided, [], context.clock()):
        return decided
    current = repository.get(revision.id) or decided
    if current.status == RevisionStatus.REJECTED:
        # A rejection raced with this accept and lost: the resource shows the revision, so the history must too.
        repository.decide(decided, [], context.clock(), from_status=RevisionStatus.REJECTED)
        return decided
    return current


def _reject_unless_applied(
    resource: Resource, revision: Revision, decision: Decision, *, actor: Principal | None, context: Context
) -> tuple[Revision, DomainError | None]:
    """Reject a revision, unless the resource took it in already (an accept died before marking it)."""
    applied = resource.applied(revision.id)
    if applied is not None:
        accepted = _finish_accepted(revision, applied, context=context)
        return accepted, InvalidState("This revision was accepted already", revision_status=accepted.status.value)
    return _reject(resource, revision, decision, actor=actor, context=context), None


def _reject(
    resource: Resource, revision: Revision, decision: Decision, *, actor: Principal | None, context: Context
) -> Revision:
    """Mark a pending revision rejected with `resource.revision_rejected` in its outbox; 409 if decided meanwhile."""
    now = context.clock()
    decided = rules.rejected(revision, decision, now)
    event = context.event(EventType.RESOURCE_REVISION_REJECTED, actor, _payload(resource, decided), now)
    if not context.repositories.revisions.decide(decided, [event], now):
        current = context.repositories.revisions.get(revision.id) or decided
        raise InvalidState(f"This revision was {current.status.value} meanwhile", revision_status=current.status.value)
    context.outbox.dispatch(REVISIONS, revision.id, [event])
    return decided
