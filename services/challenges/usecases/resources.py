"""Use cases of the knowledge commons: sharing, reading and searching resources."""

from __future__ import annotations

from typing import Any

from services.challenges.domain.challenges import check_accepting
from services.challenges.domain.errors import NotFound
from services.challenges.domain.resources import Resource, ResourceQuery, canonicalize_url
from services.challenges.repository.resources import RESOURCES
from services.challenges.repository.store import new_id
from services.challenges.usecases.challenges import get_challenge
from services.challenges.usecases.context import Context
from shared.contracts.auth import Principal
from shared.contracts.events import EventType


def share_resource(fields: dict[str, Any], *, actor: Principal, context: Context) -> Resource:
    """Share a new resource; the same page shared again is refused and earns nothing."""
    canonical_url = canonicalize_url(fields["url"])
    challenge_id = fields.get("challenge_id")
    now = context.clock()
    if challenge_id is not None:
        check_accepting(get_challenge(challenge_id, actor=actor, context=context), now)
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
