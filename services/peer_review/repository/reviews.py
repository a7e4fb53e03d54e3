"""MongoDB storage of reviews: one per assignment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.peer_review.domain.reviews import Review, target_key
from shared.contracts.events import Event
from shared.contracts.vocabulary import TargetKind, Verdict
from shared.store import PUBLIC_PROJECTION, Repository

REVIEWS = "reviews"


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes reviews are read by; an assignment has one review."""
    reviews = database[REVIEWS]
    reviews.create_index([("assignment_id", ASCENDING)], unique=True, name="assignment_unique")
    reviews.create_index([("target_key", ASCENDING), ("submitted_at", ASCENDING)])
    reviews.create_index([("reviewer_id", ASCENDING), ("submitted_at", DESCENDING)])
    reviews.create_index([("accuracy", ASCENDING), ("submitted_at", DESCENDING)])
    reviews.create_index([("submitted_at", ASCENDING)])


def _document(review: Review) -> dict[str, Any]:
    return {
        "_id": review.id,
        "assignment_id": review.assignment_id,
        "target_key": review.target_key,
        "kind": review.kind.value,
        "target_id": review.target_id,
        "reviewer_id": review.reviewer_id,
        "author_id": review.author_id,
        "challenge_id": review.challenge_id,
        "comment": review.comment,
        "scores": dict(review.scores) if review.scores is not None else None,
        "verdict": review.verdict.value if review.verdict else None,
        "submitted_at": review.submitted_at,
        "edited_at": review.edited_at,
        "late": review.late,
        "outside_cohorts": review.outside_cohorts,
        "helpfulness": review.helpfulness,
        "rated_at": review.rated_at,
        "accuracy": review.accuracy,
        "rubric_total": review.rubric_total,
        "round": review.round,
    }


def _review(document: dict[str, Any]) -> Review:
    verdict = document.get("verdict")
    scores = document.get("scores")
    return Review(
        id=document["_id"],
        assignment_id=document["assignment_id"],
        kind=TargetKind(document["kind"]),
        target_id=document["target_id"],
        reviewer_id=document["reviewer_id"],
        author_id=document["author_id"],
        challenge_id=document.get("challenge_id"),
        comment=document["comment"],
        scores=dict(scores) if scores is not None else None,
        verdict=Verdict(verdict) if verdict else None,
        submitted_at=document["submitted_at"],
        edited_at=document.get("edited_at"),
        late=document.get("late", False),
        outside_cohorts=document.get("outside_cohorts", False),
        helpfulness=document.get("helpfulness"),
        rated_at=document.get("rated_at"),
        accuracy=document.get("accuracy"),
        rubric_total=document.get("rubric_total", 0),
        round=document.get("round", 1),
    )


class ReviewRepository(Repository):
    """Reviews, one per assignment."""

    collection_name = REVIEWS

    def add(self, review: Review, events: Sequence[Event] = ()) -> Review:
        """Insert a review with its events; if its assignment has one already, return that one instead."""
        try:
            self._insert(_document(review), events)
        except DuplicateKeyError:
            existing = self.of_assignment(review.assignment_id)
            if existing is None:
                raise
            return existing
        return review

    def get(self, review_id: str) -> Review | None:
        """Return the review or None."""
        document = self.documents.find_one({"_id": review_id}, PUBLIC_PROJECTION)
        return _review(document) if document else None

    def of_assignment(self, assignment_id: str) -> Review | None:
        """Return the assignment's review, if given."""
        document = self.documents.find_one({"assignment_id": assignment_id}, PUBLIC_PROJECTION)
        return _review(document) if document else None

    def of_target(self, kind: str, target_id: str) -> list[Review]:
        """Return a target's reviews in the order they came."""
        cursor = self.documents.find({"target_key": target_key(kind, target_id)}, PUBLIC_PROJECTION).sort(
            [("submitted_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_review(document) for document in cursor]

    def of_reviewer(self, reviewer_id: str, limit: int = 500) -> list[Review]:
        """Return a reviewer's most recent reviews, newest first."""
        cursor = (
            self.documents.find({"reviewer_id": reviewer_id}, PUBLIC_PROJECTION)
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_review(document) for document in cursor]

    def graded_history(self, limit: int) -> list[Review]:
        """Return the most recent reviews of graded targets (those with an accuracy), to learn reviewers from."""
        cursor = (
            self.documents.find({"accuracy": {"$ne": None}, "scores": {"$ne": None}}, PUBLIC_PROJECTION)
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_review(document) for document in cursor]

    def reviewed_targets_since(self, since: datetime) -> list[tuple[TargetKind, str]]:
        """Return the targets reviewed since a moment (kind and id, each once), oldest review first."""
        cursor = self.documents.find({"submitted_at": {"$gte": since}}, {"kind": 1, "target_id": 1}).sort(
            [("submitted_at", ASCENDING), ("_id", ASCENDING)]
        )
        found = {(TargetKind(document["kind"]), document["target_id"]): None for document in cursor}
        return list(found)

    def save(self, review: Review, events: Sequence[Event] = ()) -> bool:
        """Store a review's new content, rating or accuracy with its events; return whether it exists."""
        fields = _document(review)
        fields.pop("_id")
        return self._update({"_id": review.id}, {"$set": fields}, events)

    def record_accuracy(self, accuracy: Mapping[str, float]) -> None:
        """Store how close each review came to its target's consensus."""
        for review_id, value in accuracy.items():
            self.documents.update_one({"_id": review_id}, {"$set": {"accuracy": value}})
