"""MongoDB storage of the challenges service; the only package of this service that talks to MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.database import Database

from services.challenges.repository import challenges, resources, revisions, submissions
from services.challenges.repository.store import Store

# Collections whose documents carry an outbox of events waiting to be published.
OUTBOX_COLLECTIONS = (challenges.CHALLENGES, resources.RESOURCES, submissions.SUBMISSIONS, revisions.REVISIONS)


class Repositories:
    """Every repository of the service over one lazily-indexed database."""

    def __init__(self, database: Callable[[], Database[Any]]) -> None:
        store = Store(
            database,
            [challenges.create_indexes, resources.create_indexes, submissions.create_indexes, revisions.create_indexes],
        )
        self.challenges = challenges.ChallengeRepository(store)
        self.resources = resources.ResourceRepository(store)
        self.submissions = submissions.SubmissionRepository(store)
        self.revisions = revisions.RevisionRepository(store)
