"""MongoDB storage of learners as the leaderboards know them: their cohorts and the days they earned points on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from pymongo.database import Database

from shared.store import Repository

PEOPLE = "people"


def create_indexes(database: Database[Any]) -> None:
    """People are read by id only."""


class PeopleRepository(Repository):
    """Learners' cohorts, as events last named them, and their active days (for streaks)."""

    collection_name = PEOPLE

    def note(self, cohorts: Mapping[str, Sequence[str]], active_days: Mapping[str, Iterable[date]]) -> None:
        """Record the cohorts events named and the days learners earned points on.

        One read finds what is known already; only what changed is written (one update per learner whose
        cohorts changed or who is active on a new day), so a steady batch writes nothing here.
        """
        users = sorted(set(cohorts) | set(active_days))
        if not users:
            return
        known = {document["_id"]: document for document in self.documents.find({"_id": {"$in": users}})}
        for user_id in users:
            document = known.get(user_id, {})
            update: dict[str, Any] = {}
            if user_id in cohorts and list(cohorts[user_id]) != document.get("cohorts"):
                update["$set"] = {"cohorts": list(cohorts[user_id])}
            days = sorted({day.isoformat() for day in active_days.get(user_id, ())} - set(document.get("days", ())))
            if days:
                update["$addToSet"] = {"days": {"$each": days}}
            if update:
                self.documents.update_one({"_id": user_id}, update, upsert=True)

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Return the cohorts last seen for these users (absent users are not in the answer)."""
        if not user_ids:
            return {}
        cursor = self.documents.find({"_id": {"$in": list(user_ids)}}, {"cohorts": 1})
        return {document["_id"]: tuple(document.get("cohorts", ())) for document in cursor}

    def active_days(self, user_ids: Sequence[str]) -> dict[str, set[date]]:
        """Return the days these users earned points on."""
        if not user_ids:
            return {}
        cursor = self.documents.find({"_id": {"$in": list(user_ids)}}, {"days": 1})
        return {document["_id"]: {date.fromisoformat(day) for day in document.get("days", ())} for document in cursor}
