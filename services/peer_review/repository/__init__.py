"""MongoDB storage of the peer-review service; the only package of this service that talks to MongoDB."""

from __future__ import annotations

from services.peer_review.repository import assignments, challenges, people, reviews, targets
from shared.runtime import Runtime

# Collections whose documents carry an outbox of events waiting to be published.
OUTBOX_COLLECTIONS = (targets.TARGETS, assignments.ASSIGNMENTS, reviews.REVIEWS)


class MongoRepositories:
    """Every repository of the service over one lazily-indexed store."""

    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.store(
            [targets.create_indexes, assignments.create_indexes, reviews.create_indexes, people.create_indexes],
            outbox_collections=OUTBOX_COLLECTIONS,
        )
        self.targets = targets.TargetRepository(self.store)
        self.assignments = assignments.AssignmentRepository(self.store)
        self.reviews = reviews.ReviewRepository(self.store)
        self.people = people.PeopleRepository(self.store)
        self.challenges = challenges.ChallengeRepository(self.store)
