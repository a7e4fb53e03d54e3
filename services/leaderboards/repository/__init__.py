"""MongoDB storage of the leaderboards service: the ledger (the source of truth), people, badges, the inbox."""

from __future__ import annotations

from services.leaderboards.repository import badges, inbox, ledger, people
from shared.runtime import Runtime


class MongoRepositories:
    """Every repository of the service over one lazily-indexed store."""

    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.store(
            [ledger.create_indexes, people.create_indexes, badges.create_indexes, inbox.create_indexes]
        )
        self.ledger = ledger.LedgerRepository(self.store)
        self.people = people.PeopleRepository(self.store)
        self.badges = badges.BadgeRepository(self.store)
        self.inbox = inbox.InboxRepository(self.store)
