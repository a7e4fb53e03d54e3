"""Use cases of knowledge updates over the in-memory fakes: proposing, deciding, peers' verdicts, crashes.

A revision is decided once, on its resource: whatever arrives later (another decision, a redelivered
`revision.verified`, a retried request) leaves that decision as it is, and `world.log` holds exactly one
of `resource.revision_accepted` / `resource.revision_rejected` for it. A crash after the resource's write
is simulated by writing the decision on the resource directly, as the crashed request would have left it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.challenges.domain import revisions as rules
from services.challenges.domain.errors import DuplicateResource, Forbidden, InvalidState, NotFound
from services.challenges.domain.resources import DecidedBy, Decision, FlagReason, Resource
from services.challenges.domain.revisions import SUPERSEDED_REASON, FieldChange, Revision, RevisionStatus
from services.challenges.usecases import resources as resource_usecases
from services.challenges.usecases import revisions as usecases
from shared.contracts.auth import Principal
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from tests.builders import NOW, admin, learner, make_flag, make_resource, teacher
from tests.factories import revision_verified_event
from tests.fakes.challenges import FakeWorld

ALICE = learner("alice", "c1")  # owns the resource
BOB = learner("bob", "c2")
CAROL = learner("carol", "c3")
TEACHER = teacher()
ADMIN = admin()
OLD_SUMMARY = "Pluto is the ninth planet."
NEW_SUMMARY = "Pluto has been a dwarf planet since 2006."
SOURCES = ["https://www.iau.org/news/pressreleases/detail/iau0603/"]
DECISION_EVENTS = (EventType.RESOURCE_REVISION_ACCEPTED, EventType.RESOURCE_REVISION_REJECTED)


@pytest.fixture
def resource(world: FakeWorld) -> Resource:
    """Return alice's resource, verified 400 days ago, due for review 30 days after each check."""
    resource = make_resource(summary=OLD_SUMMARY, review_interval_days=30)
    world.resources.add(resource)
    return resource


def _propose(world: FakeWorld, resource: Resource, actor: Principal = BOB, **fields: Any) -> Revision:
    body = {"summary": NEW_SUMMARY, "note": "IAU 2006", "sources": SOURCES, **fields}
    return usecases.propose_revision(resource.id, body, actor=actor, context=world.context())


def _decide(world: FakeWorld, revision: Revision, decision: str, actor: Principal = ALICE, **body: Any) -> Revision:
    fields = {"decision": decision, **body}
    return usecases.decide_revision(revision.resource_id, revision.id, fields, actor=actor, context=world.context())


def _deliver(world: FakeWorld, *events: Event) -> None:
    """Apply `revision.verified` events as the worker's job does."""
    loaded = [(event, load_payload(event.type, event.data)) for event in events]
    usecases.apply_verifications(loaded, context=world.context())


def _verdict(revision: Revision, verdict: str = "approve") -> Event:
    return revision_verified_event(revision.id, revision.resource_id, verdict, ("dave", "erin"))


def _stored(world: FakeWorld, item: Resource | Revision) -> Any:
    repository: Any = world.resources if isinstance(item, Resource) else world.revisions
    stored = repository.get(item.id)
    assert stored is not None
    return stored


def _outcomes(world: FakeWorld, revision: Revision) -> list[str]:
    """Return the decision events dispatched about this revision, oldest first."""
    return [
        str(event.type)
        for event in world.log.events
        if event.type in DECISION_EVENTS and event.data["revision_id"] == revision.id
    ]


def _payload(world: FakeWorld, event_type: str) -> dict[str, Any]:
    (event,) = world.log.of_type(event_type)
    return load_payload(event.type, event.data)


def _content(resource: Resource) -> tuple[Any, ...]:
    """Return what readers see of a resource, leaving out its record of decisions."""
    return (
        resource.title,
        resource.summary,
        resource.url,
        resource.canonical_url,
        resource.version,
        resource.last_verified_at,
        resource.review_by,
        resource.flags,
    )


