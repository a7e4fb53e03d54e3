"""Knowledge updates over HTTP: answers, problems and schemas of proposing, reading and deciding revisions.

The rules behind them (who decides, flags resolved, superseded revisions, peers' verdicts, a revision
decided exactly once whatever the order of what arrives) are tested on the use cases over in-memory fakes
in `tests/unit/test_revision_usecases.py`. Here, one crash between the decision's two writes is finished
by retrying the request, as a client would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.domain import revisions as revision_rules
from services.challenges.domain.resources import DecidedBy, Decision
from services.challenges.domain.revisions import SUPERSEDED_REASON
from shared.contracts.events import EventType
from shared.contracts.payloads import load_payload
from tests.builders import learner
from tests.factories import bearer, flag_body, resource_body, revision_body
from tests.integration import api
from tests.integration.conftest import EventRecorder

pytestmark = pytest.mark.integration

ALICE = bearer("alice", "learner", cohorts=("c1",))
BOB = bearer("bob", "learner", cohorts=("c2",))
CAROL = bearer("carol", "learner", cohorts=("c3",))
DAVE = bearer("dave", "learner", cohorts=("c3",))
TEACHER = bearer("teacher-1", "teacher")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MISSING_ID = "0" * 24
NEW_SUMMARY = "Pluto has been a dwarf planet since 2006."

SetClock = Callable[[datetime], None]


def _propose(client: FlaskClient, resource_id: str, headers: dict[str, str] = BOB, **overrides: Any) -> dict[str, Any]:
    return api.created(
        client.post(f"/resources/{resource_id}/revisions", json=revision_body(**overrides), headers=headers)
    )


def _decide(
    client: FlaskClient, revision: dict[str, Any], decision: str, headers: dict[str, str] = ALICE, **body: Any
) -> Any:
    path = f"/resources/{revision['resource_id']}/revisions/{revision['id']}/decision"
    return client.post(path, json={"decision": decision, **body}, headers=headers)


def _read(client: FlaskClient, revision: dict[str, Any]) -> dict[str, Any]:
    return api.ok(client.get(f"/resources/{revision['resource_id']}/revisions/{revision['id']}", headers=CAROL))


@pytest.fixture
def resource(challenges: FlaskClient, set_clock: SetClock) -> dict[str, Any]:
    """Return a resource alice shared at START, due for review 30 days later."""
    set_clock(START)
    return api.share(challenges, ALICE, review_interval_days=30, summary="Pluto is the ninth planet.")


# ---------------------------------------------------------------------------------------------------------------
# Proposing


def test_a_proposal_answers_201_pending_while_readers_see_the_current_version(
    challenges: FlaskClient, published: EventRecorder, set_clock: SetClock, resource: dict[str, Any]
) -> None:
    set_at = START + timedelta(hours=1)
    set_clock(set_at)
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    assert revision == {
        "id": revision["id"],
        "resource_id": resource["id"],
        "proposer_id": "bob",
        "status": "pending",
        "base_version": 1,
        "version": None,
        "changes": {"summary": {"old": "Pluto is the ninth planet.", "new": NEW_SUMMARY}},
        "note": revision_body()["note"],
        "sources": revision_body()["sources"],
        "flagged_outdated": False,
        "resolved_flag_ids": [],
        "created_at": set_at.isoformat(),
        "decided_at": None,
        "decision": None,
    }
    assert _read(challenges, revision) == revision
    current = challenges.get(f"/resources/{resource['id']}", headers=CAROL).get_json()
    assert (current["summary"], current["version"]) == ("Pluto is the ninth planet.", 1)
    (event,) = published.of_type("resource.revision_proposed")
    assert (event.actor_id, event.data["revision_id"]) == ("bob", revision["id"])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"note": "Nothing to change"}, {"body"}),
        ({"summary": NEW_SUMMARY}, {"note"}),
        (revision_body(note=""), {"note"}),
        (revision_body(summary=""), {"summary"}),
        (revision_body(title="x" * 201), {"title"}),
        (revision_body(sources=["https://a.example/1", "https://a.example/1"]), {"sources"}),
        (revision_body(sources=["javascript:alert(1)"]), {"sources.0"}),
    ],
    ids=["no-change", "no-note", "empty-note", "empty-summary", "overlong-title", "repeated-sources", "script-source"],
)
def test_invalid_proposals_are_refused_naming_the_fields(
    challenges: FlaskClient, published: EventRecorder, resource: dict[str, Any], body: dict[str, Any], fields: set[str]
) -> None:
    response = challenges.post(f"/resources/{resource['id']}/revisions", json=body, headers=BOB)
    assert set(api.problem(response, 422)["errors"]) == fields
    assert challenges.get(f"/resources/{resource['id']}/revisions", headers=BOB).get_json()["total"] == 0
    assert published.of_type("resource.revision_proposed") == []


def test_a_field_sent_unchanged_is_refused_naming_it(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    before = api.snapshot(challenges_app)
    for field in ("title", "summary", "url"):
        body = revision_body(**{field: resource[field]})
        problem = api.problem(challenges.post(f"/resources/{resource['id']}/revisions", json=body, headers=BOB), 422)
        assert set(problem["errors"]) == {field}
    assert api.snapshot(challenges_app) == before


def test_a_new_url_another_resource_has_answers_409_naming_it(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    other = api.share(challenges, ALICE, url="https://example.org/wiki/Pluto")
    before = api.snapshot(challenges_app)
    body = revision_body(url="http://www.example.org/wiki/Pluto/?utm_source=feed")
    problem = api.problem(challenges.post(f"/resources/{resource['id']}/revisions", json=body, headers=BOB), 409)
    assert problem["existing_id"] == other["id"]
    assert api.snapshot(challenges_app) == before


def test_a_second_pending_proposal_by_the_same_person_answers_409_naming_the_first(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    first = _propose(challenges, resource["id"], headers=CAROL)
    before = api.snapshot(challenges_app)
    response = challenges.post(f"/resources/{resource['id']}/revisions", json=revision_body(), headers=CAROL)
    assert api.problem(response, 409)["existing_id"] == first["id"]
    assert api.snapshot(challenges_app) == before


# ---------------------------------------------------------------------------------------------------------------
# History


def test_the_history_lists_revisions_newest_first_and_by_status(
    challenges: FlaskClient, set_clock: SetClock, resource: dict[str, Any]
) -> None:
    proposed = []
    for hour, proposer in enumerate((CAROL, BOB, DAVE)):
        set_clock(START + timedelta(hours=hour + 1))
        proposed.append(_propose(challenges, resource["id"], headers=proposer))
    assert _decide(challenges, proposed[0], "reject").status_code == 200
    history = challenges.get(f"/resources/{resource['id']}/revisions", headers=CAROL).get_json()
    assert history["total"] == 3
    assert [item["id"] for item in history["items"]] == [item["id"] for item in reversed(proposed)]
    assert history["items"][2]["status"] == "rejected"
    assert history["items"][0]["changes"] == proposed[2]["changes"]
    pending = challenges.get(f"/resources/{resource['id']}/revisions?status=pending", headers=CAROL).get_json()
    assert [item["id"] for item in pending["items"]] == [proposed[2]["id"], proposed[1]["id"]]
    page = challenges.get(f"/resources/{resource['id']}/revisions?limit=1&offset=1", headers=CAROL).get_json()
    assert (page["total"], [item["id"] for item in page["items"]]) == (3, [proposed[1]["id"]])
    one = _read(challenges, proposed[0])
    assert (one["status"], one["decision"]["decided_by"]) == ("rejected", "owner")


def test_a_revision_is_found_only_under_its_own_resource(challenges: FlaskClient, resource: dict[str, Any]) -> None:
    revision = _propose(challenges, resource["id"])
    other = api.share(challenges, ALICE)
    api.problem(challenges.get(f"/resources/{other['id']}/revisions/{revision['id']}", headers=BOB), 404)
    api.problem(challenges.get(f"/resources/{resource['id']}/revisions/{MISSING_ID}", headers=BOB), 404)
    api.problem(challenges.get(f"/resources/{MISSING_ID}/revisions", headers=BOB), 404)
    api.problem(_decide(challenges, {**revision, "resource_id": other["id"]}, "accept"), 404)


@pytest.mark.parametrize("query", ["status=merged", "limit=101", "offset=-1"])
def test_invalid_history_parameters_are_refused(challenges: FlaskClient, resource: dict[str, Any], query: str) -> None:
    api.problem(challenges.get(f"/resources/{resource['id']}/revisions?{query}", headers=BOB), 422)


# ---------------------------------------------------------------------------------------------------------------
# Binding decisions


def test_the_owner_accepting_answers_the_decided_revision_and_the_resource_reads_verified_now(
    challenges: FlaskClient, published: EventRecorder, set_clock: SetClock, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    decided_at = START + timedelta(days=40)
    set_clock(decided_at)
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()["freshness"]["state"] == "stale"
    accepted = api.ok(_decide(challenges, revision, "accept", reason="Checked the IAU page"))
    assert accepted == {
        **revision,
        "status": "accepted",
        "version": 2,
        "decided_at": decided_at.isoformat(),
        "decision": {
            "decided_by": "owner",
            "decider_id": "alice",
            "verifier_ids": [],
            "reason": "Checked the IAU page",
        },
    }
    assert _read(challenges, revision) == accepted
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (current["summary"], current["version"], current["updated_at"]) == (
        NEW_SUMMARY,
        2,
        decided_at.isoformat(),
    )
    assert current["freshness"] == {
        "state": "fresh",
        "last_verified_at": decided_at.isoformat(),
        "review_by": (decided_at + timedelta(days=30)).isoformat(),
    }
    (event,) = published.of_type("resource.revision_accepted")
    assert (event.actor_id, event.data["revision_id"]) == ("alice", revision["id"])


def test_flags_an_acceptance_resolves_leave_the_resource_and_its_search_filters(
    challenges: FlaskClient, resource: dict[str, Any]
) -> None:
    flags = {
        reason: api.created(
            challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(reason=reason), headers=CAROL)
        )
        for reason in ("outdated", "inaccurate", "broken")
    }
    revision = _propose(challenges, resource["id"])
    accepted = api.ok(_decide(challenges, revision, "accept"))
    assert sorted(accepted["resolved_flag_ids"]) == sorted([flags["outdated"]["id"], flags["inaccurate"]["id"]])
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert [flag["id"] for flag in current["open_flags"]] == [flags["broken"]["id"]]
    assert api.ids(challenges.get("/resources?flag=outdated", headers=BOB)) == []
    assert api.ids(challenges.get("/resources?flag=broken", headers=BOB)) == [resource["id"]]
    assert api.ids(challenges.get("/resources?flagged=true", headers=BOB)) == [resource["id"]]


def test_an_accepted_new_url_frees_the_old_one_for_sharing_and_takes_the_new_one(
    challenges: FlaskClient, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"], url="HTTPS://WWW.Example.net/Pluto/", summary=NEW_SUMMARY)
    api.ok(_decide(challenges, revision, "accept"))
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (current["url"], current["canonical_url"]) == ("HTTPS://WWW.Example.net/Pluto/", "https://example.net/Pluto")
    api.created(challenges.post("/resources", json=resource_body(url=resource["url"]), headers=CAROL))
    taken = challenges.post("/resources", json=resource_body(url="https://example.net/Pluto"), headers=CAROL)
    assert api.problem(taken, 409)["existing_id"] == resource["id"]


def test_a_decided_revision_answers_409_naming_its_status_and_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    api.ok(_decide(challenges, revision, "reject"))
    before = api.snapshot(challenges_app)
    for decision, headers in (("accept", ALICE), ("reject", TEACHER)):
        problem = api.problem(_decide(challenges, revision, decision, headers=headers), 409)
        assert problem["revision_status"] == "rejected"
    assert api.snapshot(challenges_app) == before


@pytest.mark.parametrize("body", [{"reason": "no decision"}, {"decision": None}], ids=["missing", "null"])
def test_a_decision_must_say_accept_or_reject(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any], body: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    before = api.snapshot(challenges_app)
    path = f"/resources/{resource['id']}/revisions/{revision['id']}/decision"
    problem = api.problem(challenges.post(path, json=body, headers=ALICE), 422)
    assert set(problem["errors"]) == {"decision"}
    assert api.snapshot(challenges_app) == before


# ---------------------------------------------------------------------------------------------------------------
# Superseded revisions and URL clashes


def test_accepting_a_superseded_revision_answers_409_and_reads_rejected_as_superseded(
    challenges: FlaskClient, resource: dict[str, Any]
) -> None:
    first = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    second = _propose(challenges, resource["id"], headers=CAROL, title="Pluto (dwarf planet)")
    api.ok(_decide(challenges, first, "accept"))
    problem = api.problem(_decide(challenges, second, "accept"), 409)
    assert (problem["detail"], problem["revision_status"]) == (SUPERSEDED_REASON, "rejected")
    superseded = _read(challenges, second)
    assert superseded["status"] == "rejected"
    assert superseded["decision"] == {
        "decided_by": None,
        "decider_id": None,
        "verifier_ids": [],
        "reason": SUPERSEDED_REASON,
    }
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (current["version"], current["title"], current["summary"]) == (2, resource["title"], NEW_SUMMARY)


def test_accepting_a_new_url_shared_meanwhile_answers_409_naming_its_resource_and_rejects_the_revision(
    challenges: FlaskClient, published: EventRecorder, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"], url="https://example.net/pluto")
    other = api.share(challenges, CAROL, url="https://example.net/pluto")
    problem = api.problem(_decide(challenges, revision, "accept"), 409)
    assert problem["existing_id"] == other["id"]
    rejected = _read(challenges, revision)
    assert rejected["status"] == "rejected"
    assert other["id"] in rejected["decision"]["reason"]
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()["url"] == resource["url"]
    assert published.of_type("resource.revision_accepted") == []
    assert len(published.of_type("resource.revision_rejected")) == 1


# ---------------------------------------------------------------------------------------------------------------
# A crash between the decision's two writes


def _crash_after_the_resource_write(app: Flask, revision: dict[str, Any], now: datetime) -> None:
    """Record alice's acceptance on the resource, with its event, and leave the revision pending.

    This is what a process killed between the two writes leaves behind (`revisions.decide.after_resource_write`).
    """
    dependencies = app.extensions["connective"].dependencies
    repositories = dependencies.repositories
    resource = repositories.resources.get(revision["resource_id"])
    pending = repositories.revisions.get(revision["id"])
    assert resource is not None and pending is not None
    decision = Decision(decided_by=DecidedBy.OWNER, decider_id="alice")
    after = revision_rules.apply_revision(resource, pending, decision, now, dependencies.freshness)
    data = {
        "revision_id": pending.id,
        "resource_id": resource.id,
        "owner_id": resource.owner_id,
        "proposer_id": pending.proposer_id,
        "changed_fields": list(pending.changed_fields),
        "base_version": pending.base_version,
        "flagged_outdated": pending.flagged_outdated,
        "version": after.version,
        "decided_by": "owner",
        "decider_id": "alice",
    }
    event = dependencies.context().event(EventType.RESOURCE_REVISION_ACCEPTED, learner("alice"), data, now)
    load_payload(event.type, event.data)
    assert repositories.resources.record_decision(resource, after, [event])


def test_a_crash_after_the_resource_write_is_finished_by_retrying_the_request(
    challenges: FlaskClient,
    challenges_app: Flask,
    published: EventRecorder,
    set_clock: SetClock,
    resource: dict[str, Any],
) -> None:
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    crashed_at = START + timedelta(hours=1)
    _crash_after_the_resource_write(challenges_app, revision, crashed_at)
    # Half done: the resource took the revision in, the revision still reads pending.
    assert _read(challenges, revision)["status"] == "pending"
    half = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (half["version"], half["summary"]) == (2, NEW_SUMMARY)

    set_clock(START + timedelta(hours=2))
    retried = api.ok(_decide(challenges, revision, "accept"))
    # Finished with the decision the resource recorded, not a second one.
    assert (retried["status"], retried["version"], retried["decided_at"]) == ("accepted", 2, crashed_at.isoformat())
    assert retried["decision"]["decided_by"] == "owner"
    assert _read(challenges, revision) == retried
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json() == half
    assert len(published.of_type("resource.revision_accepted")) == 1
    assert published.of_type("resource.revision_rejected") == []
