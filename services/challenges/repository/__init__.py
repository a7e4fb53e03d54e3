"""MongoDB storage of the challenges service; the only package of this service that talks to MongoDB."""

from __future__ import annotations

from services.challenges.repository import challenges, resources, revisions, submissions
from shared.runtime import Runtime

# Collections whose documents carry an outbox of events waiting to be published.
OUTBOX_COLLECTIONS = (challenges.CHALLENGES, resources.RESOURCES, submissions.SUBMISSIONS, revisions.REVISIONS)


class MongoRepositories:
    """Every repository of the service over one lazily-indexed store."""

    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.store(
            [challenges.create_indexes, resources.create_indexes, submissions.create_indexes, revisions.create_indexes],
            outbox_collections=OUTBOX_COLLECTIONS,
        )
        self.challenges = challenges.ChallengeRepository(self.store)
        self.resources = resources.ResourceRepository(self.store)
        self.submissions = submissions.SubmissionRepository(self.store)
        self.revisions = revisions.RevisionRepository(self.store)
