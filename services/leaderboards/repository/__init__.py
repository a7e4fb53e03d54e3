"""Storage of the leaderboards service: in MongoDB the ledger (the source of truth), people, badges and the
inbox; in Redis the batches on their way to the boards (and, in `boards`, the boards)."""

from __future__ import annotations

from services.leaderboards.repository import badges, inbox, ledger, pending, people, viewing
from shared.runtime import Runtime


class MongoRepositories:
    """Every repository of the service over one lazily-indexed store."""

    def __init__(self, runtime: Runtime) -> None:
        indexes = [ledger.create_indexes, badges.create_indexes, inbox.create_indexes]
        self.store = runtime.store(indexes)
        self.ledger = ledger.LedgerRepository(self.store)
        self.people = people.PeopleRepository(self.store, lambda: runtime.redis.connection)
        self.pending = pending.PendingBatches(lambda: runtime.redis.connection)
        self.view_tokens = viewing.RedisViewTokens(lambda: runtime.redis.connection)
        self.badges = badges.BadgeRepository(self.store)
        self.inbox = inbox.InboxRepository(self.store)
