"""Use cases of the knowledge commons: sharing, reading, searching, endorsing and flagging resources."""

from __future__ import annotations

from typing import Any

from services.challenges.domain import resources as rules
from services.challenges.domain.challenges import check_accepting
from services.challenges.domain.errors import InvalidState, NotFound
from services.challenges.domain.resources import Flag, FlagReason, Resource, ResourceQuery, ResourceSort
from services.challenges.domain.submissions import check_prerequisites
from services.challenges.domain.urls import canonicalize_url
from services.challenges.usecases.challenges import get_challenge
from services.challenges.usecases.context import Context
from shared.contracts.auth import Principal
from shared.contracts.events import EventType
from shared.contracts.vocabulary import rule_points_list
from shared.ids import new_id

# Flags arriving at once make a flag's conditional write miss (it pins the flags it read); it then reads again.
FLAG_ATTEMPTS = 5


def share_resource(fields: dict[str, Any], *, actor: Principal, context: Context) -> Resource:
    """Share a new resource; the same page shared again is refused and earns nothing."""
    canonical_url = canonicalize_url(fields["url"])
    challenge_id = fields.get("challenge_id")
    now = context.clock()
    rule_points: list[dict[str, Any]] = []
    if challenge_id is not None:
        challenge = get_challenge(challenge_id, actor=actor, context=context)
        rule_points = rule_points_list(challenge.rule_points)
        check_accepting(challenge, now)
        if not actor.is_staff:
            # Sharing to a challenge is taking part in it: its prerequisites apply as to submitting.
            satisfied = context.submissions.submitted_challenges(actor.user_id, challenge.prerequisites)
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
            "rule_points": rule_points,
        },
        now,
    )
    context.resources.add(resource, [event])
    return resource.as_seen_at(now)


def get_resource(resource_id: str, *, context: Context) -> Resource:
    """Return a resource as stored (the commons is readable by every signed-in user)."""
    resource = context.resources.get(resource_id)
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
    items, total = context.resources.search(query, limit=limit, offset=offset)
    return [resource.as_seen_at(query.now) for resource in items], total


def _audience(resource: Resource, actor: Principal) -> dict[str, Any]:
    """Return where points for an action on a resource land: the actor's cohorts, the resource's tags and challenge."""
    return {"tags": list(resource.tags), "cohorts": list(actor.cohorts), "challenge_id": resource.challenge_id}


def endorse_resource(resource_id: str, *, actor: Principal, context: Context) -> dict[str, Any]:
    """Endorse someone else's resource, once per person; emits `resource.endorsed` (points for the owner).

    One conditional write: it adds the endorsement only if the endorser is neither the owner nor an
    endorser yet, and stores the event with it.
    """
    resource = get_resource(resource_id, context=context)
    repository = context.resources
    rules.check_endorsement(resource, actor.user_id, already_endorsed=False)
    now = context.clock()
    event = context.event(
        EventType.RESOURCE_ENDORSED,
        actor,
        {
            "resource_id": resource.id,
            "owner_id": resource.owner_id,
            "endorser_id": actor.user_id,
            **_audience(resource, actor),
        },
        now,
        # Once per endorser: two writes both acknowledged (FerretDB) still announce one endorsement.
        fact=(resource.id, actor.user_id),
    )
    count = repository.endorse(resource.id, actor.user_id, [event])
    if count is None:
        # The write matched nothing: endorsed already (409), or the resource is gone (404).
        rules.check_endorsement(
            resource, actor.user_id, already_endorsed=repository.has_endorsed(resource_id, actor.user_id)
        )
        get_resource(resource_id, context=context)
        raise InvalidState("The resource changed meanwhile; try again")
    return {"resource_id": resource.id, "user_id": actor.user_id, "endorsement_count": count, "created_at": now}


def flag_resource(resource_id: str, fields: dict[str, Any], *, actor: Principal, context: Context) -> Flag:
    """Flag a resource as outdated, broken or inaccurate with a note; emits `resource.flagged`."""
    reason = FlagReason(fields["reason"])
    for _attempt in range(FLAG_ATTEMPTS):
        resource = get_resource(resource_id, context=context)
        now = context.clock()
        flag = Flag(id=new_id(), reason=reason, note=fields["note"], user_id=actor.user_id, created_at=now)
        flagged = rules.add_flag(resource, flag)
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
        if context.resources.add_flag(resource, flagged, flag, [event]):
            return flag
    raise InvalidState("The resource is being flagged by many people at once; try again")
