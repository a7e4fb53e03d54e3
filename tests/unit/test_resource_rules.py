"""Pure rules of the knowledge commons: freshness, endorsements, flags, revisions and who decides them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.challenges.domain.errors import Forbidden, InvalidField, InvalidState
from services.challenges.domain.resources import (
    MAX_FLAGS,
    DecidedBy,
    Decision,
    Flag,
    FlagReason,
    FreshnessPolicy,
    FreshnessState,
    Resource,
    check_endorsement,
    check_flag,
    freshness_state,
    has_open_outdated_flag,
    resolves,
)
from services.challenges.domain.revisions import (
    SUPERSEDED_REASON,
    FieldChange,
    Revision,
    RevisionStatus,
    apply_revision,
    check_pending,
    decided,
    decider_role,
    diff,
    is_superseded,
    reject_revision,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = FreshnessPolicy(default_days=365, days_by_tag={"news": 14, "software": 90})
PEERS = Decision(decided_by=DecidedBy.PEERS, verifier_ids=("dave", "erin"))


def make_resource(**overrides: object) -> Resource:
    values: dict[str, object] = {
        "id": "r1",
        "owner_id": "alice",
        "url": "https://example.org/pluto",
        "canonical_url": "https://example.org/pluto",
        "title": "Pluto",
        "summary": "Pluto is the ninth planet.",
        "tags": ("astronomy",),
        "created_at": NOW - timedelta(days=400),
        "last_verified_at": NOW - timedelta(days=400),
        "review_by": NOW - timedelta(days=35),
    }
    values.update(overrides)
    return Resource(**values)  # type: ignore[arg-type]


def make_flag(reason: FlagReason = FlagReason.OUTDATED, user_id: str = "bob", **overrides: object) -> Flag:
    values: dict[str, object] = {
        "id": f"f-{reason.value}-{user_id}",
        "reason": reason,
        "note": "Wrong since 2006",
        "user_id": user_id,
        "created_at": NOW - timedelta(days=1),
    }
    values.update(overrides)
    return Flag(**values)  # type: ignore[arg-type]


def make_revision(**overrides: object) -> Revision:
    values: dict[str, object] = {
        "id": "v1",
        "resource_id": "r1",
        "proposer_id": "carol",
        "base_version": 1,
        "changes": {"summary": FieldChange(old="Pluto is the ninth planet.", new="Pluto is a dwarf planet.")},
        "note": "IAU 2006",
        "created_at": NOW - timedelta(hours=2),
    }
    values.update(overrides)
    return Revision(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# Freshness


def test_a_resources_own_interval_wins_over_its_tags() -> None:
    assert POLICY.review_days(["news"], own_days=200) == 200


def test_the_shortest_interval_of_a_resources_tags_applies() -> None:
    assert POLICY.review_days(["software", "news", "astronomy"]) == 14


def test_the_default_interval_applies_without_a_configured_tag() -> None:
    assert POLICY.review_days(["astronomy"]) == 365
    assert POLICY.review_days([]) == 365


def test_review_is_due_the_interval_after_the_last_verification() -> None:
    assert POLICY.review_by(NOW, ["software"]) == NOW + timedelta(days=90)


def test_a_resource_is_stale_from_the_moment_its_review_is_due() -> None:
    due = NOW
    assert freshness_state(due, NOW - timedelta(milliseconds=1)) == FreshnessState.FRESH
    assert freshness_state(due, NOW) == FreshnessState.STALE
    assert freshness_state(due, NOW + timedelta(days=1)) == FreshnessState.STALE


def test_a_resource_seen_at_a_moment_shows_its_freshness_then() -> None:
    resource = make_resource(review_by=NOW)
    assert resource.as_seen_at(NOW - timedelta(seconds=1)).freshness.state == FreshnessState.FRESH
    seen = resource.as_seen_at(NOW)
    assert seen.freshness.state == FreshnessState.STALE
    assert (seen.freshness.last_verified_at, seen.freshness.review_by) == (resource.last_verified_at, NOW)


# ---------------------------------------------------------------------------------------------------------------
# Endorsements and flags


def test_nobody_endorses_their_own_resource() -> None:
    with pytest.raises(Forbidden):
        check_endorsement(make_resource(), "alice", already_endorsed=False)


def test_a_second_endorsement_by_the_same_person_is_refused() -> None:
    with pytest.raises(InvalidState):
        check_endorsement(make_resource(), "bob", already_endorsed=True)
    check_endorsement(make_resource(), "bob", already_endorsed=False)


def test_an_open_flag_cannot_be_repeated_by_the_same_person_for_the_same_reason() -> None:
    flag = make_flag()
    with pytest.raises(InvalidState) as refused:
        check_flag(make_resource(flags=(flag,)), "bob", FlagReason.OUTDATED)
    assert refused.value.details == {"flag_id": flag.id}


def test_other_reasons_other_people_and_resolved_flags_do_not_block_a_flag() -> None:
    resolved = make_flag(resolved_at=NOW, resolved_by_revision="v0")
    resource = make_resource(flags=(resolved, make_flag(FlagReason.BROKEN), make_flag(user_id="carol")))
    check_flag(resource, "bob", FlagReason.OUTDATED)
    check_flag(resource, "bob", FlagReason.INACCURATE)


def test_a_resource_holds_at_most_the_flag_cap() -> None:
    flags = tuple(make_flag(user_id=f"user-{number}") for number in range(MAX_FLAGS))
    with pytest.raises(InvalidState):
        check_flag(make_resource(flags=flags), "bob", FlagReason.OUTDATED)
    check_flag(make_resource(flags=flags[:-1]), "bob", FlagReason.OUTDATED)


def test_open_flags_and_their_reasons_leave_out_resolved_ones() -> None:
    resolved = make_flag(FlagReason.INACCURATE, resolved_at=NOW)
    resource = make_resource(flags=(make_flag(FlagReason.BROKEN), resolved, make_flag(user_id="carol")))
    assert [flag.id for flag in resource.open_flags] == ["f-broken-bob", "f-outdated-carol"]
    assert resource.open_flag_reasons == (FlagReason.OUTDATED, FlagReason.BROKEN)


def test_only_someone_elses_open_outdated_flag_makes_a_revision_flagged_outdated() -> None:
    own = make_resource(flags=(make_flag(user_id="carol"),))
    assert not has_open_outdated_flag(own, other_than="carol")
    assert has_open_outdated_flag(own, other_than="dave")
    resolved = make_resource(flags=(make_flag(resolved_at=NOW),))
    assert not has_open_outdated_flag(resolved, other_than="carol")
    broken = make_resource(flags=(make_flag(FlagReason.BROKEN),))
    assert not has_open_outdated_flag(broken, other_than="carol")


@pytest.mark.parametrize(
    ("reason", "changed", "resolved"),
    [
        (FlagReason.OUTDATED, ("summary",), True),
        (FlagReason.INACCURATE, ("title",), True),
        (FlagReason.BROKEN, ("summary", "title"), False),
        (FlagReason.BROKEN, ("url",), True),
        (FlagReason.OUTDATED, ("url",), True),
    ],
)
def test_which_flags_an_accepted_revision_resolves(
    reason: FlagReason, changed: tuple[str, ...], resolved: bool
) -> None:
    assert resolves(reason, changed) is resolved


# ---------------------------------------------------------------------------------------------------------------
# Proposals


def test_a_proposal_records_old_and_new_values_of_the_fields_it_changes() -> None:
    changes = diff(make_resource(), {"title": "Pluto (dwarf planet)", "url": "  https://example.net/pluto "})
    assert changes == {
        "title": FieldChange(old="Pluto", new="Pluto (dwarf planet)"),
        "url": FieldChange(old="https://example.org/pluto", new="https://example.net/pluto"),
    }


@pytest.mark.parametrize(
    ("proposed", "field"),
    [
        ({"title": "Pluto"}, "title"),
        ({"summary": "Pluto is the ninth planet.", "title": "New"}, "summary"),
        ({"url": " https://example.org/pluto"}, "url"),
        ({}, "body"),
    ],
    ids=["same-title", "same-summary", "same-url", "nothing"],
)
def test_a_proposal_that_changes_nothing_or_repeats_a_value_is_refused(proposed: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidField) as refused:
        diff(make_resource(), proposed)
    assert refused.value.field == field


def test_a_new_url_differing_only_in_form_is_a_change() -> None:
    assert "url" in diff(make_resource(), {"url": "http://example.org/pluto"})


# ---------------------------------------------------------------------------------------------------------------
# Who decides


@pytest.mark.parametrize(
    ("actor", "teacher", "admin", "expected"),
    [
        ("alice", False, False, DecidedBy.OWNER),
        ("alice", True, False, DecidedBy.OWNER),
        ("tina", True, False, DecidedBy.TEACHER),
        ("ada", False, True, DecidedBy.ADMIN),
        ("ada", True, True, DecidedBy.ADMIN),
    ],
)
def test_the_owner_a_teacher_or_an_admin_decides(actor: str, teacher: bool, admin: bool, expected: DecidedBy) -> None:
    role = decider_role(actor_id=actor, is_teacher=teacher, is_admin=admin, owner_id="alice", proposer_id="carol")
    assert role == expected


@pytest.mark.parametrize(
    ("actor", "teacher", "admin", "proposer"),
    [
        ("carol", False, False, "carol"),
        ("alice", False, False, "alice"),
        ("tina", True, True, "tina"),
        ("bob", False, False, "carol"),
    ],
    ids=["proposer", "owner-proposer", "staff-proposer", "another-learner"],
)
def test_proposers_and_other_learners_do_not_decide(actor: str, teacher: bool, admin: bool, proposer: str) -> None:
    with pytest.raises(Forbidden):
        decider_role(actor_id=actor, is_teacher=teacher, is_admin=admin, owner_id="alice", proposer_id=proposer)


def test_a_decided_revision_cannot_be_decided_again() -> None:
    check_pending(make_revision())
    after = reject_revision(make_resource(), make_revision(), PEERS, NOW)
    with pytest.raises(InvalidState) as refused:
        check_pending(decided(make_revision(), after.decisions[-1]))
    assert refused.value.details == {"revision_status": "rejected"}


@pytest.mark.parametrize("first", ["accept", "reject"])
@pytest.mark.parametrize("second", ["accept", "reject"])
def test_a_resource_records_one_decision_per_revision_and_refuses_a_second(first: str, second: str) -> None:
    def decide(resource: Resource, how: str) -> Resource:
        if how == "accept":
            return apply_revision(resource, make_revision(), PEERS, NOW, POLICY)
        return reject_revision(resource, make_revision(), PEERS, NOW)

    once = decide(make_resource(), first)
    with pytest.raises(InvalidState) as refused:
        decide(once, second)
    assert refused.value.details == {"revision_status": "accepted" if first == "accept" else "rejected"}
    assert [record.revision_id for record in once.decisions] == ["v1"]


def test_a_rejection_changes_nothing_but_the_record() -> None:
    resource = make_resource(flags=(make_flag(),))
    after = reject_revision(resource, make_revision(), PEERS, NOW)
    assert replace(after, decisions=()) == resource
    (record,) = after.decisions
    assert (record.accepted, record.version, record.resolved_flag_ids) == (False, None, ())


# ---------------------------------------------------------------------------------------------------------------
# Accepting


def test_accepting_makes_the_next_version_verified_now_and_moves_the_review() -> None:
    resource = make_resource(review_interval_days=30)
    after = apply_revision(resource, make_revision(), PEERS, NOW, POLICY)
    assert (after.version, after.summary, after.title) == (2, "Pluto is a dwarf planet.", "Pluto")
    assert (after.last_verified_at, after.updated_at, after.review_by) == (NOW, NOW, NOW + timedelta(days=30))
    assert after.as_seen_at(NOW).freshness.state == FreshnessState.FRESH
    (record,) = after.decisions
    assert (record.revision_id, record.accepted, record.version, record.decision) == ("v1", True, 2, PEERS)
    assert after.decision_on("v1") == record


def test_accepting_resolves_outdated_and_inaccurate_flags_and_keeps_broken_ones_without_a_new_url() -> None:
    flags = (make_flag(), make_flag(FlagReason.INACCURATE), make_flag(FlagReason.BROKEN))
    after = apply_revision(make_resource(flags=flags), make_revision(), PEERS, NOW, POLICY)
    assert [flag.id for flag in after.open_flags] == ["f-broken-bob"]
    assert after.decisions[0].resolved_flag_ids == ("f-outdated-bob", "f-inaccurate-bob")
    resolved = [flag for flag in after.flags if not flag.is_open]
    assert {(flag.resolved_at, flag.resolved_by_revision) for flag in resolved} == {(NOW, "v1")}


def test_accepting_a_new_url_mends_broken_links_and_recomputes_the_canonical_url() -> None:
    revision = make_revision(
        changes={"url": FieldChange(old="https://example.org/pluto", new="HTTP://WWW.Example.net/p/")}
    )
    after = apply_revision(make_resource(flags=(make_flag(FlagReason.BROKEN),)), revision, PEERS, NOW, POLICY)
    assert (after.url, after.canonical_url) == ("HTTP://WWW.Example.net/p/", "https://example.net/p")
    assert after.open_flags == ()


def test_a_revision_of_a_resource_that_moved_on_is_superseded() -> None:
    moved = make_resource(version=2)
    assert is_superseded(moved, make_revision())
    with pytest.raises(InvalidState, match=SUPERSEDED_REASON):
        apply_revision(moved, make_revision(), PEERS, NOW, POLICY)


def test_a_revision_the_resource_took_in_is_not_superseded_but_applied() -> None:
    after = apply_revision(make_resource(), make_revision(), PEERS, NOW, POLICY)
    assert not is_superseded(after, make_revision())
    finished = decided(make_revision(), after.decisions[0])
    assert (finished.status, finished.version, finished.decided_at, finished.decision) == (
        RevisionStatus.ACCEPTED,
        2,
        NOW,
        PEERS,
    )


def test_a_rejected_revision_records_the_decision() -> None:
    decision = Decision(decided_by=DecidedBy.OWNER, decider_id="alice", reason="No source")
    finished = decided(make_revision(), reject_revision(make_resource(), make_revision(), decision, NOW).decisions[0])
    assert (finished.status, finished.decided_at, finished.decision, finished.version) == (
        RevisionStatus.REJECTED,
        NOW,
        decision,
        None,
    )


flag_sets = st.lists(
    st.tuples(st.sampled_from(list(FlagReason)), st.sampled_from(["bob", "carol", "dave"]), st.booleans()),
    max_size=12,
)
changed_field_sets = st.sets(st.sampled_from(["title", "summary", "url"]), min_size=1)


@settings(max_examples=100, deadline=None)
@given(flag_specs=flag_sets, changed=changed_field_sets)
def test_an_accept_resolves_exactly_the_open_flags_its_changes_answer(
    flag_specs: list[tuple[FlagReason, str, bool]], changed: set[str]
) -> None:
    flags = tuple(
        make_flag(reason, user_id, id=f"f{index}", resolved_at=NOW - timedelta(days=2) if was_resolved else None)
        for index, (reason, user_id, was_resolved) in enumerate(flag_specs)
    )
    resource = make_resource(flags=flags)
    changes = {name: FieldChange(old=getattr(resource, name), new=f"https://example.net/{name}") for name in changed}
    after = apply_revision(resource, make_revision(changes=changes), PEERS, NOW, POLICY)
    assert len(after.flags) == len(flags)
    expected_open = [flag.id for flag in resource.open_flags if not resolves(flag.reason, changed)]
    assert [flag.id for flag in after.open_flags] == expected_open
    for before, now_flag in zip(resource.flags, after.flags, strict=True):
        if not before.is_open:
            assert now_flag == before
    assert replace(after, flags=resource.flags, decisions=()).version == resource.version + 1