def _crash_after_the_resource_write(world: FakeWorld, revision: Revision, accept: bool, decision: Decision) -> None:
    """Leave the decision recorded on the resource (with its event) and the revision still pending."""
    before = world.resources.get(revision.resource_id)
    assert before is not None
    if accept:
        after = rules.apply_revision(before, revision, decision, world.now, world.freshness)
    else:
        after = rules.reject_revision(before, revision, decision, world.now)
    event_type = DECISION_EVENTS[0] if accept else DECISION_EVENTS[1]
    # The event the crashed write carried; its payload is the use case's business, not this test's.
    event = world.context().event(event_type, None, {"revision_id": revision.id}, world.now)
    assert world.resources.record_decision(before, after, [event])
    assert _stored(world, revision).is_pending


# ---------------------------------------------------------------------------------------------------------------
# Proposing


def test_a_proposal_stays_pending_and_is_announced_with_its_change(world: FakeWorld, resource: Resource) -> None:
    world.now = NOW + timedelta(hours=1)
    revision = _propose(world, resource)
    assert (revision.status, revision.base_version, revision.version, revision.created_at) == (
        RevisionStatus.PENDING,
        1,
        None,
        NOW + timedelta(hours=1),
    )
    assert revision.changes == {"summary": FieldChange(old=OLD_SUMMARY, new=NEW_SUMMARY)}
    assert (revision.proposer_id, revision.proposer_cohorts, revision.sources) == ("bob", ("c2",), tuple(SOURCES))
    assert _stored(world, revision) == revision
    assert _content(_stored(world, resource)) == _content(resource)
    (event,) = world.log.events
    assert (event.type, event.actor_id) == ("resource.revision_proposed", "bob")
    payload = load_payload(event.type, event.data)
    assert payload == {
        "revision_id": revision.id,
        "resource_id": resource.id,
        "owner_id": "alice",
        "proposer_id": "bob",
        "changed_fields": ["summary"],
        "base_version": 1,
        "flagged_outdated": False,
        "version": None,
        "decided_by": None,
        "decider_id": None,
        "verifier_ids": [],
        "reason": None,
        "resolved_flag_ids": [],
        "tags": ["astronomy"],
        "cohorts": ["c2"],
        "challenge_id": None,
        "rule_points": [],
        # Peer review shows verifiers the change without calling back.
        "changes": {"summary": {"old": OLD_SUMMARY, "new": NEW_SUMMARY}},
        "note": "IAU 2006",
        "sources": SOURCES,
    }


def test_a_proposal_may_change_title_summary_and_url_at_once(world: FakeWorld, resource: Resource) -> None:
    revision = _propose(world, resource, title="Pluto (dwarf planet)", url="  https://example.net/pluto ")
    assert revision.changes == {
        "title": FieldChange(old=resource.title, new="Pluto (dwarf planet)"),
        "summary": FieldChange(old=OLD_SUMMARY, new=NEW_SUMMARY),
        "url": FieldChange(old=resource.url, new="https://example.net/pluto"),
    }
    assert revision.changed_fields == ("title", "summary", "url")


@pytest.mark.parametrize(
    ("flagger", "reason", "flagged_outdated"),
    [("carol", FlagReason.OUTDATED, True), ("bob", FlagReason.OUTDATED, False), ("carol", FlagReason.BROKEN, False)],
    ids=["someone-elses-outdated-flag", "the-proposers-own", "not-outdated"],
)
def test_a_proposal_is_flagged_outdated_only_by_someone_elses_open_outdated_flag(
    world: FakeWorld, flagger: str, reason: FlagReason, flagged_outdated: bool
) -> None:
    resource = make_resource(flags=(make_flag(reason, user_id=flagger),))
    world.resources.add(resource)
    revision = _propose(world, resource)
    assert revision.flagged_outdated is flagged_outdated
    assert _payload(world, "resource.revision_proposed")["flagged_outdated"] is flagged_outdated


