"""Use cases of teachers' challenges: create, edit, publish, close, archive, read and list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.challenges.domain import challenges as rules
from services.challenges.domain.challenges import (
    MAX_PREREQUISITES,
    Challenge,
    ChallengeKind,
    ChallengeQuery,
    ChallengeSort,
    ChallengeStatus,
    Criterion,
    ReviewSettings,
)
from services.challenges.domain.errors import Forbidden, InvalidField, InvalidState, NotFound
from services.challenges.usecases.context import Context
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType
from shared.contracts.vocabulary import rule_points_list
from shared.ids import new_id

CLOSE_BATCH = 100


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def challenge_payload(challenge: Challenge) -> dict[str, Any]:
    """Return what consumers need to know about a challenge (`challenge.published`, `challenge.closed`)."""
    return {
        "challenge_id": challenge.id,
        "owner_id": challenge.owner_id,
        "kind": challenge.kind.value,
        "title": challenge.title,
        "points": challenge.points,
        "rule_points": rule_points_list(challenge.rule_points),
        "tags": list(challenge.tags),
        "cohorts": list(challenge.cohorts),
        "rubric": [{"criterion": c.criterion, "max_score": c.max_score} for c in challenge.rubric],
        "review": {
            "reviewers_per_submission": challenge.review.reviewers_per_submission,
            "due_hours": challenge.review.due_hours,
            "blind": challenge.review.blind,
        },
        "starts_at": _iso(challenge.starts_at),
        "ends_at": _iso(challenge.ends_at),
        "closed_at": _iso(challenge.closed_at),
    }


def _domain_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Turn loaded request fields into the domain's value types."""
    values = dict(fields)
    for name in ("tags", "cohorts", "prerequisites"):
        if name in values:
            values[name] = tuple(values[name])
    if "rubric" in values:
        values["rubric"] = tuple(Criterion(**criterion) for criterion in values["rubric"])
    if "review" in values:
        values["review"] = ReviewSettings(**values["review"])
    if "kind" in values:
        values["kind"] = ChallengeKind(values["kind"])
    return values


def _check_prerequisites(challenge_id: str, prerequisites: tuple[str, ...], context: Context) -> None:
    if not prerequisites:
        return
    if len(prerequisites) > MAX_PREREQUISITES:
        raise InvalidField("prerequisites", f"At most {MAX_PREREQUISITES} prerequisites")
    found = context.challenges.get_many(prerequisites)
    missing = [identifier for identifier in prerequisites if identifier not in found]
    if missing:
        raise InvalidField("prerequisites", f"No challenge with id {missing[0]}")
    not_submission = [identifier for identifier in prerequisites if found[identifier].kind != ChallengeKind.SUBMISSION]
    if not_submission:
        raise InvalidField(
            "prerequisites",
            f"Challenge {not_submission[0]} takes no submissions; a prerequisite is completed by submitting to it",
        )
    if rules.prerequisite_cycle(challenge_id, prerequisites, _reachable_prerequisites(found, context)):
        raise InvalidField("prerequisites", "These prerequisites would make challenges wait on each other")


def _reachable_prerequisites(start: Mapping[str, Challenge], context: Context) -> dict[str, tuple[str, ...]]:
    """Return the prerequisites of every challenge reachable from `start`, reading one level per query."""
    graph = {identifier: challenge.prerequisites for identifier, challenge in start.items()}
    frontier = {needed for needs in graph.values() for needed in needs} - graph.keys()
    while frontier:
        found = context.challenges.get_many(sorted(frontier))
        graph.update(
            {identifier: found[identifier].prerequisites if identifier in found else () for identifier in frontier}
        )
        frontier = {needed for identifier in frontier for needed in graph[identifier]} - graph.keys()
    return graph


def create_challenge(fields: dict[str, Any], *, actor: Principal, context: Context) -> Challenge:
    """Create a draft challenge owned by the calling teacher."""
    now = context.clock()
    values = _domain_values(fields)
    rules.check_window(values.get("starts_at"), values.get("ends_at"))
    challenge = Challenge(id=new_id(), owner_id=actor.user_id, created_at=now, updated_at=now, **values)
    _check_prerequisites(challenge.id, challenge.prerequisites, context)
    context.challenges.add(challenge)
    return challenge.as_seen_at(now)


def get_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Return a challenge the caller may see; to learners, drafts and other cohorts' challenges do not exist."""
    challenge = context.challenges.get(challenge_id)
    if challenge is None or not rules.may_see(challenge, actor.user_id, actor.cohorts, actor.is_staff):
        raise NotFound(f"No challenge with id {challenge_id}")
    return challenge


