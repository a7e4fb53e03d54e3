"""Use cases of the knowledge commons: sharing, reading, searching, endorsing and flagging resources."""

from __future__ import annotations

from typing import Any

from services.challenges.domain import resources as rules
from services.challenges.domain.challenges import check_accepting
from services.challenges.domain.errors import InvalidState, NotFound
from services.challenges.domain.resources import Flag, FlagReason, Resource, ResourceQuery, ResourceSort
from services.challenges.domain.submissions import check_prerequisites
from services.challenges.domain.urls import canonicalize_url
from services.challenges.repository.resources import RESOURCES
from services.challenges.repository.store import new_id
from services.challenges.usecases.challenges import get_challenge
from services.challenges.usecases.context import Context
from shared.contracts.auth import Principal
from shared.contracts.events import EventType

# Concurrent endorsements of one resource make an endorsement's conditional write miss; it then tries again.
ENDORSE_ATTEMPTS = 20


def share_resource(fields: dict[str, Any], *, actor: Principal, context: Context) -> Resource:
    """Share a new resource; the same page shared again is refused and earns nothing."""
    canonical_url = canonicalize_url(fields["url"])
    challenge_id = fields.get("challenge_id")
    now = context.clock()
    if challenge_id is not None:
        challenge = get_challenge(challenge_id, actor=actor, context=context)
        check_accepting(challenge, now)
        if not actor.is_staff:
            # Sharing to a challenge is taking part in it: its prerequisites apply as to submitting.
            satisfied = context.repositories.submissions.submitted_challenges(actor.user_id, challenge.prerequisites)
            check_prerequisites(challenge.prerequisites, satisfied)
    tags = tuple(fields.get("tags", ()))
    review_interval_days = fields.get("review_interval_days")
    resource = Resource(
        id=new_id(),
        owner_id=actor.user_id,
        url=fields["url"].strip(),
        canonical_url=canonical_url,
        title=fields["title"],
        summary=fields.get("summary", ""),
        tags=tags,
        cohorts=actor.cohorts,
        challenge_id=challenge_id,
        created_at=now,
        updated_at=now,
        last_verified_at=now,
        review_by=context.freshness.review_by(now, tags, review_interval_days),
        review_interval_days=review_interval_days,
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
    return resource.as_seen_at(now)


def get_resource(resource_id: str, *, context: Context) -> Resource:
    """Return a resource as stored (the commons is readable by every signed-in user)."""
    resource = context.repositories.resources.get(resource_id)
    if resource is None:
        raise NotFound(f"No resource with id {resource_id}")
    return resource


def read_resource(resource_id: str, *, context: Context) -> Resource:
    """Return a resource with its freshness as of now."""
    return get_resource(resource_id, context=context).as_seen_at(context.clock())


def list_resources(
    *,
    context: Context,
    limit: int,
    offset: int,
    tag: str | None = None,
    text: str | None = None,
    stale: bool | None = None,
    flagged: bool | None = None,
    flag: FlagReason | None = None,
    owner_id: str | None = None,
    challenge_id: str | None = None,
    sort: ResourceSort = ResourceSort.NEWEST,
) -> tuple[list[Resource], int]:
    """Search resources by tag, text, freshness and flags, in the order asked for."""
    query = ResourceQuery(
        now=context.clock(),
        tag=tag,
        text=text,
        stale=stale,
        flagged=flagged,
        flag=flag,
        owner_id=owner_id,
        challenge_id=challenge_id,
        sort=sort,
    )
    items, total = context.repositories.resources.search(query, limit=limit, offset=offset)
    return [resource.as_seen_at(query.now) for resource in items], total


def _audience(resource: Resource, actor: Principal) -> dict[str, Any]:
    """Return where points for an action on a resource land: the actor's cohorts, the resource's tags and challenge."""
    return {"tags": list(resource.tags), "cohorts": list(actor.cohorts), "challenge_id": resource.challenge_id}


def endorse_resource(resource_id: str, *, actor: Principal, context: Context) -> dict[str, Any]:
    """Endorse someone else's resource, once per person; emits `resource.endorsed` (points for the owner)."""
    repository = context.repositories.resources
    for _attempt in range(ENDORSE_ATTEMPTS):
        resource = get_resource(resource_id, context=context)
        rules.check_endorsement(resource, actor.user_id, already_endorsed=False)
        now = context.clock()
        count = resource.endorsement_count + 1
        event = context.event(
            EventType.RESOURCE_ENDORSED,
            actor,
            {
                "resource_id": resource.id,
                "owner_id": resource.owner_id,
                "endorser_id": actor.user_id,
                "endorsement_count": count,
                **_audience(resource, actor),
            },
            now,
        )
        if repository.endorse(resource, actor.user_id, [event], now):
            context.outbox.dispatch(RESOURCES, resource.id, [event])
            return {"resource_id": resource.id, "user_id": actor.user_id, "endorsement_count": count, "created_at": now}
        # The write missed: already endorsed (409), or someone else endorsed meanwhile (try again).
        rules.check_endorsement(
            resource, actor.user_id, already_endorsed=repository.has_endorsed(resource_id, actor.user_id)
        )
    raise InvalidState("This resource is being endorsed by many people at once; try again")


def flag_resource(resource_id: str, fields: dict[str, Any], *, actor: Principal, context: Context) -> Flag:
    """Flag a resource as outdated, broken or inaccurate with a note; emits `resource.flagged`."""
    resource = get_resource(resource_id, context=context)
    reason = FlagReason(fields["reason"])
    rules.check_flag(resource, actor.user_id, reason)
    now = context.clock()
    flag = Flag(id=new_id(), reason=reason, note=fields["note"], user_id=actor.user_id, created_at=now)
    event = context.event(
        EventType.RESOURCE_FLAGGED,
        actor,
        {
            "resource_id": resource.id,
            "owner_id": resource.owner_id,
            "flag_id": flag.id,
            "flagger_id": actor.user_id,
            "reason": reason.value,
            "note": flag.note,
            **_audience(resource, actor),
        },
        now,
    )
    if not context.repositories.resources.add_flag(resource.id, flag, [event], now):
        # Someone's write came first: tell which rule the stored resource now breaks.
        rules.check_flag(get_resource(resource_id, context=context), actor.user_id, reason)
        raise InvalidState("The resource changed meanwhile; try again")
    context.outbox.dispatch(RESOURCES, resource.id, [event])
    return flag
