"""MongoDB storage of what peer review knows of each challenge: its teacher and whether submissions closed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.store import Repository

CHALLENGES = "challenges"


class ChallengeRepository(Repository):
    """Challenges as peer review sees them."""

    collection_name = CHALLENGES

    def note(self, challenge_id: str, owner_id: str, cohorts: Sequence[str] = ()) -> None:
        """Record a challenge, its teacher and its audience (no cohorts: everyone)."""
        self.documents.update_one(
            {"_id": challenge_id}, {"$set": {"owner_id": owner_id, "cohorts": list(cohorts)}}, upsert=True
        )

    def close(self, challenge_id: str, owner_id: str, closed_at: datetime) -> None:
        """Record that a challenge's submissions closed (the first time counts)."""
        self.documents.update_one(
            {"_id": challenge_id},
            {"$set": {"owner_id": owner_id}, "$min": {"closed_at": closed_at}},
            upsert=True,
        )

    def closed_at(self, challenge_id: str) -> datetime | None:
        """Return when the challenge's submissions closed, if they did."""
        document: dict[str, Any] | None = self.documents.find_one({"_id": challenge_id}, {"closed_at": 1})
        return document.get("closed_at") if document else None

    def cohorts_of(self, challenge_id: str) -> tuple[str, ...] | None:
        """Return the challenge's audience (empty: everyone), or None if the challenge is unknown."""
        document: dict[str, Any] | None = self.documents.find_one({"_id": challenge_id}, {"cohorts": 1})
        return tuple(document.get("cohorts", ())) if document else None

    def owner_of(self, challenge_id: str) -> str | None:
        """Return the challenge's teacher, if known."""
        document: dict[str, Any] | None = self.documents.find_one({"_id": challenge_id}, {"owner_id": 1})
        return document.get("owner_id") if document else None
