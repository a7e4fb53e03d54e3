"""MongoDB storage of learners' submissions (one document per learner and challenge, versions inside)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.challenges.domain.submissions import (
    DuplicateSubmission,
    Grade,
    Submission,
    SubmissionQuery,
    SubmissionStatus,
    SubmissionVersion,
)
from shared.contracts.events import Event
from shared.store import PUBLIC_PROJECTION, Repository, find_page

SUBMISSIONS = "submissions"
# Reads of a submission leave its past versions (up to 50 of them) on the server.
_CURRENT_PROJECTION = {**PUBLIC_PROJECTION, "versions": 0}
# The fields a save may change; grades and reviewers are written only by their own events.
_SAVED_FIELDS = ("content", "links", "version", "status", "submitted_at", "updated_at", "withdrawn_at")
_WITHDRAWN = SubmissionStatus.WITHDRAWN.value


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes submissions are read by; one submission per learner and challenge."""
    submissions = database[SUBMISSIONS]
    submissions.create_index(
        [("challenge_id", ASCENDING), ("author_id", ASCENDING)], unique=True, name="challenge_author_unique"
    )
    submissions.create_index([("challenge_id", ASCENDING), ("created_at", DESCENDING)])
    submissions.create_index([("author_id", ASCENDING), ("created_at", DESCENDING)])
    submissions.create_index([("challenge_owner_id", ASCENDING), ("created_at", DESCENDING)])
    submissions.create_index([("challenge_id", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)])


def _version_document(version: SubmissionVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "content": version.content,
        "links": list(version.links),
        "submitted_at": version.submitted_at,
    }


def _version(document: dict[str, Any]) -> SubmissionVersion:
    return SubmissionVersion(
        version=document["version"],
        content=document["content"],
        links=tuple(document.get("links", ())),
        submitted_at=document["submitted_at"],
    )


def _grade_document(grade: Grade) -> dict[str, Any]:
    return {
        "grade": grade.grade,
        "scores": dict(grade.scores),
        "feedback": grade.feedback,
        "review_count": grade.review_count,
        "overridden": grade.overridden,
        "version": grade.version,
        "graded_at": grade.graded_at,
        "event_id": grade.event_id,
    }


def _grade(document: dict[str, Any] | None) -> Grade | None:
    if not document:
        return None
    return Grade(
        grade=document["grade"],
        graded_at=document["graded_at"],
        event_id=document["event_id"],
        scores=dict(document.get("scores") or {}),
        feedback=document.get("feedback", ""),
        review_count=document.get("review_count", 0),
        overridden=document.get("overridden", False),
        version=document.get("version"),
    )


def _saved_fields(submission: Submission) -> dict[str, Any]:
    return {
        "content": submission.content,
        "links": list(submission.links),
        "version": submission.version,
        "status": submission.status.value,
        "submitted_at": submission.submitted_at,
        "updated_at": submission.updated_at,
        "withdrawn_at": submission.withdrawn_at,
    }


def _document(submission: Submission) -> dict[str, Any]:
    return {
        "_id": submission.id,
        "challenge_id": submission.challenge_id,
        "author_id": submission.author_id,
        "challenge_owner_id": submission.challenge_owner_id,
        "blind": submission.blind,
        "created_at": submission.created_at,
        **_saved_fields(submission),
        "versions": [_version_document(submission.current_version)],
        "reviewer_ids": list(submission.reviewer_ids),
        "grade": None,
    }


def _submission(document: dict[str, Any]) -> Submission:
    return Submission(
        id=document["_id"],
        challenge_id=document["challenge_id"],
        author_id=document["author_id"],
        challenge_owner_id=document["challenge_owner_id"],
        blind=document.get("blind", True),
        content=document["content"],
        links=tuple(document.get("links", ())),
        created_at=document["created_at"],
        submitted_at=document["submitted_at"],
        updated_at=document["updated_at"],
        version=document["version"],
        status=SubmissionStatus(document["status"]),
        withdrawn_at=document.get("withdrawn_at"),
        reviewer_ids=tuple(document.get("reviewer_ids", ())),
        grade=_grade(document.get("grade")),
    )


