"""Challenge rules: publishing, who may see and manage a challenge, and valid time windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.challenges.domain.challenges import (
    Challenge,
    ChallengeStatus,
    Criterion,
    archive,
    check_accepting,
    check_window,
    close,
    edit,
    may_manage,
    may_see,
    prerequisite_cycle,
    publish,
)
from services.challenges.domain.errors import InvalidField, InvalidState

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)


def make_challenge(**overrides: Any) -> Challenge:
    values: dict[str, Any] = {
        "id": "ch1",
        "owner_id": "teacher-1",
        "title": "Map the solar system",
        "description": "Share sources on the planets",
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(overrides)
    return Challenge(**values)


# ---------------------------------------------------------------------------------------------------------------
# Publishing


def test_publishing_a_draft_makes_it_published_now() -> None:
    published = publish(make_challenge(), NOW)
    assert published.status == ChallengeStatus.PUBLISHED
    assert published.published_at == NOW
    assert published.updated_at == NOW
    assert published.created_at == CREATED


def test_publishing_leaves_the_original_draft_unchanged() -> None:
    draft = make_challenge()
    publish(draft, NOW)
    assert draft.status == ChallengeStatus.DRAFT
    assert draft.published_at is None


@pytest.mark.parametrize("status", [ChallengeStatus.PUBLISHED, ChallengeStatus.CLOSED, ChallengeStatus.ARCHIVED])
def test_only_a_draft_can_be_published(status: ChallengeStatus) -> None:
    with pytest.raises(InvalidState, match=str(status)):
        publish(make_challenge(status=status), NOW)


@pytest.mark.parametrize("ends_at", [NOW - timedelta(minutes=1), NOW])
def test_a_challenge_whose_end_has_passed_cannot_be_published(ends_at: datetime) -> None:
    with pytest.raises(InvalidState, match="ends_at"):
        publish(make_challenge(ends_at=ends_at), NOW)


def test_a_challenge_ending_in_the_future_can_be_published() -> None:
    challenge = make_challenge(starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=7))
    assert publish(challenge, NOW).status == ChallengeStatus.PUBLISHED


# ---------------------------------------------------------------------------------------------------------------
# Visibility


def test_learner_cannot_see_a_draft() -> None:
    assert not may_see(make_challenge(), "learner-1", (), is_staff=False)


def test_learner_cannot_see_a_draft_even_in_a_matching_cohort() -> None:
    assert not may_see(make_challenge(cohorts=("c1",)), "learner-1", ("c1",), is_staff=False)


def test_learner_sees_a_published_challenge_open_to_all() -> None:
    challenge = make_challenge(status=ChallengeStatus.PUBLISHED, cohorts=())
    assert may_see(challenge, "learner-1", (), is_staff=False)
    assert may_see(challenge, "learner-1", ("c9",), is_staff=False)


def test_cohort_restricted_challenge_is_visible_only_to_its_cohorts() -> None:
    challenge = make_challenge(status=ChallengeStatus.PUBLISHED, cohorts=("c1", "c2"))
    assert may_see(challenge, "learner-1", ("c2",), is_staff=False)
    assert may_see(challenge, "learner-1", ("c3", "c1"), is_staff=False)
    assert not may_see(challenge, "learner-1", ("c3",), is_staff=False)
    assert not may_see(challenge, "learner-1", (), is_staff=False)


def test_learner_of_the_cohort_still_sees_a_closed_challenge() -> None:
    challenge = make_challenge(status=ChallengeStatus.CLOSED, cohorts=("c1",))
    assert may_see(challenge, "learner-1", ("c1",), is_staff=False)
    assert not may_see(challenge, "learner-1", ("c2",), is_staff=False)


@pytest.mark.parametrize("status", list(ChallengeStatus))
def test_staff_see_every_challenge(status: ChallengeStatus) -> None:
    challenge = make_challenge(status=status, cohorts=("c1",))
    assert may_see(challenge, "teacher-2", (), is_staff=True)


def test_the_owner_sees_their_own_draft() -> None:
    assert may_see(make_challenge(cohorts=("c1",)), "teacher-1", (), is_staff=False)


def test_is_open_to_means_no_cohorts_or_a_shared_cohort() -> None:
    assert make_challenge().is_open_to(())
    assert make_challenge(cohorts=("c1",)).is_open_to(("c1",))
    assert not make_challenge(cohorts=("c1",)).is_open_to(("c10",))


# ---------------------------------------------------------------------------------------------------------------
# Management


def test_the_owner_may_manage_their_challenge() -> None:
    assert may_manage(make_challenge(), "teacher-1", is_admin=False)


def test_another_teacher_may_not_manage_the_challenge() -> None:
    assert not may_manage(make_challenge(), "teacher-2", is_admin=False)


def test_an_admin_may_manage_any_challenge() -> None:
    assert may_manage(make_challenge(), "admin-1", is_admin=True)


def test_management_follows_the_owner_after_a_change_of_owner() -> None:
    challenge = replace(make_challenge(), owner_id="teacher-2")
    assert may_manage(challenge, "teacher-2", is_admin=False)
    assert not may_manage(challenge, "teacher-1", is_admin=False)


# ---------------------------------------------------------------------------------------------------------------
# Windows


@pytest.mark.parametrize(
    ("starts_at", "ends_at"),
    [
        (None, None),
        (NOW, None),
        (None, NOW),
        (NOW, NOW + timedelta(seconds=1)),
    ],
)
def test_open_or_forward_windows_are_accepted(starts_at: datetime | None, ends_at: datetime | None) -> None:
    check_window(starts_at, ends_at)


@pytest.mark.parametrize("ends_at", [NOW, NOW - timedelta(days=1)])
def test_a_window_ending_at_or_before_its_start_is_refused(ends_at: datetime) -> None:
    with pytest.raises(InvalidField, match="ends_at must be after starts_at"):
        check_window(NOW, ends_at)


# ---------------------------------------------------------------------------------------------------------------
# Status as of a moment: closing by itself at ends_at


def published(**overrides: Any) -> Challenge:
    return make_challenge(status=ChallengeStatus.PUBLISHED, published_at=CREATED, **overrides)


def test_a_published_challenge_reads_as_closed_from_its_end_on() -> None:
    challenge = published(ends_at=NOW)
    assert challenge.status_at(NOW - timedelta(seconds=1)) == ChallengeStatus.PUBLISHED
    assert challenge.status_at(NOW) == ChallengeStatus.CLOSED
    assert challenge.due_to_close(NOW)
    assert not challenge.due_to_close(NOW - timedelta(seconds=1))


def test_a_challenge_is_open_only_inside_its_window() -> None:
    challenge = published(starts_at=NOW, ends_at=NOW + timedelta(days=1))
    assert not challenge.is_open(NOW - timedelta(seconds=1))
    assert challenge.is_open(NOW)
    assert not challenge.is_open(NOW + timedelta(days=1))


@pytest.mark.parametrize("status", [ChallengeStatus.DRAFT, ChallengeStatus.CLOSED, ChallengeStatus.ARCHIVED])
def test_only_a_published_challenge_is_open(status: ChallengeStatus) -> None:
    assert not make_challenge(status=status).is_open(NOW)


def test_seen_after_its_end_a_challenge_shows_closed_at_its_end() -> None:
    seen = published(ends_at=NOW).as_seen_at(NOW + timedelta(hours=1))
    assert seen.status == ChallengeStatus.CLOSED
    assert seen.closed_at == NOW
    assert seen.open_now is False


def test_taking_part_before_the_start_or_after_the_end_is_refused_saying_why() -> None:
    challenge = published(starts_at=NOW, ends_at=NOW + timedelta(days=1))
    with pytest.raises(InvalidState, match="opens at"):
        check_accepting(challenge, NOW - timedelta(minutes=1))
    with pytest.raises(InvalidState, match="closed"):
        check_accepting(challenge, NOW + timedelta(days=1))
    check_accepting(challenge, NOW)


# ---------------------------------------------------------------------------------------------------------------
# Editing


def test_a_draft_may_change_anything_and_counts_a_new_version() -> None:
    draft = make_challenge()
    edited = edit(draft, {"points": 10, "rubric": (Criterion("Clarity", 3),), "cohorts": ("c1",)}, NOW)
    assert (edited.points, edited.cohorts, edited.version, edited.updated_at) == (10, ("c1",), 2, NOW)


@pytest.mark.parametrize("name", ["kind", "cohorts", "points", "rubric", "review", "prerequisites"])
def test_a_published_challenge_keeps_its_rules(name: str) -> None:
    with pytest.raises(InvalidState, match=name):
        edit(published(), {name: make_challenge().__getattribute__(name)}, NOW)


def test_a_published_challenge_may_change_its_wording_tags_and_end() -> None:
    edited = edit(published(), {"title": "New", "tags": ("x",), "ends_at": NOW + timedelta(days=3)}, NOW)
    assert (edited.title, edited.tags, edited.ends_at) == ("New", ("x",), NOW + timedelta(days=3))


def test_a_published_challenge_cannot_move_its_end_into_the_past() -> None:
    with pytest.raises(InvalidField, match="future"):
        edit(published(), {"ends_at": NOW - timedelta(minutes=1)}, NOW)


def test_a_started_challenge_cannot_move_its_start() -> None:
    started = published(starts_at=NOW - timedelta(days=1))
    with pytest.raises(InvalidState, match="started"):
        edit(started, {"starts_at": NOW + timedelta(days=1)}, NOW)
    assert edit(started, {"starts_at": NOW - timedelta(days=1)}, NOW).starts_at == NOW - timedelta(days=1)


def test_an_edit_that_puts_the_end_before_the_start_is_refused() -> None:
    with pytest.raises(InvalidField, match="ends_at must be after starts_at"):
        edit(make_challenge(starts_at=NOW + timedelta(days=2)), {"ends_at": NOW + timedelta(days=1)}, NOW)


@pytest.mark.parametrize("status", [ChallengeStatus.CLOSED, ChallengeStatus.ARCHIVED])
def test_closed_and_archived_challenges_cannot_be_edited(status: ChallengeStatus) -> None:
    with pytest.raises(InvalidState, match=str(status)):
        edit(make_challenge(status=status), {"title": "x"}, NOW)


def test_a_challenge_past_its_end_cannot_be_edited() -> None:
    with pytest.raises(InvalidState, match="closed"):
        edit(published(ends_at=NOW - timedelta(hours=1)), {"title": "x"}, NOW)


def test_a_challenge_cannot_be_its_own_prerequisite() -> None:
    with pytest.raises(InvalidField, match="own prerequisite"):
        edit(make_challenge(), {"prerequisites": ("ch1",)}, NOW)


# ---------------------------------------------------------------------------------------------------------------
# Closing and archiving


def test_closing_a_published_challenge_records_when() -> None:
    closed = close(published(), NOW)
    assert (closed.status, closed.closed_at, closed.version) == (ChallengeStatus.CLOSED, NOW, 2)


def test_a_challenge_closed_after_its_end_records_its_end_as_the_closing_time() -> None:
    end = NOW - timedelta(hours=3)
    assert close(published(ends_at=end), NOW).closed_at == end


@pytest.mark.parametrize("status", [ChallengeStatus.DRAFT, ChallengeStatus.CLOSED, ChallengeStatus.ARCHIVED])
def test_only_a_published_challenge_can_be_closed(status: ChallengeStatus) -> None:
    with pytest.raises(InvalidState):
        close(make_challenge(status=status), NOW)


@pytest.mark.parametrize("status", [ChallengeStatus.DRAFT, ChallengeStatus.CLOSED])
def test_drafts_and_closed_challenges_can_be_archived(status: ChallengeStatus) -> None:
    archived = archive(make_challenge(status=status), NOW)
    assert (archived.status, archived.archived_at) == (ChallengeStatus.ARCHIVED, NOW)


def test_a_published_challenge_must_be_closed_before_archiving() -> None:
    with pytest.raises(InvalidState, match="Close"):
        archive(published(), NOW)
    with pytest.raises(InvalidState, match="already"):
        archive(make_challenge(status=ChallengeStatus.ARCHIVED), NOW)


def test_a_challenge_past_its_end_is_closed_and_archived_in_one_step() -> None:
    archived = archive(published(ends_at=NOW - timedelta(hours=1)), NOW)
    assert archived.status == ChallengeStatus.ARCHIVED
    assert archived.closed_at == NOW - timedelta(hours=1)


def test_learners_do_not_see_archived_challenges() -> None:
    assert not may_see(make_challenge(status=ChallengeStatus.ARCHIVED), "learner-1", (), is_staff=False)


# ---------------------------------------------------------------------------------------------------------------
# Prerequisites


def test_a_prerequisite_that_leads_back_to_the_challenge_is_a_cycle() -> None:
    graph = {"b": ("c",), "c": ("a",)}
    assert prerequisite_cycle("a", ("b",), graph)
    assert prerequisite_cycle("a", ("a",), {})
    assert not prerequisite_cycle("a", ("b",), {"b": ("c",), "c": ()})


def test_a_cycle_elsewhere_in_the_graph_does_not_stop_the_search() -> None:
    assert not prerequisite_cycle("a", ("b",), {"b": ("c",), "c": ("b",)})