def read_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Return a challenge as the caller sees it now (a published one past its end reads as closed)."""
    return get_challenge(challenge_id, actor=actor, context=context).as_seen_at(context.clock())


def list_challenges(
    *,
    actor: Principal,
    context: Context,
    limit: int,
    offset: int,
    status: ChallengeStatus | None = None,
    tag: str | None = None,
    kind: ChallengeKind | None = None,
    cohort: str | None = None,
    owner_id: str | None = None,
    open_now: bool | None = None,
    sort: ChallengeSort = ChallengeSort.NEWEST,
) -> tuple[list[Challenge], int]:
    """List the challenges the caller may see: staff see all, learners published ones open to them."""
    query = ChallengeQuery(
        now=context.clock(),
        statuses=(status,) if status else None,
        tag=tag,
        kind=kind,
        cohort=cohort,
        owner_id=owner_id,
        open_now=open_now,
        sort=sort,
    )
    if not actor.is_staff:
        visible = (ChallengeStatus.PUBLISHED, ChallengeStatus.CLOSED)
        statuses = tuple(value for value in visible if status in (None, value))
        query = replace(query, statuses=statuses, open_to_cohorts=actor.cohorts)
    items, total = context.challenges.search(query, limit=limit, offset=offset)
    return [challenge.as_seen_at(query.now) for challenge in items], total


def _managed(challenge_id: str, actor: Principal, context: Context, action: str) -> Challenge:
    challenge = get_challenge(challenge_id, actor=actor, context=context)
    if not rules.may_manage(challenge, actor.user_id, actor.is_admin):
        raise Forbidden(f"Only the challenge's teacher or an admin may {action} it")
    return challenge


def _save(before: Challenge, after: Challenge, events: list[Event], context: Context, now: datetime) -> Challenge:
    if not context.challenges.save(after, before.version, events):
        raise InvalidState("The challenge changed meanwhile; reload it and try again")
    return after.as_seen_at(now)


def edit_challenge(challenge_id: str, changes: dict[str, Any], *, actor: Principal, context: Context) -> Challenge:
    """Edit a challenge: anything while a draft; wording, tags and the window once published."""
    challenge = _managed(challenge_id, actor, context, "edit")
    now = context.clock()
    edited = rules.edit(challenge, _domain_values(changes), now)
    if "prerequisites" in changes:
        _check_prerequisites(challenge.id, edited.prerequisites, context)
    return _save(challenge, edited, [], context, now)


def publish_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Publish a draft; only its teacher or an admin may, and the event rides in the same write."""
    challenge = _managed(challenge_id, actor, context, "publish")
    now = context.clock()
    published = rules.publish(challenge, now)
    event = context.event(EventType.CHALLENGE_PUBLISHED, actor, challenge_payload(published), now)
    return _save(challenge, published, [event], context, now)


def close_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Close a published challenge now (its teacher or an admin); emits `challenge.closed`."""
    challenge = _managed(challenge_id, actor, context, "close")
    now = context.clock()
    if challenge.due_to_close(now):
        raise InvalidState("This challenge closed at its ends_at already")
    closed = rules.close(challenge, now)
    event = context.event(EventType.CHALLENGE_CLOSED, actor, challenge_payload(closed), now)
    return _save(challenge, closed, [event], context, now)


def archive_challenge(challenge_id: str, *, actor: Principal, context: Context) -> Challenge:
    """Archive a draft or closed challenge (its teacher or an admin), taking it off learners' lists."""
    challenge = _managed(challenge_id, actor, context, "archive")
    now = context.clock()
    archived = rules.archive(challenge, now)
    events = []
    if challenge.due_to_close(now):
        events.append(context.event(EventType.CHALLENGE_CLOSED, None, challenge_payload(archived), now))
    return _save(challenge, archived, events, context, now)


def close_due_challenges(*, context: Context, limit: int = CLOSE_BATCH) -> int:
    """Close every published challenge whose `ends_at` has passed; return how many were closed.

    Run on a timer by the worker. Two workers racing on one challenge are safe: only one save matches
    the version both read, so `challenge.closed` is emitted once.
    """
    now = context.clock()
    closed_count = 0
    for challenge in context.challenges.due_to_close(now, limit):
        closed = rules.close(challenge, now)
        event = context.event(EventType.CHALLENGE_CLOSED, None, challenge_payload(closed), now)
        if context.challenges.save(closed, challenge.version, [event]):
            closed_count += 1
    return closed_count
