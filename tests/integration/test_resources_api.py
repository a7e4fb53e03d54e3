"""The knowledge commons over HTTP: sharing with freshness, endorsing, flagging and searching resources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.domain.resources import MAX_FLAGS, FreshnessPolicy
from services.challenges.usecases.resources import endorse_resource
from shared.contracts.auth import Principal
from shared.contracts.payloads import load_payload
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
# Sharing and freshness


def test_a_shared_resource_starts_at_version_1_fresh_unendorsed_and_unflagged(
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


def test_a_resource_is_due_for_review_after_its_own_interval(challenges: FlaskClient, set_clock: SetClock) -> None:
    set_clock(START)
    resource = api.share(challenges, ALICE, review_interval_days=30)
    assert resource["review_interval_days"] == 30
    assert resource["freshness"]["review_by"] == (START + timedelta(days=30)).isoformat()


def test_a_tag_interval_applies_when_the_resource_sets_none(
    challenges: FlaskClient, challenges_app: Flask, set_clock: SetClock
) -> None:
    challenges_app.extensions["connective"].dependencies.freshness = FreshnessPolicy(
        default_days=365, days_by_tag={"news": 14, "software": 90}
    )
    set_clock(START)
    resource = api.share(challenges, ALICE, tags=["software", "news"])
    assert resource["freshness"]["review_by"] == (START + timedelta(days=14)).isoformat()


def test_a_resource_turns_stale_when_its_review_date_arrives(challenges: FlaskClient, set_clock: SetClock) -> None:
    set_clock(START)
    resource_id = api.share(challenges, ALICE, review_interval_days=10)["id"]
    set_clock(START + timedelta(days=10) - timedelta(milliseconds=1))
    assert challenges.get(f"/resources/{resource_id}", headers=BOB).get_json()["freshness"]["state"] == "fresh"
    set_clock(START + timedelta(days=10))
    assert challenges.get(f"/resources/{resource_id}", headers=BOB).get_json()["freshness"]["state"] == "stale"


@pytest.mark.parametrize("days", [0, 3651, "30", 2.5, True], ids=["zero", "too-many", "text", "fraction", "boolean"])
def test_invalid_review_intervals_are_refused(challenges: FlaskClient, challenges_app: Flask, days: Any) -> None:
    problem = api.problem(
        challenges.post("/resources", json=resource_body(review_interval_days=days), headers=ALICE), 422
    )
    assert set(problem["errors"]) == {"review_interval_days"}
    assert api.database(challenges_app)["resources"].count_documents({}) == 0


def test_an_unknown_resource_answers_404(challenges: FlaskClient) -> None:
    api.problem(challenges.get(f"/resources/{MISSING_ID}", headers=ALICE), 404)
    api.problem(challenges.get("/resources/not-an-id", headers=ALICE), 404)


# ---------------------------------------------------------------------------------------------------------------
# Endorsements


def test_endorsing_counts_once_and_emits_resource_endorsed(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, set_clock: SetClock
) -> None:
    resource = api.share(challenges, ALICE, tags=["astronomy"])
    set_clock(START)
    assert api.created(challenges.post(f"/resources/{resource['id']}/endorsements", headers=BOB)) == {
        "resource_id": resource["id"],
        "user_id": "bob",
        "endorsement_count": 1,
        "created_at": START.isoformat(),
    }
    second = challenges.post(f"/resources/{resource['id']}/endorsements", json={}, headers=CAROL)
    assert second.get_json()["endorsement_count"] == 2
    assert challenges.get(f"/resources/{resource['id']}", headers=ALICE).get_json()["endorsement_count"] == 2
    events = published.of_type("resource.endorsed")
    assert [event.actor_id for event in events] == ["bob", "carol"]
    first = load_payload(events[0].type, events[0].data)
    assert first == {
        "resource_id": resource["id"],
        "owner_id": "alice",
        "endorser_id": "bob",
        "endorsement_count": 1,
        "tags": ["astronomy"],
        "cohorts": ["c2"],
        "challenge_id": None,
    }
    assert load_payload(events[1].type, events[1].data)["endorsement_count"] == 2
    stored = api.stored(challenges_app, "resources", resource["id"])
    assert stored["endorsers"] == ["bob", "carol"]
    assert "_outbox" not in stored


def test_nobody_endorses_their_own_resource(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    before = api.stored(challenges_app, "resources", resource_id)
    api.problem(challenges.post(f"/resources/{resource_id}/endorsements", headers=ALICE), 403)
    assert api.stored(challenges_app, "resources", resource_id) == before
    assert published.of_type("resource.endorsed") == []


def test_endorsing_twice_is_a_conflict_and_counts_once(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    assert challenges.post(f"/resources/{resource_id}/endorsements", headers=BOB).status_code == 201
    before = api.stored(challenges_app, "resources", resource_id)
    api.problem(challenges.post(f"/resources/{resource_id}/endorsements", headers=BOB), 409)
    assert api.stored(challenges_app, "resources", resource_id) == before
    assert before["endorsement_count"] == 1
    assert len(published.of_type("resource.endorsed")) == 1


def test_concurrent_endorsements_each_count_and_announce_their_own_count(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    dependencies = challenges_app.extensions["connective"].dependencies
    repository = dependencies.repositories.resources
    original = repository.endorse
    raced: list[str] = []

    def endorse_after_someone_else(*args: Any, **kwargs: Any) -> bool:
        if not raced:
            raced.append("zoe")
            zoe = Principal("zoe", frozenset({"learner"}))
            endorse_resource(resource_id, actor=zoe, context=dependencies.context())
        return original(*args, **kwargs)

    monkeypatch.setattr(repository, "endorse", endorse_after_someone_else)
    response = challenges.post(f"/resources/{resource_id}/endorsements", headers=BOB)
    assert response.get_json()["endorsement_count"] == 2
    counts = [
        (event.data["endorser_id"], event.data["endorsement_count"]) for event in published.of_type("resource.endorsed")
    ]
    assert counts == [("zoe", 1), ("bob", 2)]
    assert api.stored(challenges_app, "resources", resource_id)["endorsers"] == ["zoe", "bob"]


def test_endorsing_an_unknown_resource_answers_404(challenges: FlaskClient) -> None:
    api.problem(challenges.post(f"/resources/{MISSING_ID}/endorsements", headers=BOB), 404)


@pytest.mark.parametrize(
    ("data", "status"),
    [('{"weight": 5}', 422), ("{broken", 400), ("[]", 422)],
    ids=["unknown-field", "malformed-json", "json-array"],
)
def test_endorsements_take_no_fields(challenges: FlaskClient, challenges_app: Flask, data: str, status: int) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    response = challenges.post(
        f"/resources/{resource_id}/endorsements", data=data, content_type="application/json", headers=BOB
    )
    api.problem(response, status)
    assert api.stored(challenges_app, "resources", resource_id)["endorsement_count"] == 0


def test_only_members_endorse(challenges: FlaskClient) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    api.problem(challenges.post(f"/resources/{resource_id}/endorsements"), 401)
    api.problem(challenges.post(f"/resources/{resource_id}/endorsements", headers=bearer("svc", "service")), 403)


# ---------------------------------------------------------------------------------------------------------------
# Flags


def test_a_flag_is_shown_open_with_the_resource_and_emits_resource_flagged(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, set_clock: SetClock
) -> None:
    resource = api.share(challenges, ALICE, tags=["astronomy"])
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
    assert event.actor_id == "bob"
    assert load_payload(event.type, event.data) == {
        "resource_id": resource["id"],
        "owner_id": "alice",
        "flag_id": flag["id"],
        "flagger_id": "bob",
        "reason": "outdated",
        "note": flag["note"],
        "tags": ["astronomy"],
        "cohorts": ["c2"],
        "challenge_id": None,
    }
    stored = api.stored(challenges_app, "resources", resource["id"])
    assert (stored["open_flag_count"], stored["open_flag_reasons"]) == (1, ["outdated"])


def test_the_same_person_cannot_repeat_an_open_flag(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder
) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    first = challenges.post(f"/resources/{resource_id}/flags", json=flag_body(), headers=BOB).get_json()
    before = api.stored(challenges_app, "resources", resource_id)
    problem = api.problem(
        challenges.post(f"/resources/{resource_id}/flags", json=flag_body(note="Still outdated"), headers=BOB), 409
    )
    assert problem["flag_id"] == first["id"]
    assert api.stored(challenges_app, "resources", resource_id) == before
    assert len(published.of_type("resource.flagged")) == 1


def test_other_reasons_and_other_people_may_flag_too(challenges: FlaskClient, challenges_app: Flask) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    for headers, reason in [(BOB, "outdated"), (BOB, "broken"), (CAROL, "outdated"), (ALICE, "inaccurate")]:
        api.created(challenges.post(f"/resources/{resource_id}/flags", json=flag_body(reason=reason), headers=headers))
    resource = challenges.get(f"/resources/{resource_id}", headers=BOB).get_json()
    assert [(flag["user_id"], flag["reason"]) for flag in resource["open_flags"]] == [
        ("bob", "outdated"),
        ("bob", "broken"),
        ("carol", "outdated"),
        ("alice", "inaccurate"),
    ]
    stored = api.stored(challenges_app, "resources", resource_id)
    assert stored["open_flag_count"] == 4
    assert sorted(stored["open_flag_reasons"]) == ["broken", "inaccurate", "outdated"]


def test_a_resource_holds_at_most_200_flags(challenges: FlaskClient, challenges_app: Flask) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    for number in range(MAX_FLAGS):
        flagger = bearer(f"flagger-{number}", "learner")
        api.created(challenges.post(f"/resources/{resource_id}/flags", json=flag_body(), headers=flagger))
    before = api.stored(challenges_app, "resources", resource_id)
    api.problem(challenges.post(f"/resources/{resource_id}/flags", json=flag_body(), headers=BOB), 409)
    assert api.stored(challenges_app, "resources", resource_id) == before
    assert before["flag_count"] == MAX_FLAGS


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (flag_body(reason="boring"), {"reason"}),
        (flag_body(note=""), {"note"}),
        (flag_body(note="x" * 1001), {"note"}),
        ({"reason": "broken"}, {"note"}),
        (flag_body(note={"$gt": ""}), {"note"}),
        (flag_body(user_id="mallory"), {"user_id"}),
    ],
    ids=["unknown-reason", "empty-note", "overlong-note", "missing-note", "operator", "unknown-field"],
)
def test_invalid_flags_are_refused_naming_the_fields(
    challenges: FlaskClient, challenges_app: Flask, body: dict[str, Any], fields: set[str]
) -> None:
    resource_id = api.share(challenges, ALICE)["id"]
    before = api.stored(challenges_app, "resources", resource_id)
    problem = api.problem(challenges.post(f"/resources/{resource_id}/flags", json=body, headers=BOB), 422)
    assert set(problem["errors"]) == fields
    assert api.stored(challenges_app, "resources", resource_id) == before


def test_flagging_an_unknown_resource_answers_404(challenges: FlaskClient) -> None:
    api.problem(challenges.post(f"/resources/{MISSING_ID}/flags", json=flag_body(), headers=BOB), 404)


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