def test_one_pending_proposal_per_person_and_resource(world: FakeWorld, resource: Resource) -> None:
    first = _propose(world, resource)
    with pytest.raises(InvalidState) as refused:
        _propose(world, resource, title="Pluto (dwarf planet)")
    assert refused.value.details == {"existing_id": first.id}
    assert len(world.log.of_type("resource.revision_proposed")) == 1
    _propose(world, resource, CAROL)
    _decide(world, first, "reject")
    again = _propose(world, resource, title="Pluto (dwarf planet)")
    assert again.is_pending
    assert len(world.log.of_type("resource.revision_proposed")) == 3


def test_a_new_url_another_resource_has_is_refused_naming_it(world: FakeWorld, resource: Resource) -> None:
    other = make_resource(url="https://example.org/wiki/Pluto")
    world.resources.add(other)
    with pytest.raises(DuplicateResource) as refused:
        _propose(world, resource, url="http://www.example.org/wiki/Pluto/?utm_source=feed")
    assert refused.value.existing_id == other.id
    assert world.revisions.items == {}
    assert world.log.events == []


def test_a_new_url_differing_from_its_own_only_in_form_may_be_proposed(world: FakeWorld) -> None:
    resource = make_resource(url="https://example.org/wiki/Pluto")
    world.resources.add(resource)
    revision = _propose(world, resource, url="https://www.example.org/wiki/Pluto/")
    assert revision.changes["url"] == FieldChange(old=resource.url, new="https://www.example.org/wiki/Pluto/")


def test_proposing_on_an_unknown_resource_is_not_found(world: FakeWorld) -> None:
    with pytest.raises(NotFound):
        usecases.propose_revision("0" * 24, {"summary": NEW_SUMMARY, "note": "x"}, actor=BOB, context=world.context())
    assert world.log.events == []


# ---------------------------------------------------------------------------------------------------------------
# Binding decisions


def test_the_owner_accepting_makes_the_revision_current_and_verified_now(world: FakeWorld, resource: Resource) -> None:
    revision = _propose(world, resource)
    world.now = decided_at = NOW + timedelta(days=1)
    accepted = _decide(world, revision, "accept", reason="Checked the IAU page")
    assert (accepted.status, accepted.version, accepted.decided_at) == (RevisionStatus.ACCEPTED, 2, decided_at)
    assert accepted.decision == Decision(decided_by=DecidedBy.OWNER, decider_id="alice", reason="Checked the IAU page")
    assert _stored(world, revision) == accepted
    current = _stored(world, resource)
    assert (current.summary, current.version, current.updated_at) == (NEW_SUMMARY, 2, decided_at)
    assert (current.last_verified_at, current.review_by) == (decided_at, decided_at + timedelta(days=30))
    record = current.decision_on(revision.id)
    assert record is not None
    assert (record.accepted, record.decided_at, record.version) == (True, decided_at, 2)
    (event,) = world.log.of_type("resource.revision_accepted")
    assert (event.actor_id, event.occurred_at) == ("alice", decided_at)
    assert load_payload(event.type, event.data) == {
        "revision_id": revision.id,
        "resource_id": resource.id,
        "owner_id": "alice",
        "proposer_id": "bob",
        "changed_fields": ["summary"],
        "base_version": 1,
        "flagged_outdated": False,
        "version": 2,
        "decided_by": "owner",
        "decider_id": "alice",
        "verifier_ids": [],
        "reason": "Checked the IAU page",
        "resolved_flag_ids": [],
        "tags": ["astronomy"],
        "cohorts": ["c2"],
        "challenge_id": None,
        "rule_points": [],
        "changes": {},
        "note": "",
        "sources": [],
    }


