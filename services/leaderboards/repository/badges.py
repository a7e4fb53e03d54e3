"""MongoDB storage of earned badges: one document per learner, badge and tier, with its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from services.leaderboards.domain.badges import EarnedBadge
from shared.store import Repository

BADGES = "badges"


def create_indexes(database: Database[Any]) -> None:
    """Badges are read per learner."""
    database[BADGES].create_index([("user_id", ASCENDING), ("badge", ASCENDING), ("tier", ASCENDING)])


def _earned(document: dict[str, Any]) -> EarnedBadge:
    return EarnedBadge(
        user_id=document["user_id"],
        badge=document["badge"],
        tier=document["tier"],
        threshold=document["threshold"],
        earned_at=document["earned_at"],
        evidence=tuple(document.get("evidence", ())),
    )


class BadgeRepository(Repository):
    """Earned badges; each tier once, whatever is replayed."""

    collection_name = BADGES

    def add_many(self, earned: Sequence[EarnedBadge]) -> int:
        """Record earned tiers in one bulk write, skipping those recorded; return how many were new."""
        documents = [
            (
                {
                    "_id": badge.key,
                    "user_id": badge.user_id,
                    "badge": badge.badge,
                    "tier": badge.tier,
                    "threshold": badge.threshold,
                    "earned_at": badge.earned_at,
                    "evidence": list(badge.evidence),
                },
                (),
            )
            for badge in earned
        ]
        return len(self._store.insert_many(BADGES, documents))

    def of_users(self, user_ids: Sequence[str]) -> list[EarnedBadge]:
        """Return the tiers these learners earned, oldest first."""
        if not user_ids:
            return []
        cursor = self.documents.find({"user_id": {"$in": list(user_ids)}}).sort([("earned_at", ASCENDING)])
        return [_earned(document) for document in cursor]
