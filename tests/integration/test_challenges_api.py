"""Teachers' challenges over HTTP: editing, closing (by hand and at ends_at), archiving, listing.

Who may manage a challenge is in the access matrix, bad bodies in the bad-input table, and the rules of
the use cases (prerequisite loops, lost races, what each action announces) in
tests/unit/test_challenge_usecases.py; here is what only HTTP shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.usecases.challenges import close_due_challenges
from shared.contracts.payloads import load_payload
from tests.factories import bearer, challenge_body
from tests.integration import api
from tests.integration.conftest import EventRecorder

pytestmark = pytest.mark.integration

TEACHER = bearer("teacher-1", "teacher")
ADMIN = bearer("admin-1", "admin")
LEARNER = bearer("alice", "learner", cohorts=("c1",))
NOW = datetime.now(UTC).replace(microsecond=0)


def _create(client: FlaskClient, headers: dict[str, str] = TEACHER, **overrides: Any) -> dict[str, Any]:
    return api.created(client.post("/challenges", json=challenge_body(**overrides), headers=headers))


def _published(client: FlaskClient, **overrides: Any) -> dict[str, Any]:
    challenge = _create(client, **overrides)
    return api.ok(client.post(f"/challenges/{challenge['id']}/publish", headers=TEACHER))


# ---------------------------------------------------------------------------------------------------------------
# Editing


def test_teacher_edits_anything_in_a_draft(challenges: FlaskClient) -> None:
    challenge = _create(challenges)
    changes = {
        "title": "Photosynthesis, revisited",
        "points": 80,
        "cohorts": ["c1"],
        "rubric": [{"criterion": "Clarity", "max_score": 4}],
        "review": {"reviewers_per_submission": 2, "due_hours": 24, "blind": False},
    }
    edited = api.ok(challenges.patch(f"/challenges/{challenge['id']}", json=changes, headers=TEACHER))
    assert edited["title"] == "Photosynthesis, revisited"
    assert (edited["points"], edited["cohorts"]) == (80, ["c1"])
    assert edited["rubric"] == [{"criterion": "Clarity", "max_score": 4, "description": ""}]
    assert edited["review"] == {"reviewers_per_submission": 2, "due_hours": 24, "blind": False}
    assert edited["description"] == challenge["description"]
    assert challenges.get(f"/challenges/{challenge['id']}", headers=TEACHER).get_json() == edited


def test_a_published_challenge_keeps_its_points_and_the_conflict_says_so(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    challenge = _published(challenges)
    before = api.snapshot(challenges_app)
    body = api.problem(challenges.patch(f"/challenges/{challenge['id']}", json={"points": 1}, headers=TEACHER), 409)
    assert "points" in body["detail"]
    assert api.snapshot(challenges_app) == before


def test_a_published_challenge_can_extend_its_deadline(challenges: FlaskClient) -> None:
    challenge = _published(challenges, ends_at=(NOW + timedelta(days=2)).isoformat())
    later = (NOW + timedelta(days=9)).isoformat()
    extended = api.ok(challenges.patch(f"/challenges/{challenge['id']}", json={"ends_at": later}, headers=TEACHER))
    assert datetime.fromisoformat(extended["ends_at"]) == NOW + timedelta(days=9)


def test_an_edit_putting_the_end_before_the_stored_start_names_ends_at(challenges: FlaskClient) -> None:
    challenge = _create(challenges, starts_at=(NOW + timedelta(days=5)).isoformat())
    body = api.problem(
        challenges.patch(
            f"/challenges/{challenge['id']}", json={"ends_at": (NOW + timedelta(days=1)).isoformat()}, headers=TEACHER
        ),
        422,
    )
    assert set(body["errors"]) == {"ends_at"}


def test_an_empty_edit_is_refused(challenges: FlaskClient) -> None:
    challenge = _create(challenges)
    api.problem(challenges.patch(f"/challenges/{challenge['id']}", json={}, headers=TEACHER), 422)


def test_removing_the_end_of_a_draft_with_null(challenges: FlaskClient) -> None:
    challenge = _create(challenges, ends_at=(NOW + timedelta(days=2)).isoformat())
    edited = api.ok(challenges.patch(f"/challenges/{challenge['id']}", json={"ends_at": None}, headers=TEACHER))
    assert edited["ends_at"] is None


# ---------------------------------------------------------------------------------------------------------------
# Closing and archiving


def test_teacher_closes_a_challenge_and_consumers_hear_of_it_once(
    challenges: FlaskClient, published: EventRecorder
) -> None:
    challenge = _published(challenges)
    closed = api.ok(challenges.post(f"/challenges/{challenge['id']}/close", headers=TEACHER))
    assert closed["status"] == "closed"
    assert closed["open"] is False
    assert closed["closed_at"]
    api.problem(challenges.post(f"/challenges/{challenge['id']}/close", headers=TEACHER), 409)
    (event,) = published.of_type("challenge.closed")
    data = load_payload(event.type, event.data)
    assert (data["challenge_id"], data["owner_id"], event.actor_id) == (challenge["id"], "teacher-1", "teacher-1")


def test_a_challenge_reads_and_lists_as_closed_from_its_end_and_the_timer_announces_it_once(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, set_clock: Any
) -> None:
    end = NOW + timedelta(hours=1)
    challenge = _published(challenges, ends_at=end.isoformat())
    assert challenge["open"] is True
    set_clock(end + timedelta(seconds=1))
    seen = api.ok(challenges.get(f"/challenges/{challenge['id']}", headers=LEARNER))
    assert (seen["status"], seen["open"]) == ("closed", False)
    assert datetime.fromisoformat(seen["closed_at"]) == end
    assert api.ids(challenges.get("/challenges", query_string={"status": "closed"}, headers=LEARNER)) == [
        challenge["id"]
    ]
    assert api.ids(challenges.get("/challenges", query_string={"status": "published"}, headers=LEARNER)) == []
    # The worker's timer fires, as it would, twice: MongoDB finds the challenge due once.
    context = challenges_app.extensions["connective"].dependencies.context()
    assert close_due_challenges(context=context) == 1
    assert close_due_challenges(context=context) == 0
    (event,) = published.of_type("challenge.closed")
    assert (event.actor_id, load_payload(event.type, event.data)["closed_at"]) == (None, end)
    stored_closed = api.ok(challenges.get(f"/challenges/{challenge['id']}", headers=LEARNER))
    assert (stored_closed["status"], stored_closed["open"], stored_closed["closed_at"]) == (
        "closed",
        False,
        seen["closed_at"],
    )


def test_archiving_hides_a_closed_challenge_from_learners(challenges: FlaskClient) -> None:
    challenge = _published(challenges)
    api.problem(challenges.post(f"/challenges/{challenge['id']}/archive", headers=TEACHER), 409)
    challenges.post(f"/challenges/{challenge['id']}/close", headers=TEACHER)
    assert api.ok(challenges.post(f"/challenges/{challenge['id']}/archive", headers=TEACHER))["status"] == "archived"
    api.problem(challenges.get(f"/challenges/{challenge['id']}", headers=LEARNER), 404)
    assert api.ids(challenges.get("/challenges", headers=LEARNER)) == []
    assert api.ids(challenges.get("/challenges", query_string={"status": "archived"}, headers=TEACHER)) == [
        challenge["id"]
    ]
    api.problem(challenges.patch(f"/challenges/{challenge['id']}", json={"title": "x"}, headers=TEACHER), 409)


# ---------------------------------------------------------------------------------------------------------------
# Listing


def test_listing_filters_by_status_tag_kind_cohort_owner_and_openness(challenges: FlaskClient) -> None:
    draft = _create(challenges, tags=["maths"])
    biology = _published(challenges, tags=["biology"], cohorts=["c1"])
    physics = _published(challenges, tags=["physics"], kind="resource")
    future = _published(challenges, tags=["physics"], starts_at=(NOW + timedelta(days=3)).isoformat())
    by_admin = _create(challenges, headers=ADMIN)

    def listed(**query: Any) -> set[str]:
        return set(api.ids(challenges.get("/challenges", query_string=query, headers=TEACHER)))

    assert listed() == {draft["id"], biology["id"], physics["id"], future["id"], by_admin["id"]}
    assert listed(status="draft") == {draft["id"], by_admin["id"]}
    assert listed(tag="physics") == {physics["id"], future["id"]}
    assert listed(kind="resource") == {physics["id"]}
    assert listed(cohort="c1") == {draft["id"], biology["id"], physics["id"], future["id"], by_admin["id"]}
    assert listed(cohort="c2") == {draft["id"], physics["id"], future["id"], by_admin["id"]}
    assert listed(owner_id="admin-1") == {by_admin["id"]}
    assert listed(open="true") == {biology["id"], physics["id"]}
    assert listed(open="false") == {draft["id"], future["id"], by_admin["id"]}
    # A learner of another cohort sees neither drafts nor c1's challenge.
    other = bearer("bob", "learner", cohorts=("c2",))
    assert set(api.ids(challenges.get("/challenges", headers=other))) == {physics["id"], future["id"]}


def test_listing_sorts_and_pages_with_a_total(challenges: FlaskClient) -> None:
    ends = [NOW + timedelta(days=days) for days in (3, 1, 2)]
    created = [_create(challenges, title=f"T{index}", ends_at=end.isoformat()) for index, end in enumerate(ends)]
    endless = _create(challenges, title="A without end")
    ids = [challenge["id"] for challenge in created]
    assert api.ids(challenges.get("/challenges", headers=TEACHER)) == [endless["id"], *reversed(ids)]
    assert api.ids(challenges.get("/challenges", query_string={"sort": "created_at"}, headers=TEACHER)) == [
        *ids,
        endless["id"],
    ]
    assert api.ids(challenges.get("/challenges", query_string={"sort": "ends_at"}, headers=TEACHER)) == [
        ids[1],
        ids[2],
        ids[0],
        endless["id"],
    ]
    assert api.ids(challenges.get("/challenges", query_string={"sort": "title"}, headers=TEACHER))[0] == endless["id"]
    page = challenges.get("/challenges", query_string={"limit": 2, "offset": 1}, headers=TEACHER).get_json()
    assert page["total"] == 4
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=points", "sort"),
        ("status=open", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=2.5", "limit"),
        ("offset=-1", "offset"),
    ],
)
def test_listing_refuses_an_unknown_sort_or_status_and_a_page_out_of_range(
    challenges: FlaskClient, query: str, field: str
) -> None:
    assert set(api.problem(challenges.get(f"/challenges?{query}", headers=TEACHER), 422)["errors"]) == {field}