def test_accepting_resolves_outdated_and_inaccurate_flags_but_not_broken_ones_without_a_new_url(
    world: FakeWorld,
) -> None:
    flags = {reason: make_flag(reason, user_id="carol") for reason in FlagReason}
    resource = make_resource(flags=tuple(flags.values()))
    world.resources.add(resource)
    revision = _propose(world, resource)
    accepted = _decide(world, revision, "accept")
    assert set(accepted.resolved_flag_ids) == {flags[FlagReason.OUTDATED].id, flags[FlagReason.INACCURATE].id}
    current = _stored(world, resource)
    assert current.open_flags == (flags[FlagReason.BROKEN],)
    assert len(current.flags) == 3
    payload = _payload(world, "resource.revision_accepted")
    assert payload["flagged_outdated"] is True
    assert set(payload["resolved_flag_ids"]) == set(accepted.resolved_flag_ids)
    # A resolved flag no longer blocks the same person flagging the same reason again.
    flag = {"reason": "outdated", "note": "Wrong again"}
    resource_usecases.flag_resource(resource.id, flag, actor=CAROL, context=world.context())


def test_accepting_a_new_url_mends_broken_links_and_frees_the_old_url(world: FakeWorld) -> None:
    broken = make_flag(FlagReason.BROKEN, user_id="carol")
    resource = make_resource(flags=(broken,))
    world.resources.add(resource)
    revision = _propose(world, resource, url="HTTPS://WWW.Example.net/Pluto/")
    assert _decide(world, revision, "accept").resolved_flag_ids == (broken.id,)
    current = _stored(world, resource)
    assert (current.url, current.canonical_url, current.open_flags) == (
        "HTTPS://WWW.Example.net/Pluto/",
        "https://example.net/Pluto",
        (),
    )
    body = {"url": resource.url, "title": "Pluto again"}
    resource_usecases.share_resource(body, actor=CAROL, context=world.context())
    with pytest.raises(DuplicateResource) as taken:
        resource_usecases.share_resource(
            {**body, "url": "https://example.net/Pluto"}, actor=CAROL, context=world.context()
        )
    assert taken.value.existing_id == resource.id


@pytest.mark.parametrize("decision", ["accept", "reject"])
@pytest.mark.parametrize(
    ("actor", "decided_by"),
    [(ALICE, DecidedBy.OWNER), (TEACHER, DecidedBy.TEACHER), (ADMIN, DecidedBy.ADMIN)],
    ids=["owner", "teacher", "admin"],
)
def test_the_owner_a_teacher_or_an_admin_decides_in_their_own_capacity(
    world: FakeWorld, resource: Resource, actor: Principal, decided_by: DecidedBy, decision: str
) -> None:
    revision = _propose(world, resource)
    decided = _decide(world, revision, decision, actor=actor)
    assert decided.decision == Decision(decided_by=decided_by, decider_id=actor.user_id)
    (event,) = [event for event in world.log.events if event.type in DECISION_EVENTS]
    assert (event.actor_id, event.data["decided_by"], event.data["decider_id"]) == (
        actor.user_id,
        decided_by.value,
        actor.user_id,
    )


@pytest.mark.parametrize(
    ("proposer", "decider"),
    [(BOB, BOB), (ALICE, ALICE), (TEACHER, TEACHER), (BOB, CAROL)],
    ids=["proposer", "owner-proposer", "teacher-proposer", "another-learner"],
)
def test_nobody_decides_their_own_revision_nor_does_another_learner(
    world: FakeWorld, resource: Resource, proposer: Principal, decider: Principal
) -> None:
    revision = _propose(world, resource, proposer)
    for decision in ("accept", "reject"):
        with pytest.raises(Forbidden):
            _decide(world, revision, decision, actor=decider)
    assert _stored(world, revision).is_pending
    assert _stored(world, resource) == resource
    assert _outcomes(world, revision) == []


def test_rejecting_keeps_the_resource_and_records_why(world: FakeWorld, resource: Resource) -> None:
    revision = _propose(world, resource)
    rejected = _decide(world, revision, "reject", actor=TEACHER, reason="The source is a blog")
    assert (rejected.status, rejected.version, rejected.decided_at) == (RevisionStatus.REJECTED, None, NOW)
    assert rejected.decision == Decision(
        decided_by=DecidedBy.TEACHER, decider_id="teacher-1", reason="The source is a blog"
    )
    assert _stored(world, revision) == rejected
    current = _stored(world, resource)
    assert _content(current) == _content(resource)
    record = current.decision_on(revision.id)
    assert record is not None and not record.accepted
    payload = _payload(world, "resource.revision_rejected")
    assert (payload["decided_by"], payload["reason"], payload["version"]) == ("teacher", "The source is a blog", None)
    assert world.log.of_type("resource.revision_accepted") == []


