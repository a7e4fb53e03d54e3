"""The knowledge commons over HTTP: answers, problems, schemas and search of resources, endorsements and flags.

The rules behind them (duplicates, freshness, endorsing once, flag repeats and the cap, races) are tested on
the use cases over in-memory fakes in `tests/unit/test_resource_usecases.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import bearer, challenge_body, flag_body, resource_body, revision_body
from tests.integration import api
from tests.integration.conftest import EventRecorder

pytestmark = pytest.mark.integration

ALICE = bearer("alice", "learner", cohorts=("c1",))
BOB = bearer("bob", "learner", cohorts=("c2",))
CAROL = bearer("carol", "learner", cohorts=("c3",))
TEACHER = bearer("teacher-1", "teacher")
START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
MISSING_ID = "0" * 24

SetClock = Callable[[datetime], None]


# ---------------------------------------------------------------------------------------------------------------
# Sharing and reading


def test_a_shared_resource_is_answered_at_version_1_fresh_unendorsed_and_unflagged(
    challenges: FlaskClient, set_clock: SetClock
) -> None:
    set_clock(START)
    resource = api.share(challenges, ALICE)
    assert resource["version"] == 1
    assert resource["endorsement_count"] == 0
    assert resource["open_flags"] == []
    assert resource["review_interval_days"] is None
    assert resource["updated_at"] == START.isoformat()
    assert resource["freshness"] == {
        "state": "fresh",
        "last_verified_at": START.isoformat(),
        "review_by": (START + timedelta(days=365)).isoformat(),
    }
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json() == resource


@pytest.mark.parametrize("days", [3651, "30", 2.5, True], ids=["too-many", "text", "fraction", "boolean"])
def test_invalid_review_intervals_are_refused(challenges: FlaskClient, challenges_app: Flask, days: Any) -> None:
    before = api.snapshot(challenges_app)
    problem = api.problem(
        challenges.post("/resources", json=resource_body(review_interval_days=days), headers=ALICE), 422
    )
    assert set(problem["errors"]) == {"review_interval_days"}
    assert api.snapshot(challenges_app) == before


def test_an_unknown_resource_answers_404(challenges: FlaskClient) -> None:
    api.problem(challenges.get(f"/resources/{MISSING_ID}", headers=ALICE), 404)
    api.problem(challenges.get("/resources/not-an-id", headers=ALICE), 404)


# ---------------------------------------------------------------------------------------------------------------
# Endorsements


def test_an_endorsement_answers_201_with_the_count_and_is_published(
    challenges: FlaskClient, published: EventRecorder, set_clock: SetClock
) -> None:
    resource = api.share(challenges, ALICE)
    set_clock(START)
    assert api.created(challenges.post(f"/resources/{resource['id']}/endorsements", headers=BOB)) == {
        "resource_id": resource["id"],
        "user_id": "bob",
        "endorsement_count": 1,
        "created_at": START.isoformat(),
    }
    second = challenges.post(f"/resources/{resource['id']}/endorsements", json={}, headers=CAROL)
    assert api.created(second)["endorsement_count"] == 2
    assert challenges.get(f"/resources/{resource['id']}", headers=ALICE).get_json()["endorsement_count"] == 2
    assert [event.actor_id for event in published.of_type("resource.endorsed")] == ["bob", "carol"]


def test_endorsing_twice_answers_409_and_changes_nothing(challenges: FlaskClient, challenges_app: Flask) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    api.created(challenges.post(f"/resources/{resource_id}/endorsements", headers=BOB))
    before = api.snapshot(challenges_app)
    api.problem(challenges.post(f"/resources/{resource_id}/endorsements", headers=BOB), 409)
    assert api.snapshot(challenges_app) == before


@pytest.mark.parametrize(
    ("data", "status"),
    [('{"weight": 5}', 422), ("{broken", 400), ("[]", 422)],
    ids=["unknown-field", "malformed-json", "json-array"],
)
def test_endorsements_take_no_fields(challenges: FlaskClient, challenges_app: Flask, data: str, status: int) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    before = api.snapshot(challenges_app)
    response = challenges.post(
        f"/resources/{resource_id}/endorsements", data=data, content_type="application/json", headers=BOB
    )
    api.problem(response, status)
    assert api.snapshot(challenges_app) == before


def test_services_do_not_endorse(challenges: FlaskClient) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    api.problem(challenges.post(f"/resources/{resource_id}/endorsements", headers=bearer("svc", "service")), 403)


# ---------------------------------------------------------------------------------------------------------------
# Flags


def test_a_flag_answers_201_is_shown_open_with_the_resource_and_is_published(
    challenges: FlaskClient, published: EventRecorder, set_clock: SetClock
) -> None:
    resource = api.share(challenges, ALICE)
    set_clock(START)
    flag = api.created(challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(), headers=BOB))
    assert flag == {
        "id": flag["id"],
        "reason": "outdated",
        "note": flag_body()["note"],
        "user_id": "bob",
        "created_at": START.isoformat(),
    }
    assert challenges.get(f"/resources/{resource['id']}", headers=CAROL).get_json()["open_flags"] == [flag]
    (event,) = published.of_type("resource.flagged")
    assert (event.actor_id, event.data["flag_id"]) == ("bob", flag["id"])


def test_repeating_ones_open_flag_answers_409_naming_it_and_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask
) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    first = api.created(challenges.post(f"/resources/{resource_id}/flags", json=flag_body(), headers=BOB))
    before = api.snapshot(challenges_app)
    problem = api.problem(
        challenges.post(f"/resources/{resource_id}/flags", json=flag_body(note="Still outdated"), headers=BOB), 409
    )
    assert problem["flag_id"] == first["id"]
    assert api.snapshot(challenges_app) == before


def test_a_flag_without_a_note_is_refused_naming_it(challenges: FlaskClient, challenges_app: Flask) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    before = api.snapshot(challenges_app)
    problem = api.problem(
        challenges.post(f"/resources/{resource_id}/flags", json={"reason": "broken"}, headers=BOB), 422
    )
    assert set(problem["errors"]) == {"note"}
    assert api.snapshot(challenges_app) == before


# ---------------------------------------------------------------------------------------------------------------
# Search


def test_search_finds_text_in_title_or_summary_case_insensitively_and_literally(challenges: FlaskClient) -> None:
    by_title = api.share(challenges, ALICE, title="Pluto, a DWARF planet", summary="")
    by_summary = api.share(challenges, ALICE, title="Kuiper belt", summary="Home of dwarf planets.")
    literal = api.share(challenges, ALICE, title="Learning C++ (part 1.*)", summary="")
    api.share(challenges, ALICE, title="Mars", summary="The red planet.")
    assert set(api.ids(challenges.get("/resources?q=Dwarf", headers=BOB))) == {by_title["id"], by_summary["id"]}
    assert api.ids(challenges.get("/resources", query_string={"q": "c++ (part 1.*"}, headers=BOB)) == [literal["id"]]
    assert api.ids(challenges.get("/resources", query_string={"q": ".*"}, headers=BOB)) == [literal["id"]]


def test_search_text_is_bounded(challenges: FlaskClient) -> None:
    problem = api.problem(challenges.get("/resources", query_string={"q": "x" * 101}, headers=BOB), 422)
    assert set(problem["errors"]) == {"q"}


def test_search_filters_by_tag_owner_and_challenge(challenges: FlaskClient) -> None:
    challenge_id = api.created(challenges.post("/challenges", json=challenge_body(kind="resource"), headers=TEACHER))[
        "id"
    ]
    api.ok(challenges.post(f"/challenges/{challenge_id}/publish", headers=TEACHER))
    tagged = api.share(challenges, ALICE, tags=["geology"])
    by_bob = api.share(challenges, BOB, tags=[])
    for_challenge = api.share(challenges, ALICE, challenge_id=challenge_id, tags=[])
    assert api.ids(challenges.get("/resources?tag=geology", headers=BOB)) == [tagged["id"]]
    assert api.ids(challenges.get("/resources?owner_id=bob", headers=BOB)) == [by_bob["id"]]
    assert api.ids(challenges.get(f"/resources?challenge_id={challenge_id}", headers=BOB)) == [for_challenge["id"]]


def test_search_lists_stale_or_fresh_resources(challenges: FlaskClient, set_clock: SetClock) -> None:
    set_clock(START)
    soon = api.share(challenges, ALICE, review_interval_days=5)
    later = api.share(challenges, ALICE, review_interval_days=50)
    set_clock(START + timedelta(days=5))
    assert api.ids(challenges.get("/resources?stale=true", headers=BOB)) == [soon["id"]]
    assert api.ids(challenges.get("/resources?stale=false", headers=BOB)) == [later["id"]]
    stale = challenges.get("/resources?stale=true", headers=BOB).get_json()["items"][0]
    assert stale["freshness"]["state"] == "stale"


def test_search_filters_by_open_flags(challenges: FlaskClient) -> None:
    outdated = api.share(challenges, ALICE)
    broken = api.share(challenges, ALICE)
    clean = api.share(challenges, ALICE)
    challenges.post(f"/resources/{outdated['id']}/flags", json=flag_body(reason="outdated"), headers=BOB)
    challenges.post(f"/resources/{broken['id']}/flags", json=flag_body(reason="broken"), headers=BOB)
    assert set(api.ids(challenges.get("/resources?flagged=true", headers=BOB))) == {outdated["id"], broken["id"]}
    assert api.ids(challenges.get("/resources?flagged=false", headers=BOB)) == [clean["id"]]
    assert api.ids(challenges.get("/resources?flag=broken", headers=BOB)) == [broken["id"]]
    assert api.ids(challenges.get("/resources?flag=inaccurate", headers=BOB)) == []


def test_search_sorts_by_freshness_staleness_endorsements_and_newest(
    challenges: FlaskClient, set_clock: SetClock
) -> None:
    set_clock(START)
    first = api.share(challenges, ALICE, review_interval_days=100)
    set_clock(START + timedelta(days=1))
    second = api.share(challenges, ALICE, review_interval_days=10)
    set_clock(START + timedelta(days=2))
    third = api.share(challenges, ALICE, review_interval_days=50)
    for headers in (BOB, CAROL):
        challenges.post(f"/resources/{first['id']}/endorsements", headers=headers)
    challenges.post(f"/resources/{third['id']}/endorsements", headers=BOB)
    set_clock(START + timedelta(days=3))
    revision = challenges.post(f"/resources/{first['id']}/revisions", json=revision_body(), headers=BOB).get_json()
    decision = {"decision": "accept"}
    path = f"/resources/{first['id']}/revisions/{revision['id']}/decision"
    assert challenges.post(path, json=decision, headers=ALICE).status_code == 200

    def order(sort: str) -> list[str]:
        return api.ids(challenges.get(f"/resources?sort={sort}", headers=BOB))

    assert order("newest") == [third["id"], second["id"], first["id"]]
    assert api.ids(challenges.get("/resources", headers=BOB)) == order("newest")
    # Accepting the revision verified the first resource again: freshest, and its review moved out.
    assert order("freshness") == [first["id"], third["id"], second["id"]]
    assert order("staleness") == [second["id"], third["id"], first["id"]]
    assert order("endorsements") == [first["id"], third["id"], second["id"]]


def test_search_ties_on_endorsements_list_the_newest_first(challenges: FlaskClient, set_clock: SetClock) -> None:
    set_clock(START)
    older = api.share(challenges, ALICE)
    set_clock(START + timedelta(hours=1))
    newer = api.share(challenges, ALICE)
    assert api.ids(challenges.get("/resources?sort=endorsements", headers=BOB)) == [newer["id"], older["id"]]


def test_search_pages_and_counts_every_match(challenges: FlaskClient, set_clock: SetClock) -> None:
    shared = []
    for hour in range(5):
        set_clock(START + timedelta(hours=hour))
        shared.append(api.share(challenges, ALICE, tags=["paged"])["id"])
    response = challenges.get("/resources?tag=paged&limit=2&offset=1", headers=BOB)
    assert response.get_json()["total"] == 5
    assert api.ids(response) == [shared[3], shared[2]]


@pytest.mark.parametrize(
    "query",
    ["sort=popular", "stale=maybe", "flag=boring", "flagged=2", "challenge_id=abc", "q=", "limit=0"],
)
def test_invalid_search_parameters_are_refused(challenges: FlaskClient, query: str) -> None:
    api.problem(challenges.get(f"/resources?{query}", headers=BOB), 422)
