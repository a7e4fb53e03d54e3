"""MongoDB storage of who takes part in peer review, their cohorts and the tags they are active in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from services.peer_review.domain.allocation import Person
from shared.store import Repository

PEOPLE = "people"


def create_indexes(database: Database[Any]) -> None:
    """Create the index people are found by: the tags they are active in, most recently active first."""
    database[PEOPLE].create_index([("tags", DESCENDING), ("last_active_at", DESCENDING)])


class PeopleRepository(Repository):
    """People seen in peer review: learners who submit and review."""

    collection_name = PEOPLE

    def note_active(self, user_id: str, cohorts: Sequence[str], tags: Sequence[str], now: datetime) -> None:
        """Record that a person took part now, in these cohorts and tags."""
        update: dict[str, Any] = {"$set": {"cohorts": list(cohorts), "last_active_at": now}}
        if tags:
            update["$addToSet"] = {"tags": {"$each": list(tags)}}
        self.documents.update_one({"_id": user_id}, update, upsert=True)

    def active_in(self, tags: Sequence[str], *, limit: int) -> list[Person]:
        """Return people active in any of these tags, most recently active first."""
        if not tags:
            return []
        cursor = self.documents.find({"tags": {"$in": list(tags)}}).sort("last_active_at", DESCENDING).limit(limit)
        return [Person(document["_id"], frozenset(document.get("cohorts", ()))) for document in cursor]

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        """Return the cohorts last seen for these people."""
        if not user_ids:
            return {}
        cursor = self.documents.find({"_id": {"$in": list(user_ids)}}, {"cohorts": 1})
        return {document["_id"]: frozenset(document.get("cohorts", ())) for document in cursor}
