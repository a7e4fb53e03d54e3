"""Events as their producers emit them, for the leaderboards' unit tests: each with the fields its payload needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.contracts.events import Event, EventType
from shared.ids import new_id
from tests.builders import NOW

AN_HOUR_AGO = NOW - timedelta(hours=1)


def event(event_type: EventType, at: datetime, data: Mapping[str, Any]) -> Event:
    return Event(type=event_type, producer="tests", actor_id=None, data=dict(data), occurred_at=at)


def shared(owner: str, at: datetime = AN_HOUR_AGO, cohorts: Sequence[str] = (), **data: Any) -> Event:
    resource_id = data.pop("resource_id", new_id())
    return event(
        EventType.RESOURCE_SHARED,
        at,
        {
            "resource_id": resource_id,
            "owner_id": owner,
            "url": f"https://example.org/{resource_id}",
            "canonical_url": f"https://example.org/{resource_id}",
            "title": "Pluto",
            "cohorts": list(cohorts),
            **data,
        },
    )


def endorsed(owner: str, endorser: str, resource_id: str, at: datetime = AN_HOUR_AGO, **data: Any) -> Event:
    return event(
        EventType.RESOURCE_ENDORSED,
        at,
        {"resource_id": resource_id, "owner_id": owner, "endorser_id": endorser, **data},
    )


def decided(
    accepted: bool,
    proposer: str,
    *,
    verifiers: Sequence[str] = (),
    decided_by: str = "peers",
    flagged_outdated: bool = False,
    at: datetime = AN_HOUR_AGO,
) -> Event:
    """Return a revision's decision: accepted or rejected, by whom, with its verifiers."""
    return event(
        EventType.RESOURCE_REVISION_ACCEPTED if accepted else EventType.RESOURCE_REVISION_REJECTED,
        at,
        {
            "revision_id": new_id(),
            "resource_id": new_id(),
            "owner_id": "olga",
            "proposer_id": proposer,
            "changed_fields": ["summary"],
            "base_version": 1,
            "flagged_outdated": flagged_outdated,
            "decided_by": decided_by,
            "verifier_ids": list(verifiers),
        },
    )


def reviewed(reviewer: str, at: datetime = AN_HOUR_AGO, author_cohorts: Sequence[str] = (), **data: Any) -> Event:
    return event(
        EventType.REVIEW_SUBMITTED,
        at,
        {
            "assignment_id": new_id(),
            "target_kind": "submission",
            "target_id": new_id(),
            "reviewer_id": reviewer,
            "review_id": new_id(),
            "author_id": "zoe",
            "late": False,
            "outside_cohorts": False,
            "author_cohorts": list(author_cohorts),
            **data,
        },
    )


def rated(reviewer: str, helpfulness: int, at: datetime = AN_HOUR_AGO, review_id: str | None = None) -> Event:
    return event(
        EventType.REVIEW_RATED,
        at,
        {
            "assignment_id": new_id(),
            "target_kind": "submission",
            "target_id": new_id(),
            "reviewer_id": reviewer,
            "review_id": review_id or new_id(),
            "author_id": "zoe",
            "helpfulness": helpfulness,
        },
    )


def graded(
    author: str,
    *,
    grade: float,
    points: int | None = 40,
    target_id: str | None = None,
    reviews: Sequence[Mapping[str, Any]] = (),
    at: datetime = AN_HOUR_AGO,
    **data: Any,
) -> Event:
    return event(
        EventType.TARGET_GRADED,
        at,
        {
            "target_kind": "submission",
            "target_id": target_id or new_id(),
            "author_id": author,
            "grade": grade,
            "points": points,
            "reviews": [dict(review) for review in reviews],
            **data,
        },
    )


def review_of(reviewer: str, accuracy: float, **data: Any) -> dict[str, Any]:
    return {"review_id": new_id(), "reviewer_id": reviewer, "accuracy": accuracy, **data}
