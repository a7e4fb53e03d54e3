"""The capped Redis Stream the leaderboards publish on: `points.awarded`, `badge.earned`, `level.reached`.

These events have no single consumer that must exist (live pages, later webhooks), so they are not queued
but appended to one stream, trimmed to about `STREAM_MAXLEN` messages. A message holds the event's type and
its whole envelope as JSON, so a reader needs nothing but this module to parse it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from shared.contracts.events import Event, EventType

LEADERBOARD_STREAM = "events:leaderboards"
# Roughly how many messages the stream keeps (Redis trims whole nodes, so a little more may stay).
STREAM_MAXLEN = 100_000
STREAM_EVENT_TYPES = frozenset({EventType.POINTS_AWARDED, EventType.BADGE_EARNED, EventType.LEVEL_REACHED})


def stream_fields(event: Event) -> dict[str, str]:
    """Return the fields of the stream message that carries an event."""
    return {"type": event.type, "event": json.dumps(event.to_dict(), separators=(",", ":"), sort_keys=True)}


def event_from_stream(fields: Mapping[bytes | str, bytes | str]) -> Event:
    """Return the event a stream message carries (InvalidEvent if it is not one)."""
    raw = fields.get(b"event", fields.get("event"))
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return Event.from_dict(json.loads(text))
