"""Use cases of the knowledge commons over the in-memory fakes: sharing, freshness, endorsing and flagging.

The fakes honour the conditions the MongoDB repositories do (`tests/integration/test_challenges_repositories.py`
runs one contract over both); what reaches consumers is what `world.log` recorded a write dispatching.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.challenges.domain.challenges import ChallengeKind, ChallengeStatus
from services.challenges.domain.errors import DuplicateResource, Forbidden, InvalidState, NotFound
from services.challenges.domain.resources import MAX_FLAGS, Flag, FlagReason, FreshnessPolicy, FreshnessState, Resource
from services.challenges.usecases import resources as usecases
from shared.contracts.auth import Principal
from shared.contracts.payloads import load_payload
from shared.ids import new_id
from tests.builders import NOW, learner, make_challenge, make_flag, make_resource, make_submission, teacher
from tests.fakes.challenges import FakeWorld

ALICE = learner("alice", "c1")
BOB = learner("bob", "c2")
CAROL = learner("carol", "c3")
ZOE = learner("zoe", "c4")
NOTE = "Pluto was reclassified as a dwarf planet in 2006."


def _share(world: FakeWorld, actor: Principal = ALICE, **fields: Any) -> Resource:
    body = {
        "url": f"https://example.org/pluto/{new_id()}",
        "title": "Pluto",
        "summary": "Pluto is the ninth planet.",
        "tags": ["astronomy"],
        **fields,
    }
    return usecases.share_resource(body, actor=actor, context=world.context())


def _endorse(world: FakeWorld, resource: Resource, actor: Principal) -> dict[str, Any]:
    return usecases.endorse_resource(resource.id, actor=actor, context=world.context())


def _flag(world: FakeWorld, resource: Resource, actor: Principal, reason: str = "outdated", note: str = NOTE) -> Flag:
    return usecases.flag_resource(resource.id, {"reason": reason, "note": note}, actor=actor, context=world.context())


def _stored(world: FakeWorld, resource: Resource) -> Resource:
    stored = world.resources.get(resource.id)
    assert stored is not None
    return stored


# ---------------------------------------------------------------------------------------------------------------
# Sharing


def test_a_shared_resource_is_stored_fresh_at_version_1_and_announced_with_its_canonical_url(
    world: FakeWorld,
) -> None:
    resource = _share(world, url="  HTTPS://WWW.Example.org/Pluto/?utm_source=feed#top ")
    assert (resource.url, resource.canonical_url) == (
        "HTTPS://WWW.Example.org/Pluto/?utm_source=feed#top",
        "https://example.org/Pluto",
    )
    assert (resource.owner_id, resource.cohorts, resource.version, resource.endorsement_count) == (
        "alice",
        ("c1",),
        1,
        0,
    )
    assert (resource.flags, resource.decisions, resource.created_at, resource.updated_at) == ((), (), NOW, NOW)
    assert resource.freshness.state == FreshnessState.FRESH
    assert (resource.last_verified_at, resource.review_by) == (NOW, NOW + timedelta(days=365))
    assert _stored(world, resource) == resource
    (event,) = world.log.events
    assert (event.type, event.actor_id, event.occurred_at) == ("resource.shared", "alice", NOW)
    assert load_payload(event.type, event.data) == {
        "resource_id": resource.id,
        "owner_id": "alice",
        "url": resource.url,
        "canonical_url": "https://example.org/Pluto",
        "title": "Pluto",
        "tags": ["astronomy"],
        "cohorts": ["c1"],
        "challenge_id": None,
        "rule_points": [],
    }


def test_the_same_page_shared_again_is_refused_naming_the_first_and_announces_nothing(world: FakeWorld) -> None:
    first = _share(world, url="https://example.org/wiki/Pluto")
    with pytest.raises(DuplicateResource) as refused:
        _share(world, BOB, url="http://www.example.org/wiki/Pluto/?utm_source=feed")
    assert refused.value.existing_id == first.id
    assert refused.value.details == {"existing_id": first.id}
    assert list(world.resources.items) == [first.id]
    assert world.log.types() == ["resource.shared"]


def test_a_resource_is_due_for_review_after_its_own_interval_else_its_tags_shortest_else_the_default(
    world: FakeWorld,
) -> None:
    world.freshness = FreshnessPolicy(default_days=200, days_by_tag={"news": 14, "software": 90})
    own = _share(world, tags=["news"], review_interval_days=30)
    by_tags = _share(world, tags=["software", "news"])
    by_default = _share(world, tags=["astronomy"])
    assert (own.review_interval_days, own.review_by) == (30, NOW + timedelta(days=30))
    assert (by_tags.review_interval_days, by_tags.review_by) == (None, NOW + timedelta(days=14))
    assert by_default.review_by == NOW + timedelta(days=200)


def test_a_resource_reads_stale_from_the_moment_its_review_is_due(world: FakeWorld) -> None:
    resource = _share(world, review_interval_days=10)
    world.now = NOW + timedelta(days=10) - timedelta(milliseconds=1)
    assert usecases.read_resource(resource.id, context=world.context()).freshness.state == FreshnessState.FRESH
    world.now = NOW + timedelta(days=10)
    assert usecases.read_resource(resource.id, context=world.context()).freshness.state == FreshnessState.STALE
    items, _ = usecases.list_resources(context=world.context(), limit=10, offset=0, stale=True)
    assert [(item.id, item.freshness.state) for item in items] == [(resource.id, FreshnessState.STALE)]


def test_sharing_to_a_challenge_waits_for_its_prerequisites_except_for_staff(world: FakeWorld) -> None:
    first = make_challenge()
    sharing = make_challenge(kind=ChallengeKind.RESOURCE, prerequisites=(first.id,))
    world.challenges.add(first)
    world.challenges.add(sharing)
    with pytest.raises(InvalidState) as refused:
        _share(world, challenge_id=sharing.id)
    assert refused.value.details == {"missing_prerequisites": [first.id]}
    assert world.resources.items == {}
    assert world.log.events == []
    assert _share(world, teacher(), challenge_id=sharing.id).challenge_id == sharing.id
    world.submissions.add(make_submission(first, "alice"))
    shared = _share(world, challenge_id=sharing.id)
    assert shared.challenge_id == sharing.id
    assert world.log.events[-1].data["challenge_id"] == sharing.id


@pytest.mark.parametrize(
    ("challenge", "error"),
    [
        (make_challenge(kind=ChallengeKind.RESOURCE, ends_at=NOW - timedelta(minutes=1)), InvalidState),
        (make_challenge(kind=ChallengeKind.RESOURCE, starts_at=NOW + timedelta(hours=1)), InvalidState),
        (make_challenge(kind=ChallengeKind.RESOURCE, status=ChallengeStatus.DRAFT, published_at=None), NotFound),
        (make_challenge(kind=ChallengeKind.RESOURCE, cohorts=("7b",)), NotFound),
        (None, NotFound),
    ],
    ids=["ended", "not-started", "draft", "another-cohort", "unknown"],
)
def test_sharing_to_a_challenge_the_learner_cannot_take_part_in_is_refused(
    world: FakeWorld, challenge: Any, error: type[Exception]
) -> None:
    if challenge is not None:
        world.challenges.add(challenge)
    with pytest.raises(error):
        _share(world, challenge_id=challenge.id if challenge else "0" * 24)
    assert world.resources.items == {}
    assert world.log.events == []


# ---------------------------------------------------------------------------------------------------------------
# Endorsements


def test_an_endorsement_counts_once_per_person_and_is_announced_without_a_count(world: FakeWorld) -> None:
    resource = _share(world)
    world.now = NOW + timedelta(hours=1)
    assert _endorse(world, resource, BOB) == {
        "resource_id": resource.id,
        "user_id": "bob",
        "endorsement_count": 1,
        "created_at": NOW + timedelta(hours=1),
    }
    assert _endorse(world, resource, CAROL)["endorsement_count"] == 2
    assert usecases.read_resource(resource.id, context=world.context()).endorsement_count == 2
    events = world.log.of_type("resource.endorsed")
    assert [event.actor_id for event in events] == ["bob", "carol"]
    assert all("endorsement_count" not in event.data for event in events)
    assert load_payload(events[0].type, events[0].data) == {
        "resource_id": resource.id,
        "owner_id": "alice",
        "endorser_id": "bob",
        "tags": ["astronomy"],
        "cohorts": ["c2"],
        "challenge_id": None,
        "rule_points": [],
    }


def test_nobody_endorses_their_own_resource(world: FakeWorld) -> None:
    resource = _share(world)
    with pytest.raises(Forbidden):
        _endorse(world, resource, ALICE)
    assert _stored(world, resource).endorsement_count == 0
    assert world.log.of_type("resource.endorsed") == []


def test_endorsing_twice_is_refused_and_counts_once(world: FakeWorld) -> None:
    resource = _share(world)
    _endorse(world, resource, BOB)
    with pytest.raises(InvalidState):
        _endorse(world, resource, BOB)
    assert _stored(world, resource).endorsement_count == 1
    assert len(world.log.of_type("resource.endorsed")) == 1


def test_an_endorsement_racing_anothers_answers_the_count_with_both(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = _share(world)
    original = world.resources.endorse

    def zoe_endorses_first(*args: Any, **kwargs: Any) -> int | None:
        monkeypatch.setattr(world.resources, "endorse", original)
        _endorse(world, resource, ZOE)
        return original(*args, **kwargs)

    monkeypatch.setattr(world.resources, "endorse", zoe_endorses_first)
    assert _endorse(world, resource, BOB)["endorsement_count"] == 2
    assert [event.data["endorser_id"] for event in world.log.of_type("resource.endorsed")] == ["zoe", "bob"]
    assert world.resources.has_endorsed(resource.id, "zoe") and world.resources.has_endorsed(resource.id, "bob")


def test_two_simultaneous_endorsements_by_one_person_count_once(
    world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = _share(world)
    original = world.resources.endorse

    def the_same_request_lands_first(*args: Any, **kwargs: Any) -> int | None:
        monkeypatch.setattr(world.resources, "endorse", original)
        _endorse(world, resource, BOB)
        return original(*args, **kwargs)

    monkeypatch.setattr(world.resources, "endorse", the_same_request_lands_first)
    with pytest.raises(InvalidState):
        _endorse(world, resource, BOB)
    assert _stored(world, resource).endorsement_count == 1
    assert len(world.log.of_type("resource.endorsed")) == 1


def test_endorsing_or_flagging_an_unknown_resource_is_not_found(world: FakeWorld) -> None:
    with pytest.raises(NotFound):
        usecases.endorse_resource("0" * 24, actor=BOB, context=world.context())
    with pytest.raises(NotFound):
        usecases.flag_resource("0" * 24, {"reason": "broken", "note": NOTE}, actor=BOB, context=world.context())
    assert world.log.events == []


# ---------------------------------------------------------------------------------------------------------------
# Flags


def test_a_flag_is_open_on_the_resource_and_announced(world: FakeWorld) -> None:
    resource = _share(world)
    world.now = NOW + timedelta(hours=1)
    flag = _flag(world, resource, BOB)
    assert (flag.reason, flag.note, flag.user_id, flag.created_at, flag.is_open) == (
        FlagReason.OUTDATED,
        NOTE,
        "bob",
        NOW + timedelta(hours=1),
        True,
    )
    read = usecases.read_resource(resource.id, context=world.context())
    assert (read.open_flags, read.open_flag_reasons) == ((flag,), (FlagReason.OUTDATED,))
    (event,) = world.log.of_type("resource.flagged")
    assert event.actor_id == "bob"
    assert load_payload(event.type, event.data) == {
        "resource_id": resource.id,
        "owner_id": "alice",
        "flag_id": flag.id,
        "flagger_id": "bob",
        "reason": "outdated",
        "note": NOTE,
        "tags": ["astronomy"],
        "cohorts": ["c2"],
        "challenge_id": None,
        "rule_points": [],
    }


def test_the_same_person_cannot_repeat_an_open_flag_and_is_told_which_it_is(world: FakeWorld) -> None:
    resource = _share(world)
    first = _flag(world, resource, BOB)
    with pytest.raises(InvalidState) as refused:
        _flag(world, resource, BOB, note="Still outdated")
    assert refused.value.details == {"flag_id": first.id}
    assert _stored(world, resource).flags == (first,)
    assert len(world.log.of_type("resource.flagged")) == 1


def test_other_reasons_and_other_people_may_flag_too(world: FakeWorld) -> None:
    resource = _share(world)
    for actor, reason in [(BOB, "outdated"), (BOB, "broken"), (CAROL, "outdated"), (ALICE, "inaccurate")]:
        _flag(world, resource, actor, reason)
    read = usecases.read_resource(resource.id, context=world.context())
    assert [(flag.user_id, flag.reason.value) for flag in read.open_flags] == [
        ("bob", "outdated"),
        ("bob", "broken"),
        ("carol", "outdated"),
        ("alice", "inaccurate"),
    ]
    assert set(read.open_flag_reasons) == {FlagReason.OUTDATED, FlagReason.BROKEN, FlagReason.INACCURATE}
    assert len(world.log.of_type("resource.flagged")) == 4


def test_a_resource_holds_at_most_the_flag_cap_resolved_flags_included(world: FakeWorld) -> None:
    resolved = [make_flag(user_id=f"flagger-{n}", resolved_at=NOW, resolved_by_revision="r1") for n in range(10)]
    open_ = [make_flag(user_id=f"flagger-{n}") for n in range(10, MAX_FLAGS)]
    resource = make_resource(flags=(*resolved, *open_))
    world.resources.add(resource)
    with pytest.raises(InvalidState):
        _flag(world, resource, BOB)
    assert _stored(world, resource).flags == resource.flags
    assert world.log.events == []


def test_a_flag_racing_anothers_is_added_after_reading_again(world: FakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = _share(world)
    original = world.resources.add_flag

    def zoe_flags_first(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(world.resources, "add_flag", original)
        _flag(world, resource, ZOE, "broken")
        return original(*args, **kwargs)

    monkeypatch.setattr(world.resources, "add_flag", zoe_flags_first)
    flag = _flag(world, resource, BOB)
    zoes, bobs = _stored(world, resource).open_flags
    assert ((zoes.user_id, zoes.reason), bobs) == (("zoe", FlagReason.BROKEN), flag)
    assert [event.data["flag_id"] for event in world.log.of_type("resource.flagged")] == [zoes.id, flag.id]


def test_the_same_flag_sent_twice_at_once_is_added_once(world: FakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = _share(world)
    original = world.resources.add_flag

    def the_same_request_lands_first(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(world.resources, "add_flag", original)
        _flag(world, resource, BOB)
        return original(*args, **kwargs)

    monkeypatch.setattr(world.resources, "add_flag", the_same_request_lands_first)
    with pytest.raises(InvalidState) as refused:
        _flag(world, resource, BOB)
    (flag,) = _stored(world, resource).flags
    assert refused.value.details == {"flag_id": flag.id}
    assert len(world.log.of_type("resource.flagged")) == 1


def test_flagging_gives_up_when_the_resource_keeps_changing(world: FakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = _share(world)
    attempts: list[str] = []

    def always_raced(*args: Any, **kwargs: Any) -> bool:
        attempts.append("missed")
        return False

    monkeypatch.setattr(world.resources, "add_flag", always_raced)
    with pytest.raises(InvalidState):
        _flag(world, resource, BOB)
    assert len(attempts) == usecases.FLAG_ATTEMPTS
    assert _stored(world, resource).flags == ()
    assert world.log.of_type("resource.flagged") == []
