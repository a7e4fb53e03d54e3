"""Challenge rules: publishing, who may see and manage a challenge, and valid time windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.challenges.domain.challenges import (
    Challenge,
    ChallengeStatus,
    check_window,
    may_manage,
    may_see,
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
