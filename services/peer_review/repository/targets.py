"""MongoDB storage of targets under review (submissions and proposed revisions), one document each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.peer_review.domain.consensus import Criterion
from services.peer_review.domain.reviews import Grade, ReviewRules, Target, TargetStatus, target_key
from shared.contracts.events import Event
from shared.contracts.vocabulary import TargetKind, rule_points_list, rule_points_map
from shared.store import PUBLIC_PROJECTION, Repository

TARGETS = "targets"


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes targets are read by: a challenge's targets, and open ones oldest first."""
    targets = database[TARGETS]
    targets.create_index([("challenge_id", ASCENDING), ("created_at", ASCENDING)])
    targets.create_index([("status", ASCENDING), ("kind", ASCENDING), ("created_at", ASCENDING)])


def _grade_document(grade: Grade | None) -> dict[str, Any] | None:
    if grade is None:
        return None
    return {
        "grade": grade.grade,
        "scores": dict(grade.scores),
        "graded_at": grade.graded_at,
        "aggregator": grade.aggregator,
        "overridden_by": grade.overridden_by,
        "closed_by": grade.closed_by,
    }


def _grade(document: dict[str, Any] | None) -> Grade | None:
    if not document:
        return None
    return Grade(
        grade=document["grade"],
        scores=dict(document.get("scores") or {}),
        graded_at=document["graded_at"],
        aggregator=document.get("aggregator", "median"),
        overridden_by=document.get("overridden_by"),
        closed_by=document.get("closed_by"),
    )


def _document(target: Target) -> dict[str, Any]:
    rules = target.rules
    return {
        "_id": target.key,
        "kind": target.kind.value,
        "target_id": target.target_id,
        "author_id": target.author_id,
        "created_at": target.created_at,
        "challenge_id": target.challenge_id,
        "owner_id": target.owner_id,
        "author_cohorts": list(target.author_cohorts),
        "tags": list(target.tags),
        "points": target.points,
        "rule_points": rule_points_list(dict(target.rule_points)),
        "rules": {
            "reviewers": rules.reviewers,
            "due_hours": rules.due_hours,
            "blind": rules.blind,
            "rubric": [{"criterion": c.criterion, "max_score": c.max_score} for c in rules.rubric],
        },
        "status": target.status.value,
        "version": target.version,
        "grade": _grade_document(target.grade),
        "resource_id": target.resource_id,
        "details": dict(target.details) if target.details else None,
        "sequence": target.sequence,
        "round": target.round,
    }


def _target(document: dict[str, Any]) -> Target:
    rules = document.get("rules") or {}
    return Target(
        kind=TargetKind(document["kind"]),
        target_id=document["target_id"],
        author_id=document["author_id"],
        created_at=document["created_at"],
        rules=ReviewRules(
            reviewers=rules.get("reviewers", 3),
            due_hours=rules.get("due_hours", 72),
            blind=rules.get("blind", True),
            rubric=tuple(Criterion(c["criterion"], c["max_score"]) for c in rules.get("rubric", ())),
        ),
        challenge_id=document.get("challenge_id"),
        owner_id=document.get("owner_id"),
        author_cohorts=tuple(document.get("author_cohorts", ())),
        tags=tuple(document.get("tags", ())),
        points=document.get("points", 0),
        rule_points=tuple(sorted(rule_points_map(document.get("rule_points")).items())),
        status=TargetStatus(document["status"]),
        version=document.get("version", 1),
        grade=_grade(document.get("grade")),
        resource_id=document.get("resource_id"),
        details=document.get("details"),
        sequence=document.get("sequence", 1),
        round=document.get("round", 1),
    )


class TargetRepository(Repository):
    """Targets under review, by key (kind and id)."""

    collection_name = TARGETS

    def add(self, target: Target) -> bool:
        """Insert a target unless one with its key exists; return whether it was new."""
        try:
            self._insert(_document(target))
        except DuplicateKeyError:
            return False
        return True

    def get(self, kind: str, target_id: str) -> Target | None:
        """Return the target or None."""
        document = self.documents.find_one({"_id": target_key(kind, target_id)}, PUBLIC_PROJECTION)
        return _target(document) if document else None

    def save(self, target: Target, expected_sequence: int, events: Sequence[Event] = ()) -> bool:
        """Save a changed target with its events if nobody saved it since `expected_sequence`; return whether."""
        fields = _document(target)
        fields.pop("_id")
        fields.pop("created_at")
        return self._update({"_id": target.key, "sequence": expected_sequence}, {"$set": fields}, events)

    def of_challenge(self, challenge_id: str) -> list[Target]:
        """Return a challenge's targets, oldest first."""
        cursor = self.documents.find({"challenge_id": challenge_id}, PUBLIC_PROJECTION).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_target(document) for document in cursor]

    def open_targets(self, *, kind: str | None, challenge_id: str | None, limit: int, offset: int = 0) -> list[Target]:
        """Return a page of open targets, oldest first (the pull queue's candidates)."""
        filters: dict[str, Any] = {"status": TargetStatus.OPEN.value}
        if kind is not None:
            filters["kind"] = kind
        if challenge_id is not None:
            filters["challenge_id"] = challenge_id
        cursor = (
            self.documents.find(filters, PUBLIC_PROJECTION)
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [_target(document) for document in cursor]
