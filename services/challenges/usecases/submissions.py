"""Use cases of learners' submissions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.challenges.usecases.context import Context
from shared.contracts.events import Event


def record_assignments(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Give reviewers assigned by peer review (`review.assigned`) read access to their submissions."""
    raise NotImplementedError


def record_grades(events: Sequence[tuple[Event, Mapping[str, Any]]], *, context: Context) -> None:
    """Store consensus grades (`target.graded`) on submissions."""
    raise NotImplementedError
