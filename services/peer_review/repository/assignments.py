"""MongoDB storage of review assignments: one document each, never two for one reviewer and target."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.peer_review.domain.reviews import (
    Assignment,
    AssignmentMode,
    AssignmentStatus,
    target_key,
)
from shared.contracts.events import Event
from shared.contracts.vocabulary import TargetKind
from shared.store import PUBLIC_PROJECTION, Repository, find_page

ASSIGNMENTS = "assignments"
_NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes assignments are read by; a reviewer is on a target once, ever."""
    assignments = database[ASSIGNMENTS]
    assignments.create_index(
        [("target_key", ASCENDING), ("reviewer_id", ASCENDING)], unique=True, name="target_reviewer_unique"
    )
    assignments.create_index([("reviewer_id", ASCENDING), ("created_at", DESCENDING)])
    assignments.create_index([("challenge_id", ASCENDING), ("created_at", ASCENDING)])
    assignments.create_index([("status", ASCENDING), ("mode", ASCENDING), ("due_at", ASCENDING)])


def _document(assignment: Assignment, origin: str) -> dict[str, Any]:
    return {
        "_id": assignment.id,
        "target_key": assignment.target_key,
        "kind": assignment.kind.value,
        "target_id": assignment.target_id,
        "reviewer_id": assignment.reviewer_id,
        "author_id": assignment.author_id,
        "created_at": assignment.created_at,
        "due_at": assignment.due_at,
        "challenge_id": assignment.challenge_id,
        "reviewer_cohorts": list(assignment.reviewer_cohorts),
        "mode": assignment.mode.value,
        "origin": origin,
        "status": assignment.status.value,
        "ended_at": assignment.ended_at,
        "review_id": assignment.review_id,
        "round": assignment.round,
    }


def _assignment(document: dict[str, Any]) -> Assignment:
    return Assignment(
        id=document["_id"],
        kind=TargetKind(document["kind"]),
        target_id=document["target_id"],
        reviewer_id=document["reviewer_id"],
        author_id=document["author_id"],
        created_at=document["created_at"],
        due_at=document["due_at"],
        challenge_id=document.get("challenge_id"),
        reviewer_cohorts=tuple(document.get("reviewer_cohorts", ())),
        mode=AssignmentMode(document.get("mode", "push")),
        status=AssignmentStatus(document["status"]),
        ended_at=document.get("ended_at"),
        review_id=document.get("review_id"),
        round=document.get("round", 1),
    )


class AssignmentRepository(Repository):
    """Review assignments; the pair (target, reviewer) is unique, whatever became of the assignment."""

    collection_name = ASSIGNMENTS

    def add_many(self, assignments: Sequence[tuple[Assignment, Sequence[Event]]], *, origin: str) -> list[str]:
        """Insert assignments with their events, skipping pairs that exist already; return the ids inserted.

        `origin` records why they were made (`arrival`, `allocation`, `replacement`, `queue`, `teacher`).
        """
        return self._store.insert_many(
            ASSIGNMENTS, [(_document(assignment, origin), events) for assignment, events in assignments]
        )

    def get(self, assignment_id: str) -> Assignment | None:
        """Return the assignment or None."""
        document = self.documents.find_one({"_id": assignment_id}, PUBLIC_PROJECTION)
        return _assignment(document) if document else None

    def save(self, assignment: Assignment, expected_status: AssignmentStatus, events: Sequence[Event] = ()) -> bool:
        """Store the assignment's new status if it still has `expected_status`; return whether it did."""
        update = {
            "$set": {
                "status": assignment.status.value,
                "ended_at": assignment.ended_at,
                "review_id": assignment.review_id,
            }
        }
        return self._update({"_id": assignment.id, "status": expected_status.value}, update, events)

    def of_target(self, kind: str, target_id: str) -> list[Assignment]:
        """Return every assignment ever made on the target, oldest first."""
        cursor = self.documents.find({"target_key": target_key(kind, target_id)}, PUBLIC_PROJECTION).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_assignment(document) for document in cursor]

    def of_targets(self, keys: Sequence[str]) -> list[Assignment]:
        """Return every assignment on these targets."""
        if not keys:
            return []
        return [
            _assignment(document)
            for document in self.documents.find({"target_key": {"$in": list(keys)}}, PUBLIC_PROJECTION)
        ]

    def of_challenge(self, challenge_id: str) -> list[Assignment]:
        """Return every assignment of a challenge, oldest first."""
        cursor = self.documents.find({"challenge_id": challenge_id}, PUBLIC_PROJECTION).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_assignment(document) for document in cursor]

    def of_reviewer(
        self,
        reviewer_id: str,
        *,
        statuses: Sequence[AssignmentStatus] | None,
        kind: str | None,
        challenge_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Assignment], int]:
        """Return a page of a reviewer's assignments, newest first, and how many match in all."""
        filters: dict[str, Any] = {"reviewer_id": reviewer_id}
        if statuses is not None:
            filters["status"] = {"$in": [status.value for status in statuses]}
        if kind is not None:
            filters["kind"] = kind
        if challenge_id is not None:
            filters["challenge_id"] = challenge_id
        documents, total = find_page(
            self.documents, filters, projection=PUBLIC_PROJECTION, sort=_NEWEST_FIRST, limit=limit, offset=offset
        )
        return [_assignment(document) for document in documents], total

    def count_made_for(self, reviewer_id: str, challenge_id: str, origin: str) -> int:
        """Return how many assignments of this origin a reviewer was ever given in a challenge."""
        return self.documents.count_documents(
            {"reviewer_id": reviewer_id, "challenge_id": challenge_id, "origin": origin}
        )

    def lapsed_claims(self, now: datetime, limit: int) -> list[Assignment]:
        """Return claims from the queue still open past their due time, oldest due first."""
        cursor = (
            self.documents.find(
                {
                    "status": AssignmentStatus.ASSIGNED.value,
                    "mode": AssignmentMode.PULL.value,
                    "due_at": {"$lte": now},
                },
                PUBLIC_PROJECTION,
            )
            .sort([("due_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_assignment(document) for document in cursor]
