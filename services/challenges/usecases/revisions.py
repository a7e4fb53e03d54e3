"""Use cases of knowledge updates: proposing, deciding and verifying revisions of resources.

A revision is decided on its resource's document: one conditional write records the decision (and, for
an acceptance, the new content) together with the event announcing it, only if that revision has no
recorded decision yet. The revision's own document is then marked from that record. If the process dies
in between, any retry (the same request again, or `revision.verified` delivered again) finds the record
and only marks the revision. A revision is therefore decided exactly once, and consumers see exactly one
of `resource.revision_accepted` and `resource.revision_rejected` for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from services.challenges.domain import resources as resource_rules
from services.challenges.domain import revisions as rules
from services.challenges.domain.errors import DomainError, DuplicateResource, InvalidState, NotFound
from services.challenges.domain.resources import DecidedBy, Decision, Resource, RevisionDecision
from services.challenges.domain.revisions import REVISABLE_FIELDS, SUPERSEDED_REASON, Revision, RevisionStatus
from services.challenges.domain.urls import canonicalize_url
from services.challenges.usecases.context import Context
from services.challenges.usecases.resources import get_resource
from shared.contracts.auth import Principal, Role
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import Verdict
from shared.faults import crash_point
from shared.ids import new_id

log = structlog.get_logger(__name__)

# Flags or other decisions arriving meanwhile make an acceptance's conditional write miss; it then reads again.
DECIDE_ATTEMPTS = 10


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
    pending = context.revisions.pending_of(resource.id, actor.user_id)
    if pending is not None:
        raise InvalidState(
            "Your earlier proposal for this resource is still pending: wait for its decision", existing_id=pending.id
        )
    changes = rules.diff(resource, {name: fields[name] for name in REVISABLE_FIELDS if name in fields})
    if "url" in changes:
        existing = context.resources.find_by_canonical_url(canonicalize_url(changes["url"].new))
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
    context.revisions.add(revision, [event])
    return revision


def get_revision(resource_id: str, revision_id: str, *, context: Context) -> Revision:
    """Return a revision of this resource (every member may read the history)."""
    revision = context.revisions.get(revision_id)
    if revision is None or revision.resource_id != resource_id:
        raise NotFound(f"No revision with id {revision_id} of resource {resource_id}")
    return revision


def list_revisions(
    resource_id: str, *, context: Context, status: RevisionStatus | None, limit: int, offset: int
) -> tuple[list[Revision], int]:
    """List a resource's revisions, newest first, optionally by status."""
    get_resource(resource_id, context=context)
    return context.revisions.of_resource(resource_id, status=status, limit=limit, offset=offset)


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
    decided, problem = _decide(revision, decision, accept=fields["decision"] == "accept", actor=actor, context=context)
    if problem is not None:
        raise problem
    return decided


def apply_verifications(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Accept or reject revisions that peers verified (`revision.verified`); a decided revision is left alone."""
    for event, payload in events:
        try:
            _apply_verification(event, payload, context=context)
        except NotFound as error:
            # The resource is gone: the verdict has nothing left to change. A resource that keeps changing
            # (InvalidState) fails the job instead, and RQ delivers the verdicts again later.
            log.info("revision_verification_skipped", event_id=event.id, reason=str(error))


def _apply_verification(event: Event, payload: Mapping[str, Any], *, context: Context) -> None:
    revision = context.revisions.get(payload["revision_id"])
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
    accept = payload["verdict"] == Verdict.APPROVE
    _, problem = _decide(revision, decision, accept=accept, actor=None, context=context)
    if problem is not None:
        log.info("revision_verification_refused", event_id=event.id, revision_id=revision.id, reason=str(problem))


def _decide(
    revision: Revision, decision: Decision, *, accept: bool, actor: Principal | None, context: Context
) -> tuple[Revision, DomainError | None]:
    """Decide a revision on its resource; return the revision as decided and the problem to answer, if any.

    The problem is a 409 when the revision was decided otherwise already, or was superseded (by another
    accepted revision, or by another resource taking its new URL) and is rejected instead.
    """
    for _attempt in range(DECIDE_ATTEMPTS):
        resource = get_resource(revision.resource_id, context=context)
        recorded = resource.decision_on(revision.id)
        if recorded is not None:
            return _finish(revision, recorded, asked_to_accept=accept, context=context)
        now = context.clock()
        problem: DomainError | None = None
        if accept and rules.is_superseded(resource, revision):
            superseded = Decision(decided_by=None, verifier_ids=decision.verifier_ids, reason=SUPERSEDED_REASON)
            after = rules.reject_revision(resource, revision, superseded, now)
            problem = InvalidState(SUPERSEDED_REASON, revision_status=RevisionStatus.REJECTED.value)
        elif accept:
            after = rules.apply_revision(resource, revision, decision, now, context.freshness)
        else:
            after = rules.reject_revision(resource, revision, decision, now)
        try:
            stored = context.resources.record_decision(
                resource, after, [_decision_event(resource, revision, after, actor, context)]
            )
        except DuplicateResource as duplicate:
            reason = f"superseded: resource {duplicate.existing_id} has this url now"
            lost = Decision(decided_by=None, verifier_ids=decision.verifier_ids, reason=reason)
            after = rules.reject_revision(resource, revision, lost, now)
            stored = context.resources.record_decision(
                resource, after, [_decision_event(resource, revision, after, actor, context)]
            )
            problem = duplicate
        if stored:
            crash_point("revisions.decide.after_resource_write")
            finished, conflict = _finish(revision, after.decisions[-1], asked_to_accept=accept, context=context)
            return finished, problem or conflict
    raise InvalidState("The resource is changing quickly right now; try again")


def _decision_event(
    resource: Resource, revision: Revision, after: Resource, actor: Principal | None, context: Context
) -> Event:
    """Return `resource.revision_accepted` or `_rejected` for the decision `after` records on `resource`."""
    record = after.decisions[-1]
    outcome = rules.decided(revision, record)
    if record.accepted:
        flagged_outdated = revision.flagged_outdated or resource_rules.has_open_outdated_flag(
            resource, other_than=revision.proposer_id
        )
        data = _payload(resource, outcome, flagged_outdated=flagged_outdated)
        return context.event(
            EventType.RESOURCE_REVISION_ACCEPTED, actor, data, record.decided_at, fact=(resource.id, revision.id)
        )
    return context.event(
        EventType.RESOURCE_REVISION_REJECTED,
        actor,
        _payload(resource, outcome),
        record.decided_at,
        fact=(resource.id, revision.id),
    )


def _finish(
    revision: Revision, record: RevisionDecision, *, asked_to_accept: bool, context: Context
) -> tuple[Revision, DomainError | None]:
    """Mark the revision as its resource's record decided it (idempotent); 409 if that is not what was asked."""
    decided = rules.decided(revision, record)
    context.revisions.mark_decided(decided)
    if record.accepted != asked_to_accept:
        return decided, InvalidState(
            f"This revision was {decided.status.value} already", revision_status=decided.status.value
        )
    return decided, None
