"""Use cases of what arrives from the challenges service: challenges, submissions and knowledge updates.

Every handler is safe to run again on the same event: targets are keyed by kind and id, a challenge's close
is recorded once, and allocation and give-to-get add only what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog

from services.peer_review.domain.consensus import Criterion
from services.peer_review.domain.reviews import (
    DEFAULT_RUBRIC,
    VERIFIERS_PER_REVISION,
    ReviewRules,
    Target,
    TargetStatus,
)
from services.peer_review.usecases import assignments, reviews
from services.peer_review.usecases.context import Context
from shared.consumer import Received
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import TargetKind, rule_points_map

log = structlog.get_logger(__name__)


def _rules(data: Mapping[str, Any]) -> ReviewRules:
    review = data.get("review") or {}
    rubric = tuple(Criterion(item["criterion"], item["max_score"]) for item in data.get("rubric") or ())
    return ReviewRules(
        reviewers=review.get("reviewers_per_submission", 3),
        due_hours=review.get("due_hours", 72),
        blind=review.get("blind", True),
        rubric=rubric if any(criterion.max_score > 0 for criterion in rubric) else DEFAULT_RUBRIC,
    )


def receive_challenges(received: Sequence[Received], *, context: Context) -> None:
    """Note each challenge's teacher and audience; when submissions close, allocate what is still short."""
    for event, data in received:
        challenge_id = data["challenge_id"]
        context.challenges.note(challenge_id, data["owner_id"], data.get("cohorts") or ())
        if event.type == EventType.CHALLENGE_CLOSED:
            context.challenges.close(challenge_id, data["owner_id"], data.get("closed_at") or event.occurred_at)
            assignments.allocate_challenge(challenge_id, context)
            reviews.grade_complete_targets(context=context, challenge_id=challenge_id)


def receive_submissions(received: Sequence[Received], *, context: Context) -> None:
    """Take submissions into review as they arrive, follow their revisions, and drop withdrawn ones."""
    for event, data in received:
        if event.type == EventType.SUBMISSION_WITHDRAWN:
            _withdrawn(data, context)
        else:
            _submitted(event, data, context)


def _submitted(event: Event, data: Mapping[str, Any], context: Context) -> None:
    challenge_id = data["challenge_id"]
    context.challenges.note(challenge_id, data["challenge_owner_id"], data.get("challenge_cohorts") or ())
    context.people.note_active(data["author_id"], data.get("cohorts") or (), data.get("tags") or (), event.occurred_at)
    target = Target(
        kind=TargetKind.SUBMISSION,
        target_id=data["submission_id"],
        author_id=data["author_id"],
        created_at=event.occurred_at,
        rules=_rules(data),
        challenge_id=challenge_id,
        owner_id=data["challenge_owner_id"],
        author_cohorts=tuple(data.get("cohorts") or ()),
        tags=tuple(data.get("tags") or ()),
        points=data.get("points") or 0,
        rule_points=tuple(sorted(rule_points_map(data.get("rule_points")).items())),
        version=data["version"],
    )
    if not context.targets.add(target):
        stored = context.targets.get(target.kind, target.target_id)
        if stored is None:
            return
        target = _follow(stored, data, context)
    if not target.open:
        return
    if context.challenges.closed_at(challenge_id) is not None:
        # A late submission: nobody arrives after it to review it, so it is allocated at once.
        assignments.allocate_challenge(challenge_id, context, only=[target.key])
    assignments.give_to_get(target, context)


def _follow(stored: Target, data: Mapping[str, Any], context: Context) -> Target:
    """Bring a known target up to a later version.

    While it is under review, its reviewers go on reviewing (they read the current version). A graded or
    withdrawn one that comes back as a new version starts a new round of review: new reviewers, and only
    the new round's reviews make its next grade.
    """
    version = data["version"]
    if version <= stored.version:
        return stored
    if stored.status in (TargetStatus.GRADED, TargetStatus.WITHDRAWN):
        followed = replace(
            stored,
            version=version,
            status=TargetStatus.OPEN,
            grade=None,
            round=stored.round + 1,
            sequence=stored.sequence + 1,
        )
    else:
        followed = replace(stored, version=version, sequence=stored.sequence + 1)
    if context.targets.save(followed, stored.sequence):
        if followed.round != stored.round:
            assignments.cancel_on_target(stored, "withdrawn", context)
        return followed
    return context.targets.get(stored.kind, stored.target_id) or stored


def _withdrawn(data: Mapping[str, Any], context: Context) -> None:
    stored = context.targets.get(TargetKind.SUBMISSION, data["submission_id"])
    if stored is None or stored.version > data["version"] or stored.status == TargetStatus.WITHDRAWN:
        return
    withdrawn = replace(stored, status=TargetStatus.WITHDRAWN, sequence=stored.sequence + 1)
    if context.targets.save(withdrawn, stored.sequence):
        assignments.cancel_on_target(withdrawn, "withdrawn", context)


def receive_revisions(received: Sequence[Received], *, context: Context) -> None:
    """Ask verifiers for each proposed knowledge update; close those decided elsewhere."""
    for event, data in received:
        if event.type == EventType.RESOURCE_REVISION_PROPOSED:
            _proposed(event, data, context)
        else:
            _decided_elsewhere(data, context)


def _proposed(event: Event, data: Mapping[str, Any], context: Context) -> None:
    target = Target(
        kind=TargetKind.REVISION,
        target_id=data["revision_id"],
        author_id=data["proposer_id"],
        created_at=event.occurred_at,
        rules=ReviewRules(reviewers=VERIFIERS_PER_REVISION, due_hours=72, blind=False, rubric=()),
        owner_id=data["owner_id"],
        author_cohorts=tuple(data.get("cohorts") or ()),
        tags=tuple(data.get("tags") or ()),
        version=data["base_version"],
        resource_id=data["resource_id"],
        details={
            "changes": dict(data.get("changes") or {}),
            "note": data.get("note", ""),
            "sources": list(data.get("sources") or ()),
            "flagged_outdated": data.get("flagged_outdated", False),
        },
    )
    context.people.note_active(target.author_id, target.author_cohorts, target.tags, event.occurred_at)
    if not context.targets.add(target):
        target = context.targets.get(target.kind, target.target_id) or target
    if target.open:
        assignments.ask_verifiers(target, context)


def _decided_elsewhere(data: Mapping[str, Any], context: Context) -> None:
    stored = context.targets.get(TargetKind.REVISION, data["revision_id"])
    if stored is None or stored.status == TargetStatus.DECIDED:
        return
    decided = replace(stored, status=TargetStatus.DECIDED, sequence=stored.sequence + 1)
    if context.targets.save(decided, stored.sequence):
        assignments.cancel_on_target(decided, "withdrawn", context)