def _later_owner_accepts(world: FakeWorld, revision: Revision) -> None:
    _decide(world, revision, "accept")


def _later_teacher_rejects(world: FakeWorld, revision: Revision) -> None:
    _decide(world, revision, "reject", actor=TEACHER)


def _later_peers_approve(world: FakeWorld, revision: Revision) -> None:
    _deliver(world, _verdict(revision, "approve"))


def _later_peers_reject(world: FakeWorld, revision: Revision) -> None:
    _deliver(world, _verdict(revision, "reject"))


LATER: dict[str, Callable[[FakeWorld, Revision], None]] = {
    "owner-accepts": _later_owner_accepts,
    "teacher-rejects": _later_teacher_rejects,
    "peers-approve": _later_peers_approve,
    "peers-reject": _later_peers_reject,
}


@pytest.mark.parametrize("later", list(LATER))
@pytest.mark.parametrize("first", ["accept", "reject"])
def test_a_decided_revision_keeps_its_decision_whatever_comes_later(
    world: FakeWorld, resource: Resource, first: str, later: str
) -> None:
    revision = _propose(world, resource)
    decided = _decide(world, revision, first)
    settled = (_stored(world, resource), list(world.log.events))
    world.now = NOW + timedelta(hours=1)
    if later.startswith("peers"):
        LATER[later](world, revision)
    else:
        with pytest.raises(InvalidState) as refused:
            LATER[later](world, revision)
        assert refused.value.details == {"revision_status": decided.status.value}
    assert _stored(world, revision) == decided
    assert (_stored(world, resource), world.log.events) == settled


# ---------------------------------------------------------------------------------------------------------------
# Superseded revisions and races


def test_accepting_a_revision_of_a_resource_that_changed_since_rejects_it_as_superseded(
    world: FakeWorld, resource: Resource
) -> None:
    first = _propose(world, resource)
    second = _propose(world, resource, CAROL, title="Pluto (dwarf planet)", summary=OLD_SUMMARY + " Or not.")
    _decide(world, first, "accept")
    with pytest.raises(InvalidState) as refused:
        _decide(world, second, "accept")
    assert str(refused.value) == SUPERSEDED_REASON
    assert refused.value.details == {"revision_status": "rejected"}
    superseded = _stored(world, second)
    assert superseded.status == RevisionStatus.REJECTED
    assert superseded.decision == Decision(decided_by=None, reason=SUPERSEDED_REASON)
    current = _stored(world, resource)
    assert (current.version, current.title, current.summary) == (2, resource.title, NEW_SUMMARY)
    payload = _payload(world, "resource.revision_rejected")
    assert (payload["revision_id"], payload["reason"], payload["proposer_id"], payload["decided_by"]) == (
        second.id,
        SUPERSEDED_REASON,
        "carol",
        None,
    )
    assert _outcomes(world, first) == ["resource.revision_accepted"]


def test_rejecting_a_revision_of_a_resource_that_changed_since_is_an_ordinary_rejection(
    world: FakeWorld, resource: Resource
) -> None:
    first, second = _propose(world, resource), _propose(world, resource, CAROL)
    _decide(world, first, "accept")
    rejected = _decide(world, second, "reject", reason="Out of date")
    assert rejected.decision == Decision(decided_by=DecidedBy.OWNER, decider_id="alice", reason="Out of date")


