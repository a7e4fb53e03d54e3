"""Redis storage of the read-only tokens a teacher mints for a classroom screen: one key a token, expiring."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import redis

from services.leaderboards.domain.viewing import ViewGrant

VIEW_TOKEN_PREFIX = "lbv:token:"  # noqa: S105 - a key prefix, not a secret


class RedisViewTokens:
    """Opaque tokens, each naming one board, who minted it and until when (Redis expires them then)."""

    def __init__(self, connection: Callable[[], redis.Redis]) -> None:
        self._connection = connection

    def mint(self, board: str, granted_by: str, now: datetime, lifetime: timedelta) -> ViewGrant:
        """Store a new token for the board; return its grant."""
        grant = ViewGrant(secrets.token_urlsafe(24), board, granted_by, now + lifetime)
        document = {"board": board, "granted_by": granted_by, "expires_at": grant.expires_at.isoformat()}
        self._connection().set(
            f"{VIEW_TOKEN_PREFIX}{grant.token}", json.dumps(document), ex=max(1, int(lifetime.total_seconds()))
        )
        return grant

    def find(self, token: str) -> ViewGrant | None:
        """Return the grant of a token, or None for a token never minted or expired."""
        raw = self._connection().get(f"{VIEW_TOKEN_PREFIX}{token}")
        if raw is None:
            return None
        document = json.loads(raw)
        return ViewGrant(
            token, document["board"], document["granted_by"], datetime.fromisoformat(document["expires_at"])
        )
