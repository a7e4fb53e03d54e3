"""Learners as the leaderboards know them: the cohorts events last named (points land on their boards).

MongoDB holds them; Redis keeps a copy (`lbp:cohorts`, one field per learner, outside the boards' `lb:`
keys so a rebuild leaves it) that every batch reads in one round trip. A learner Redis does not know is
read from MongoDB by id and copied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
from pymongo.database import Database

from shared.store import Store

PEOPLE = "people"
COHORTS_KEY = "lbp:cohorts"


def create_indexes(database: Database[Any]) -> None:
    """People are read by id only."""


class PeopleRepository:
    """Learners' cohorts, as events last named them."""

    collection_name = PEOPLE

    def __init__(self, store: Store, connection: Callable[[], redis.Redis]) -> None:
        self._store = store
        self._connection = connection

    def note(self, cohorts: Mapping[str, Sequence[str]]) -> None:
        """Record the cohorts events named; only what changed is written (a steady batch writes nothing).

        Learners Redis does not know are most often new: they go to MongoDB in one bulk insert, and only
        those it knew already (Redis lost its copy) are updated one by one, as are learners whose cohorts
        changed.
        """
        if not cohorts:
            return
        users = sorted(cohorts)
        cached: dict[str, Any] = dict(zip(users, self._connection().hmget(COHORTS_KEY, users), strict=True))
        unknown = [user for user in users if cached[user] is None]
        changed = [
            user for user in users if cached[user] is not None and json.loads(cached[user]) != list(cohorts[user])
        ]
        inserted: set[str] = set()
        if unknown:
            documents = [({"_id": user, "cohorts": list(cohorts[user])}, ()) for user in unknown]
            inserted = {str(user) for user in self._store.insert_many(PEOPLE, documents)}
        for user_id in [*changed, *(user for user in unknown if user not in inserted)]:
            self._store.collection(PEOPLE).update_one(
                {"_id": user_id}, {"$set": {"cohorts": list(cohorts[user_id])}}, upsert=True
            )
        written = [*changed, *unknown]
        if written:
            self._connection().hset(COHORTS_KEY, mapping={user: json.dumps(list(cohorts[user])) for user in written})

    def cohorts_of(self, user_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Return the cohorts last seen for these users (a user never named has none)."""
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}
        cached = self._connection().hmget(COHORTS_KEY, wanted)
        found: dict[str, tuple[str, ...]] = {}
        missing: dict[str | bytes, str] = {}
        for user_id, value in zip(wanted, cached, strict=True):
            if value is None:
                document = self._store.collection(PEOPLE).find_one({"_id": user_id})
                named = list(document.get("cohorts", ())) if document else []
                missing[user_id] = json.dumps(named)
                found[user_id] = tuple(named)
            else:
                found[user_id] = tuple(json.loads(value))
        if missing:
            self._connection().hset(COHORTS_KEY, mapping=dict(missing.items()))
        return {user: named for user, named in found.items() if named}
