"""Producer and consumers agree on every named value an event carries: each one the challenges service can
emit passes the consumers' payload validation, and the validators accept exactly the shared vocabulary."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import validate

from services.challenges.domain.challenges import ChallengeKind
from services.challenges.domain.resources import DecidedBy, FlagReason
from services.challenges.usecases import challenges, resources, revisions
from shared.contracts import vocabulary
from shared.contracts.events import EventType
from shared.contracts.payloads import (
    ChallengeData,
    ResourceFlaggedData,
    ResourceRevisionData,
    ReviewAssignedData,
    RevisionVerifiedData,
    TargetGradedData,
    load_payload,
)
from tests.builders import admin, learner, teacher
from tests.fakes.challenges import FakeWorld


def only_event(world: FakeWorld, event_type: EventType) -> dict[str, Any]:
    (event,) = world.log.of_type(event_type)
    return load_payload(event.type, event.data)


@pytest.mark.parametrize("kind", list(ChallengeKind))
def test_every_challenge_kind_the_producer_publishes_is_accepted_by_consumers(world: FakeWorld, kind: str) -> None:
    created = challenges.create_challenge(
        {"title": "T", "description": "D", "kind": kind}, actor=teacher(), context=world.context()
    )
    challenges.publish_challenge(created.id, actor=teacher(), context=world.context())
    assert only_event(world, EventType.CHALLENGE_PUBLISHED)["kind"] == kind


@pytest.mark.parametrize("reason", list(FlagReason))
def test_every_flag_reason_the_producer_emits_is_accepted_by_consumers(world: FakeWorld, reason: str) -> None:
    shared = resources.share_resource(
        {"url": "https://example.org/a", "title": "A"}, actor=learner(), context=world.context()
    )
    resources.flag_resource(shared.id, {"reason": reason, "note": "n"}, actor=learner("bob"), context=world.context())
    assert only_event(world, EventType.RESOURCE_FLAGGED)["reason"] == reason


@pytest.mark.parametrize(
    ("decider", "decided_by"),
    [
        ("owner", DecidedBy.OWNER),
        ("teacher", DecidedBy.TEACHER),
        ("admin", DecidedBy.ADMIN),
        ("peers", DecidedBy.PEERS),
    ],
)
def test_every_kind_of_decider_the_producer_names_is_accepted_by_consumers(
    world: FakeWorld, decider: str, decided_by: str
) -> None:
    shared = resources.share_resource(
        {"url": "https://example.org/a", "title": "A"}, actor=learner(), context=world.context()
    )
    proposed = revisions.propose_revision(
        shared.id, {"summary": "New", "note": "Why"}, actor=learner("bob"), context=world.context()
    )
    if decider == "peers":
        verdict = {
            "revision_id": proposed.id,
            "resource_id": shared.id,
            "verdict": "approve",
            "verifier_ids": ["c", "d"],
            "reasons": [],
        }
        event = world.context().event(EventType.REVISION_VERIFIED, None, verdict, world.now)
        revisions.apply_verifications([(event, load_payload(event.type, event.data))], context=world.context())
    else:
        actor = {"owner": learner(), "teacher": teacher(), "admin": admin()}[decider]
        revisions.decide_revision(shared.id, proposed.id, {"decision": "accept"}, actor=actor, context=world.context())
    assert only_event(world, EventType.RESOURCE_REVISION_ACCEPTED)["decided_by"] == decided_by


@pytest.mark.parametrize(
    ("schema", "field", "vocabulary_class"),
    [
        (ChallengeData, "kind", vocabulary.ChallengeKind),
        (ResourceFlaggedData, "reason", vocabulary.FlagReason),
        (ResourceRevisionData, "decided_by", vocabulary.DecidedBy),
        (ReviewAssignedData, "target_kind", vocabulary.TargetKind),
        (TargetGradedData, "target_kind", vocabulary.TargetKind),
        (RevisionVerifiedData, "verdict", vocabulary.Verdict),
    ],
)
def test_consumers_validate_each_named_value_by_the_shared_vocabulary(
    schema: type, field: str, vocabulary_class: type
) -> None:
    (one_of,) = [rule for rule in schema().fields[field].validators if isinstance(rule, validate.OneOf)]
    assert list(one_of.choices) == vocabulary.values(vocabulary_class)


def test_the_challenges_domain_uses_the_shared_vocabulary_itself() -> None:
    assert ChallengeKind is vocabulary.ChallengeKind
    assert FlagReason is vocabulary.FlagReason
    assert DecidedBy is vocabulary.DecidedBy


def test_a_proposed_revision_carries_the_change_itself_to_its_verifiers(world: FakeWorld) -> None:
    shared = resources.share_resource(
        {"url": "https://example.org/a", "title": "A"}, actor=learner(), context=world.context()
    )
    fields = {"title": "B", "note": "Renamed", "sources": ["https://example.org/src"]}
    revisions.propose_revision(shared.id, fields, actor=learner("bob"), context=world.context())
    payload = only_event(world, EventType.RESOURCE_REVISION_PROPOSED)
    assert payload["changes"] == {"title": {"old": "A", "new": "B"}}
    assert (payload["note"], payload["sources"]) == ("Renamed", ["https://example.org/src"])
