"""MongoDB storage of proposed revisions of resources (knowledge updates)."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from services.challenges.repository.store import Store

REVISIONS = "revisions"


def create_indexes(database: Database[Any]) -> None:
    """Create the indexes revisions are read by."""


class RevisionRepository:
    """Proposed revisions of resources."""

    def __init__(self, store: Store) -> None:
        self._store = store
