"""MongoDB storage of challenges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.challenges.domain.challenges import (
    Challenge,
    ChallengeKind,
    ChallengeQuery,
    ChallengeSort,
    ChallengeStatus,
    Criterion,
    ReviewSettings,
)
from shared.contracts.events import Event
from shared.contracts.vocabulary import rule_points_list, rule_points_map
from shared.store import PUBLIC_PROJECTION, Repository, find_page

CHALLENGES = "challenges"
# Challenges without an end sort after every dated one when ordering by `ends_at`.
_NO_END = datetime(9999, 12, 31, tzinfo=UTC)
_SORTS: dict[ChallengeSort, list[tuple[str, int]]] = {
    ChallengeSort.NEWEST: [("created_at", DESCENDING), ("_id", DESCENDING)],
    ChallengeSort.OLDEST: [("created_at", ASCENDING), ("_id", ASCENDING)],
    ChallengeSort.ENDING_SOONEST: [("_ends_sort", ASCENDING), ("_id", ASCENDING)],
    ChallengeSort.ENDING_LATEST: [("_ends_sort", DESCENDING), ("_id", DESCENDING)],
    ChallengeSort.TITLE: [("title", ASCENDING), ("_id", ASCENDING)],
}


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes challenges are read by."""
    challenges = database[CHALLENGES]
    challenges.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
    challenges.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)])
    challenges.create_index([("status", ASCENDING), ("ends_at", ASCENDING)])


def _document(challenge: Challenge) -> dict[str, Any]:
    document = asdict(challenge)
    document["_id"] = document.pop("id")
    document.pop("open_now")
    document["kind"] = challenge.kind.value
    document["status"] = challenge.status.value
    document["tags"] = list(challenge.tags)
    document["cohorts"] = list(challenge.cohorts)
    document["prerequisites"] = list(challenge.prerequisites)
    document["rubric"] = [asdict(criterion) for criterion in challenge.rubric]
    document["rule_points"] = rule_points_list(challenge.rule_points)
    document["_ends_sort"] = challenge.ends_at or _NO_END
    return document


def _challenge(document: dict[str, Any]) -> Challenge:
    return Challenge(
        id=document["_id"],
        owner_id=document["owner_id"],
        title=document["title"],
        description=document["description"],
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        kind=ChallengeKind(document["kind"]),
        tags=tuple(document.get("tags", ())),
        cohorts=tuple(document.get("cohorts", ())),
        points=document["points"],
        rule_points=rule_points_map(document.get("rule_points")),
        rubric=tuple(Criterion(**criterion) for criterion in document.get("rubric", ())),
        starts_at=document.get("starts_at"),
        ends_at=document.get("ends_at"),
        review=ReviewSettings(**document.get("review", {})),
        prerequisites=tuple(document.get("prerequisites", ())),
        status=ChallengeStatus(document["status"]),
        published_at=document.get("published_at"),
        closed_at=document.get("closed_at"),
        archived_at=document.get("archived_at"),
        version=document.get("version", 1),
    )


def _status_filter(status: ChallengeStatus, now: datetime) -> dict[str, Any]:
    """Match challenges whose status as of `now` is `status` (published ones past their end are closed)."""
    if status == ChallengeStatus.PUBLISHED:
        return {"status": status.value, "$or": [{"ends_at": None}, {"ends_at": {"$gt": now}}]}
    if status == ChallengeStatus.CLOSED:
        return {"$or": [{"status": status.value}, {"status": "published", "ends_at": {"$lte": now}}]}
    return {"status": status.value}


def _open_filter(now: datetime) -> dict[str, Any]:
    return {
        "status": ChallengeStatus.PUBLISHED.value,
        "$and": [
            {"$or": [{"starts_at": None}, {"starts_at": {"$lte": now}}]},
            {"$or": [{"ends_at": None}, {"ends_at": {"$gt": now}}]},
        ],
    }


def _filters(query: ChallengeQuery) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = []
    if query.statuses is not None:
        # No status at all (a learner asking for drafts) matches nothing; MongoDB refuses an empty $or.
        by_status = [_status_filter(status, query.now) for status in query.statuses]
        clauses.append({"$or": by_status} if by_status else {"status": {"$in": []}})
    if query.tag is not None:
        clauses.append({"tags": query.tag})
    if query.kind is not None:
        clauses.append({"kind": query.kind.value})
    if query.owner_id is not None:
        clauses.append({"owner_id": query.owner_id})
    if query.cohort is not None:
        clauses.append({"$or": [{"cohorts": {"$size": 0}}, {"cohorts": query.cohort}]})
    if query.open_to_cohorts is not None:
        clauses.append({"$or": [{"cohorts": {"$size": 0}}, {"cohorts": {"$in": list(query.open_to_cohorts)}}]})
    if query.open_now is True:
        clauses.append(_open_filter(query.now))
    elif query.open_now is False:
        clauses.append({"$nor": [_open_filter(query.now)]})
    return {"$and": clauses} if clauses else {}


class ChallengeRepository(Repository):
    """Challenges, stored one document each."""

    collection_name = CHALLENGES

    def add(self, challenge: Challenge, events: Sequence[Event] = ()) -> None:
        """Insert a new challenge together with the events announcing it."""
        self._insert(_document(challenge), events)

    def get(self, challenge_id: str) -> Challenge | None:
        """Return the challenge or None."""
        document = self.documents.find_one({"_id": challenge_id}, PUBLIC_PROJECTION)
        return _challenge(document) if document else None

    def get_many(self, challenge_ids: Sequence[str]) -> dict[str, Challenge]:
        """Return the challenges that exist among these ids, by id."""
        if not challenge_ids:
            return {}
        documents = self.documents.find({"_id": {"$in": list(challenge_ids)}}, PUBLIC_PROJECTION)
        return {document["_id"]: _challenge(document) for document in documents}

    def save(self, challenge: Challenge, expected_version: int, events: Sequence[Event] = ()) -> bool:
        """Save a changed challenge with its events if nobody saved it since `expected_version`; return whether."""
        fields = _document(challenge)
        for name in ("_id", "created_at", "owner_id"):
            fields.pop(name)
        return self._update({"_id": challenge.id, "version": expected_version}, {"$set": fields}, events)

    def due_to_close(self, now: datetime, limit: int) -> list[Challenge]:
        """Return published challenges whose `ends_at` has passed, oldest end first."""
        cursor = (
            self.documents.find({"status": "published", "ends_at": {"$lte": now}}, PUBLIC_PROJECTION)
            .sort([("ends_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_challenge(document) for document in cursor]

    def search(self, query: ChallengeQuery, *, limit: int, offset: int) -> tuple[list[Challenge], int]:
        """Return a page of matching challenges in the query's order, and how many match in all."""
        filters = _filters(query)
        documents, total = find_page(
            self.documents, filters, projection=PUBLIC_PROJECTION, sort=_SORTS[query.sort], limit=limit, offset=offset
        )
        return [_challenge(document) for document in documents], total