def test_peers_approving_a_superseded_revision_reject_it_keeping_the_verifiers(
    world: FakeWorld, resource: Resource
) -> None:
    first, second = _propose(world, resource), _propose(world, resource, CAROL)
    _decide(world, first, "accept")
    _deliver(world, _verdict(second, "approve"))
    superseded = _stored(world, second)
    assert superseded.status == RevisionStatus.REJECTED
    assert superseded.decision == Decision(decided_by=None, verifier_ids=("dave", "erin"), reason=SUPERSEDED_REASON)
    payload = _payload(world, "resource.revision_rejected")
    assert (payload["revision_id"], payload["decided_by"], payload["verifier_ids"]) == (
        second.id,
        None,
        ["dave", "erin"],
    )


@pytest.mark.parametrize("by", ["owner", "peers"])
def test_a_new_url_shared_meanwhile_rejects_the_revision_naming_the_resource_that_has_it(
    world: FakeWorld, resource: Resource, by: str
) -> None:
    revision = _propose(world, resource, url="https://example.net/pluto")
    body = {"url": "https://example.net/pluto", "title": "Pluto elsewhere"}
    other = resource_usecases.share_resource(body, actor=CAROL, context=world.context())
    if by == "owner":
        with pytest.raises(DuplicateResource) as refused:
            _decide(world, revision, "accept")
        assert refused.value.existing_id == other.id
    else:
        _deliver(world, _verdict(revision, "approve"))
    rejected = _stored(world, revision)
    assert rejected.status == RevisionStatus.REJECTED
    assert rejected.decision is not None and other.id in (rejected.decision.reason or "")
    assert _content(_stored(world, resource)) == _content(resource)
    assert _outcomes(world, revision) == ["resource.revision_rejected"]