class SubmissionRepository(Repository):
    """Submissions, one document per learner and challenge holding every version and pending events."""

    collection_name = SUBMISSIONS

    def add(self, submission: Submission, events: Sequence[Event] = ()) -> None:
        """Insert a first submission with its events; raise DuplicateSubmission naming the learner's existing one."""
        try:
            self._insert(_document(submission), events)
        except DuplicateKeyError:
            existing = self.find_by_author(submission.challenge_id, submission.author_id)
            raise DuplicateSubmission(existing.id if existing else "") from None

    def get(self, submission_id: str) -> Submission | None:
        """Return the submission (its current version) or None."""
        document = self.documents.find_one({"_id": submission_id}, _CURRENT_PROJECTION)
        return _submission(document) if document else None

    def find_by_author(self, challenge_id: str, author_id: str) -> Submission | None:
        """Return the learner's submission to the challenge, if any."""
        document = self.documents.find_one({"challenge_id": challenge_id, "author_id": author_id}, _CURRENT_PROJECTION)
        return _submission(document) if document else None

    def versions(self, submission_id: str) -> list[SubmissionVersion]:
        """Return every version of the submission, oldest first (none if it does not exist)."""
        document = self.documents.find_one({"_id": submission_id}, {"versions": 1})
        return [_version(version) for version in (document or {}).get("versions", ())]

    def save(
        self,
        submission: Submission,
        *,
        expected_version: int,
        was_withdrawn: bool,
        events: Sequence[Event] = (),
    ) -> bool:
        """Save a changed submission if it is still as it was read; return whether it was saved.

        The filter names the version and whether it was withdrawn, so two concurrent revisions cannot
        both become the next version, and a withdrawal racing a revision loses (or wins) whole. A new
        version is appended to the kept versions in the same write.
        """
        update: dict[str, Any] = {"$set": _saved_fields(submission)}
        if submission.version != expected_version:
            update["$push"] = {"versions": _version_document(submission.current_version)}
        status = _WITHDRAWN if was_withdrawn else {"$ne": _WITHDRAWN}
        filters = {"_id": submission.id, "version": expected_version, "status": status}
        return self._update(filters, update, events)

    def save_grade(self, before: Submission, after: Submission) -> bool:
        """Store `after`'s grade and status if the submission still holds `before`'s grade and status.

        Which grade replaces which is the domain's rule (`record_grade`); this write only makes sure
        nothing changed the grade or the status in between.
        """
        if after.grade is None:
            raise ValueError("save_grade stores a grade")
        held = {"grade": None} if before.grade is None else {"grade.event_id": before.grade.event_id}
        filters = {"_id": before.id, "status": before.status.value, **held}
        update = {"$set": {"grade": _grade_document(after.grade), "status": after.status.value}}
        return self._update(filters, update)

    def submitted_challenges(self, author_id: str, challenge_ids: Sequence[str]) -> set[str]:
        """Return which of these challenges the learner has a standing (not withdrawn) submission to."""
        if not challenge_ids:
            return set()
        documents = self.documents.find(
            {"challenge_id": {"$in": list(challenge_ids)}, "author_id": author_id, "status": {"$ne": _WITHDRAWN}},
            {"challenge_id": 1},
        )
        return {document["challenge_id"] for document in documents}

    def search(self, query: SubmissionQuery, *, limit: int, offset: int) -> tuple[list[Submission], int]:
        """Return a page of matching submissions, newest first, and how many match in all."""
        filters: dict[str, Any] = {}
        if query.challenge_id is not None:
            filters["challenge_id"] = query.challenge_id
        if query.author_id is not None:
            filters["author_id"] = query.author_id
        if query.challenge_owner_id is not None:
            filters["challenge_owner_id"] = query.challenge_owner_id
        if query.status is not None:
            filters["status"] = query.status.value
        documents, total = find_page(
            self.documents,
            filters,
            projection=_CURRENT_PROJECTION,
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
            limit=limit,
            offset=offset,
        )
        return [_submission(document) for document in documents], total

    def add_reviewer(self, submission_id: str, reviewer_id: str) -> bool:
        """Let a reviewer read the submission unless their access was revoked; return whether it exists.

        Peer review never assigns a reviewer to a target twice, so a revocation is final, whichever of the
        two events arrives first.
        """
        self.documents.update_one(
            {"_id": submission_id, "revoked_reviewer_ids": {"$ne": reviewer_id}},
            {"$addToSet": {"reviewer_ids": reviewer_id}},
        )
        return self.documents.count_documents({"_id": submission_id}, limit=1) == 1

    def remove_reviewer(self, submission_id: str, reviewer_id: str) -> bool:
        """Take a reviewer's read access away for good (a repeat changes nothing); return whether it exists."""
        result = self.documents.update_one(
            {"_id": submission_id},
            {"$pull": {"reviewer_ids": reviewer_id}, "$addToSet": {"revoked_reviewer_ids": reviewer_id}},
        )
        return result.matched_count == 1
