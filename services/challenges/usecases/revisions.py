"""Use cases of knowledge updates: proposing, deciding and verifying revisions of resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.challenges.usecases.context import Context
from shared.contracts.events import Event


def apply_verifications(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Accept or reject revisions that peers verified (`revision.verified`)."""
    raise NotImplementedError
