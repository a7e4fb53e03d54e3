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
        """Record the cohorts events named; only what changed is written (a steady batch writes nothing)."""
        if not cohorts:
            return
        known = self.cohorts_of(sorted(cohorts))
        changed = {user: list(named) for user, named in cohorts.items() if tuple(named) != known.get(user, ())}
        for user_id, named in changed.items():
            self._store.collection(PEOPLE).update_one({"_id": user_id}, {"$set": {"cohorts": named}}, upsert=True)
        if changed:
            self._connection().hset(COHORTS_KEY, mapping={user: json.dumps(named) for user, named in changed.items()})

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