def test_a_flag_added_while_a_revision_is_accepted_is_kept(
    world: FakeWorld, resource: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = world.resources.record_decision

    def zoe_flags_first(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(world.resources, "record_decision", original)
        flag = {"reason": "broken", "note": "The link is dead"}
        resource_usecases.flag_resource(resource.id, flag, actor=learner("zoe"), context=world.context())
        return original(*args, **kwargs)

    monkeypatch.setattr(world.resources, "record_decision", zoe_flags_first)
    revision = _propose(world, resource)
    assert _decide(world, revision, "accept").status == RevisionStatus.ACCEPTED
    current = _stored(world, resource)
    assert current.version == 2
    assert [(flag.user_id, flag.reason) for flag in current.open_flags] == [("zoe", FlagReason.BROKEN)]
    assert _outcomes(world, revision) == ["resource.revision_accepted"]


def test_deciding_gives_up_while_the_resource_keeps_changing_and_leaves_the_revision_pending(
    world: FakeWorld, resource: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    revision = _propose(world, resource)
    attempts: list[str] = []

    def always_raced(*args: Any, **kwargs: Any) -> bool:
        attempts.append("missed")
        return False

    monkeypatch.setattr(world.resources, "record_decision", always_raced)
    with pytest.raises(InvalidState):
        _decide(world, revision, "accept")
    assert len(attempts) == usecases.DECIDE_ATTEMPTS
    assert _stored(world, revision).is_pending
    assert _outcomes(world, revision) == []


# ---------------------------------------------------------------------------------------------------------------
# Peer verification (`revision.verified`)


def test_peers_approving_accepts_the_revision_and_resolves_its_flags(world: FakeWorld) -> None:
    resource = make_resource(flags=(make_flag(user_id="carol"),))
    world.resources.add(resource)
    revision = _propose(world, resource)
    _deliver(world, _verdict(revision, "approve"))
    accepted = _stored(world, revision)
    assert (accepted.status, accepted.version) == (RevisionStatus.ACCEPTED, 2)
    assert accepted.decision == Decision(
        decided_by=DecidedBy.PEERS, verifier_ids=("dave", "erin"), reason="approve: checked the sources"
    )
    current = _stored(world, resource)
    assert (current.summary, current.version, current.open_flags) == (NEW_SUMMARY, 2, ())
    (event,) = world.log.of_type("resource.revision_accepted")
    assert event.actor_id is None
    payload = load_payload(event.type, event.data)
    assert (payload["decided_by"], payload["decider_id"], payload["verifier_ids"], payload["flagged_outdated"]) == (
        "peers",
        None,
        ["dave", "erin"],
        True,
    )


def test_peers_rejecting_rejects_the_revision(world: FakeWorld, resource: Resource) -> None:
    revision = _propose(world, resource)
    _deliver(world, _verdict(revision, "reject"))
    rejected = _stored(world, revision)
    assert rejected.status == RevisionStatus.REJECTED
    assert rejected.decision == Decision(
        decided_by=DecidedBy.PEERS, verifier_ids=("dave", "erin"), reason="reject: checked the sources"
    )
    assert _content(_stored(world, resource)) == _content(resource)
    payload = _payload(world, "resource.revision_rejected")
    assert (payload["decided_by"], payload["verifier_ids"]) == ("peers", ["dave", "erin"])


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_redelivered_verification_changes_nothing(world: FakeWorld, resource: Resource, verdict: str) -> None:
    revision = _propose(world, resource)
    event = _verdict(revision, verdict)
    _deliver(world, event)
    before = (_stored(world, resource), _stored(world, revision), list(world.log.events))
    world.now = NOW + timedelta(hours=1)
    _deliver(world, event, event)
    assert (_stored(world, resource), _stored(world, revision), world.log.events) == before


def test_verifications_of_unknown_revisions_are_skipped_and_the_rest_applied(
    world: FakeWorld, resource: Resource
) -> None:
    revision = _propose(world, resource)
    other = make_resource()
    world.resources.add(other)
    _deliver(
        world,
        revision_verified_event("0" * 24, resource.id),
        revision_verified_event(revision.id, other.id),
        _verdict(revision, "approve"),
    )
    assert _stored(world, revision).status == RevisionStatus.ACCEPTED
    assert _stored(world, other) == other
    assert _outcomes(world, revision) == ["resource.revision_accepted"]


def test_a_verdict_on_a_resource_that_keeps_changing_fails_the_job_and_lands_when_delivered_again(
    world: FakeWorld, resource: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    revision = _propose(world, resource)
    event = _verdict(revision, "approve")
    monkeypatch.setattr(world.resources, "record_decision", lambda *_: False)  # every write loses a race
    with pytest.raises(InvalidState, match="changing quickly"):
        _deliver(world, event)
    assert _stored(world, revision).status == RevisionStatus.PENDING
    monkeypatch.undo()
    _deliver(world, event)  # RQ's retry
    assert _stored(world, revision).status == RevisionStatus.ACCEPTED
    assert _outcomes(world, revision) == ["resource.revision_accepted"]


# ---------------------------------------------------------------------------------------------------------------
# Exactly one outcome per revision, whatever the order of what arrives


def _owner_accepts(world: FakeWorld, revision: Revision, rejection: Event) -> None:
    _decide(world, revision, "accept")


def _peers_reject(world: FakeWorld, revision: Revision, rejection: Event) -> None:
    _deliver(world, rejection)


STEPS: dict[str, tuple[bool, Callable[[FakeWorld, Revision, Event], None]]] = {
    # name: (whether it asks to accept, what it does)
    "owner accepts": (True, _owner_accepts),
    "peers reject": (False, _peers_reject),
    "peers' verdict redelivered": (False, _peers_reject),
    "owner retries the accept": (True, _owner_accepts),
}
ORDERS = list(itertools.permutations(STEPS))


@pytest.mark.parametrize("crashed", [False, True], ids=["whole", "first-crashed-after-the-resource-write"])
@pytest.mark.parametrize("order", ORDERS, ids=[" > ".join(order) for order in ORDERS])
def test_every_order_of_decisions_announces_exactly_one_outcome_the_first_one(
    world: FakeWorld, resource: Resource, order: tuple[str, ...], crashed: bool
) -> None:
    revision = _propose(world, resource)
    rejection = _verdict(revision, "reject")
    accepted = STEPS[order[0]][0]
    steps = list(order)
    if crashed:
        decision = Decision(decided_by=DecidedBy.OWNER, decider_id="alice") if accepted else Decision(DecidedBy.PEERS)
        _crash_after_the_resource_write(world, revision, accepted, decision)
        steps = steps[1:]
    for minute, step in enumerate(steps, start=1 if crashed else 0):
        world.now = NOW + timedelta(minutes=minute)
        with contextlib.suppress(InvalidState):  # a request that came too late answers 409
            STEPS[step][1](world, revision, rejection)
    assert _outcomes(world, revision) == ["resource.revision_accepted" if accepted else "resource.revision_rejected"]
    decided = _stored(world, revision)
    record = _stored(world, resource).decision_on(revision.id)
    assert record is not None
    assert (decided.status, decided.decided_at) == (
        RevisionStatus.ACCEPTED if accepted else RevisionStatus.REJECTED,
        NOW,
    )
    assert (record.accepted, record.decided_at) == (accepted, NOW)
    assert _stored(world, resource).version == (2 if accepted else 1)


# ---------------------------------------------------------------------------------------------------------------
# A crash after the resource's write, before the revision's


FINISHERS: dict[str, tuple[str, bool]] = {
    # name: (a request or peers' verdict, whether it asks to accept)
    "the-request-retried": ("request", True),
    "a-rejecting-request": ("request", False),
    "peers-approving": ("verdict", True),
    "peers-rejecting": ("verdict", False),
}


@pytest.mark.parametrize("finisher", list(FINISHERS))
@pytest.mark.parametrize("recorded", ["accepted", "rejected"])
def test_a_decision_recorded_only_on_the_resource_is_finished_as_recorded_without_a_second_event(
    world: FakeWorld, resource: Resource, recorded: str, finisher: str
) -> None:
    revision = _propose(world, resource)
    crashed = Decision(decided_by=DecidedBy.TEACHER, decider_id="teacher-1")
    _crash_after_the_resource_write(world, revision, recorded == "accepted", crashed)
    half_done = _stored(world, resource)
    world.now = NOW + timedelta(hours=1)
    kind, accept = FINISHERS[finisher]
    if kind == "verdict":
        _deliver(world, _verdict(revision, "approve" if accept else "reject"))
    elif accept == (recorded == "accepted"):
        assert _decide(world, revision, "accept" if accept else "reject", actor=TEACHER).status.value == recorded
    else:
        with pytest.raises(InvalidState) as refused:
            _decide(world, revision, "accept" if accept else "reject", actor=TEACHER)
        assert refused.value.details == {"revision_status": recorded}
    finished = _stored(world, revision)
    # Finished from the resource's record: its decision and moment, not the retry's.
    assert (finished.status.value, finished.decision, finished.decided_at) == (recorded, crashed, NOW)
    assert _stored(world, resource) == half_done
    expected = "resource.revision_accepted" if recorded == "accepted" else "resource.revision_rejected"
    assert _outcomes(world, revision) == [expected]


def test_a_retried_request_after_a_crash_and_a_later_one_answer_like_any_decided_revision(
    world: FakeWorld, resource: Resource
) -> None:
    revision = _propose(world, resource)
    _crash_after_the_resource_write(world, revision, True, Decision(decided_by=DecidedBy.OWNER, decider_id="alice"))
    assert _decide(world, revision, "accept").version == 2
    with pytest.raises(InvalidState) as refused:
        _decide(world, revision, "accept")
    assert refused.value.details == {"revision_status": "accepted"}
    assert _outcomes(world, revision) == ["resource.revision_accepted"]


def test_a_revision_is_decided_only_under_its_own_resource(world: FakeWorld, resource: Resource) -> None:
    revision = _propose(world, resource)
    other = make_resource()
    world.resources.add(other)
    with pytest.raises(NotFound):
        usecases.decide_revision(other.id, revision.id, {"decision": "accept"}, actor=ALICE, context=world.context())
    assert _stored(world, revision).is_pending
    assert _stored(world, other) == other
    assert _outcomes(world, revision) == []
