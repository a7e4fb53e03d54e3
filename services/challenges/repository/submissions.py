"""MongoDB storage of learners' submissions (one document per learner and challenge, versions inside)."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from services.challenges.repository.store import Store

SUBMISSIONS = "submissions"


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes submissions are read by."""


class SubmissionRepository:
    """Submissions."""

    def __init__(self, store: Store) -> None:
        self._store = store
