"""Use cases of the challenges service: one function each, dependencies keyword-only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from services.challenges.domain import (
    Challenge,
    ChallengeQuery,
    ChallengeStatus,
    Criterion,
    Forbidden,
    InvalidState,
    NotFound,
    Resource,
    ResourceQuery,
    ReviewSettings,
    canonicalize_url,
    check_window,
    may_manage,
    may_see,
    publish,
)
from services.challenges.repository import CHALLENGES, RESOURCES, Repositories, new_id
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType

PRODUCER = "challenges"


class Dispatcher(Protocol):
    """Publishes events already stored in a document's outbox."""

    def dispatch(self, collection: str, document_id: Any, events: Sequence[Event]) -> bool: ...


@dataclass
class Context:
    """What every use case needs: storage, the outbox, a clock and the current request id."""

    repositories: Repositories
    outbox: Dispatcher
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    request_id: Callable[[], str | None] = field(default=lambda: None)

    def event(self, event_type: EventType, actor: Principal, data: dict[str, Any], now: datetime) -> Event:
        """Make an event of this service, stamped with the request id that caused it."""
        return Event(
            type=event_type,
            producer=PRODUCER,
            actor_id=actor.user_id,
            data=data,
            occurred_at=now,
            request_id=self.request_id(),
        )


def create_challenge(fields: dict[str, Any], *, actor: Principal, context: Context) -> Challenge:
    """Create a draft challenge owned by the calling teacher."""
    now = context.clock()
    check_window(fields.get("starts_at"), fields.get("ends_at"))
    review = fields.get("review") or {}
    challenge = Challenge(
        id=new_id(),
        owner_id=actor.user_id,
        title=fields["title"],
        description=fields["description"],
        created_at=now,
        updated_at=now,
        kind=fields.get("kind", Challenge.kind),
        tags=tuple(fields.get("tags", ())),
        cohorts=tuple(fields.get("cohorts", ())),
        points=fields.get("points", Challenge.points),
        rubric=tuple(Criterion(**criterion) for criterion in fields.get("rubric", ())),
        starts_at=fields.get("starts_at"),
        ends_at=fields.get("ends_at"),
        review=ReviewSettings(**review),
    )
    context.repositories.challenges.add(challenge)
    return challenge


def get_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Return a challenge the caller may see; others' drafts do not exist for learners."""
    challenge = context.repositories.challenges.get(challenge_id)
    if challenge is None or not may_see(challenge, actor.user_id, actor.cohorts, actor.is_staff):
        raise NotFound(f"No challenge with id {challenge_id}")
    return challenge


def list_challenges(
    *,
    actor: Principal,
    context: Context,
    status: ChallengeStatus | None = None,
    tag: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Challenge], int]:
    """List the challenges the caller may see: staff see all, learners published ones open to them."""
    if actor.is_staff:
        query = ChallengeQuery(statuses=(status,) if status else None, tag=tag)
    else:
        visible = (ChallengeStatus.PUBLISHED, ChallengeStatus.CLOSED)
        statuses = tuple(value for value in visible if status in (None, value))
        query = ChallengeQuery(statuses=statuses, tag=tag, open_to_cohorts=actor.cohorts)
    return context.repositories.challenges.search(query, limit=limit, offset=offset)


def publish_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Publish a draft; only its teacher or an admin may, and the event rides in the same write."""
    challenge = get_challenge(challenge_id, actor=actor, context=context)
    if not may_manage(challenge, actor.user_id, actor.is_admin):
        raise Forbidden("Only the challenge's teacher or an admin may publish it")
    now = context.clock()
    published = publish(challenge, now)
    event = context.event(
        EventType.CHALLENGE_PUBLISHED,
        actor,
        {
            "challenge_id": published.id,
            "owner_id": published.owner_id,
            "kind": published.kind.value,
            "title": published.title,
            "points": published.points,
            "tags": list(published.tags),
            "cohorts": list(published.cohorts),
            "rubric": [{"criterion": c.criterion, "max_score": c.max_score} for c in published.rubric],
            "review": {
                "reviewers_per_submission": published.review.reviewers_per_submission,
                "due_hours": published.review.due_hours,
                "blind": published.review.blind,
            },
            "starts_at": published.starts_at.isoformat() if published.starts_at else None,
            "ends_at": published.ends_at.isoformat() if published.ends_at else None,
        },
        now,
    )
    if not context.repositories.challenges.replace_status(published, challenge.status, [event], now):
        raise InvalidState("The challenge changed while publishing it; reload and try again")
    context.outbox.dispatch(CHALLENGES, published.id, [event])
    return published


def share_resource(fields: dict[str, Any], *, actor: Principal, context: Context) -> Resource:
    """Share a new resource; the same page shared again is refused and earns nothing."""
    canonical_url = canonicalize_url(fields["url"])
    challenge_id = fields.get("challenge_id")
    if challenge_id is not None:
        challenge = get_challenge(challenge_id, actor=actor, context=context)
        if challenge.status != ChallengeStatus.PUBLISHED:
            raise InvalidState("Resources can be shared to a challenge only while it is published")
    now = context.clock()
    resource = Resource(
        id=new_id(),
        owner_id=actor.user_id,
        url=fields["url"].strip(),
        canonical_url=canonical_url,
        title=fields["title"],
        summary=fields.get("summary", ""),
        tags=tuple(fields.get("tags", ())),
        cohorts=actor.cohorts,
        challenge_id=challenge_id,
        created_at=now,
    )
    event = context.event(
        EventType.RESOURCE_SHARED,
        actor,
        {
            "resource_id": resource.id,
            "owner_id": resource.owner_id,
            "url": resource.url,
            "canonical_url": resource.canonical_url,
            "title": resource.title,
            "tags": list(resource.tags),
            "cohorts": list(resource.cohorts),
            "challenge_id": resource.challenge_id,
        },
        now,
    )
    context.repositories.resources.add(resource, [event])
    context.outbox.dispatch(RESOURCES, resource.id, [event])
    return resource


def get_resource(resource_id: str, *, context: Context) -> Resource:
    """Return a resource (the commons is readable by every signed-in user)."""
    resource = context.repositories.resources.get(resource_id)
    if resource is None:
        raise NotFound(f"No resource with id {resource_id}")
    return resource


def list_resources(*, context: Context, tag: str | None = None, limit: int, offset: int) -> tuple[list[Resource], int]:
    """List resources, newest first."""
    return context.repositories.resources.search(ResourceQuery(tag=tag), limit=limit, offset=offset)
