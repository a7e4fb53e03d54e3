"""Knowledge updates over HTTP and from peer review: proposing, deciding, verifying, and repairing after a crash."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.challenges.domain.revisions import SUPERSEDED_REASON
from services.challenges.usecases import revisions
from services.challenges.usecases.resources import flag_resource
from shared.contracts.auth import Principal
from shared.contracts.events import Event
from shared.contracts.payloads import load_payload
from tests.factories import bearer, flag_body, resource_body, revision_body, revision_verified_event
from tests.integration import api
from tests.integration.conftest import EventRecorder

pytestmark = pytest.mark.integration

ALICE = bearer("alice", "learner", cohorts=("c1",))
BOB = bearer("bob", "learner", cohorts=("c2",))
CAROL = bearer("carol", "learner", cohorts=("c3",))
DAVE = bearer("dave", "learner", cohorts=("c3",))
TEACHER = bearer("teacher-1", "teacher")
ADMIN = bearer("admin-1", "admin")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MISSING_ID = "0" * 24
NEW_SUMMARY = "Pluto has been a dwarf planet since 2006."

SetClock = Callable[[datetime], None]


class ProcessDied(Exception):
    """Stands in for the process being killed at this line."""


def _propose(client: FlaskClient, resource_id: str, headers: dict[str, str] = BOB, **overrides: Any) -> dict[str, Any]:
    return api.created(
        client.post(f"/resources/{resource_id}/revisions", json=revision_body(**overrides), headers=headers)
    )


def _decide(
    client: FlaskClient, revision: dict[str, Any], decision: str, headers: dict[str, str] = ALICE, **body: Any
) -> Any:
    path = f"/resources/{revision['resource_id']}/revisions/{revision['id']}/decision"
    return client.post(path, json={"decision": decision, **body}, headers=headers)


def _verify(app: Flask, *events: Event) -> None:
    """Apply `revision.verified` events as the worker's job would."""
    context = app.extensions["connective"].dependencies.context()
    revisions.apply_verifications([(event, load_payload(event.type, event.data)) for event in events], context=context)


def _both(app: Flask, revision: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Return the stored resource and revision, to compare before and after."""
    return api.stored(app, "resources", revision["resource_id"]), api.stored(app, "revisions", revision["id"])


def _payloads(published: EventRecorder, event_type: str) -> list[dict[str, Any]]:
    return [load_payload(event.type, event.data) for event in published.of_type(event_type)]


@pytest.fixture
def resource(challenges: FlaskClient, set_clock: SetClock) -> dict[str, Any]:
    """Return a resource alice shared at START, due for review 30 days later."""
    set_clock(START)
    return api.share(challenges, ALICE, review_interval_days=30, summary="Pluto is the ninth planet.")


@pytest.fixture
def crash_on_finishing(challenges_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Kill an accept between its two writes: the resource took the revision in, the revision is not marked."""
    repository = challenges_app.extensions["connective"].dependencies.repositories.revisions
    original = repository.decide

    def decide(decided: Any, events: Any, now: Any, **kwargs: Any) -> bool:
        if decided.status.value == "accepted":
            raise ProcessDied
        return original(decided, events, now, **kwargs)

    monkeypatch.setattr(repository, "decide", decide)
    yield monkeypatch


# ---------------------------------------------------------------------------------------------------------------
# Proposing


def test_a_proposal_stays_pending_while_readers_see_the_current_version(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    set_at = START + timedelta(hours=1)
    challenges_app.extensions["connective"].dependencies.clock = lambda: set_at
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
    current = challenges.get(f"/resources/{resource['id']}", headers=CAROL).get_json()
    assert (current["summary"], current["version"]) == ("Pluto is the ninth planet.", 1)
    (event,) = published.of_type("resource.revision_proposed")
    assert event.actor_id == "bob"
    payload = load_payload(event.type, event.data)
    assert payload == {
        "revision_id": revision["id"],
        "resource_id": resource["id"],
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
    }
    # Peer review shows verifiers the change without calling back.
    assert event.data["changes"] == revision["changes"]
    stored = api.stored(challenges_app, "revisions", revision["id"])
    assert stored["status"] == "pending"
    assert "_outbox" not in stored


def test_a_proposal_on_a_resource_someone_else_flagged_outdated_says_so(
    challenges: FlaskClient, published: EventRecorder, resource: dict[str, Any]
) -> None:
    challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(), headers=CAROL)
    revision = _propose(challenges, resource["id"])
    assert revision["flagged_outdated"] is True
    assert _payloads(published, "resource.revision_proposed")[0]["flagged_outdated"] is True


def test_the_proposers_own_outdated_flag_does_not_count_as_flagged_outdated(
    challenges: FlaskClient, resource: dict[str, Any]
) -> None:
    challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(), headers=BOB)
    assert _propose(challenges, resource["id"])["flagged_outdated"] is False


def test_a_proposal_may_change_title_summary_and_url_at_once(challenges: FlaskClient, resource: dict[str, Any]) -> None:
    revision = _propose(
        challenges, resource["id"], title="Pluto (dwarf planet)", summary=NEW_SUMMARY, url="https://example.net/pluto"
    )
    assert revision["changes"] == {
        "title": {"old": resource["title"], "new": "Pluto (dwarf planet)"},
        "summary": {"old": resource["summary"], "new": NEW_SUMMARY},
        "url": {"old": resource["url"], "new": "https://example.net/pluto"},
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"note": "Nothing to change"}, {"body"}),
        ({"summary": NEW_SUMMARY}, {"note"}),
        (revision_body(note=""), {"note"}),
        (revision_body(note="x" * 2001), {"note"}),
        (revision_body(summary=""), {"summary"}),
        (revision_body(title="x" * 201), {"title"}),
        (revision_body(url="ftp://example.org/pluto"), {"url"}),
        (revision_body(sources=["https://a.example/1", "https://a.example/1"]), {"sources"}),
        (revision_body(sources=[f"https://a.example/{number}" for number in range(11)]), {"sources"}),
        (revision_body(sources=["javascript:alert(1)"]), {"sources.0"}),
        (revision_body(summary={"$gt": ""}), {"summary"}),
        (revision_body(version=7), {"version"}),
    ],
    ids=[
        "no-change",
        "no-note",
        "empty-note",
        "overlong-note",
        "empty-summary",
        "overlong-title",
        "ftp-url",
        "repeated-sources",
        "too-many-sources",
        "script-source",
        "operator",
        "unknown-field",
    ],
)
def test_invalid_proposals_are_refused_naming_the_fields(
    challenges: FlaskClient, published: EventRecorder, resource: dict[str, Any], body: dict[str, Any], fields: set[str]
) -> None:
    response = challenges.post(f"/resources/{resource['id']}/revisions", json=body, headers=BOB)
    assert set(api.problem(response, 422)["errors"]) == fields
    assert challenges.get(f"/resources/{resource['id']}/revisions", headers=BOB).get_json()["total"] == 0
    assert published.of_type("resource.revision_proposed") == []


@pytest.mark.parametrize("field", ["title", "summary", "url"])
def test_a_field_sent_unchanged_is_refused(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any], field: str
) -> None:
    body = revision_body(**{field: resource[field]})
    problem = api.problem(challenges.post(f"/resources/{resource['id']}/revisions", json=body, headers=BOB), 422)
    assert set(problem["errors"]) == {field}
    assert api.database(challenges_app)["revisions"].count_documents({}) == 0


def test_a_new_url_another_resource_has_is_a_conflict_naming_it(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    other = api.share(challenges, ALICE, url="https://example.org/wiki/Pluto")
    body = revision_body(url="http://www.example.org/wiki/Pluto/?utm_source=feed")
    problem = api.problem(challenges.post(f"/resources/{resource['id']}/revisions", json=body, headers=BOB), 409)
    assert problem["existing_id"] == other["id"]
    assert api.database(challenges_app)["revisions"].count_documents({}) == 0


def test_proposing_on_an_unknown_resource_answers_404(challenges: FlaskClient) -> None:
    api.problem(challenges.post(f"/resources/{MISSING_ID}/revisions", json=revision_body(), headers=BOB), 404)


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
    one = challenges.get(f"/resources/{resource['id']}/revisions/{proposed[0]['id']}", headers=CAROL).get_json()
    assert (one["status"], one["decision"]["decided_by"]) == ("rejected", "owner")


def test_a_second_pending_proposal_by_the_same_person_waits_for_the_first(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    first = _propose(challenges, resource["id"], headers=CAROL)
    before = api.documents(challenges_app, "revisions")
    response = challenges.post(f"/resources/{resource['id']}/revisions", json=revision_body(), headers=CAROL)
    assert api.problem(response, 409)["existing_id"] == first["id"]
    assert api.documents(challenges_app, "revisions") == before
    assert _decide(challenges, first, "reject").status_code == 200
    _propose(challenges, resource["id"], headers=CAROL)


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


def test_the_owner_accepting_makes_the_revision_current_and_verified_now(
    challenges: FlaskClient,
    challenges_app: Flask,
    published: EventRecorder,
    set_clock: SetClock,
    resource: dict[str, Any],
) -> None:
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    decided_at = START + timedelta(days=40)
    set_clock(decided_at)
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()["freshness"]["state"] == "stale"
    accepted = api.ok(_decide(challenges, revision, "accept", reason="Checked the IAU page"))
    assert (accepted["status"], accepted["version"], accepted["decided_at"]) == (
        "accepted",
        2,
        decided_at.isoformat(),
    )
    assert accepted["decision"] == {
        "decided_by": "owner",
        "decider_id": "alice",
        "verifier_ids": [],
        "reason": "Checked the IAU page",
    }
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
    assert event.actor_id == "alice"
    payload = load_payload(event.type, event.data)
    assert {key: payload[key] for key in ("decided_by", "decider_id", "version", "base_version", "proposer_id")} == {
        "decided_by": "owner",
        "decider_id": "alice",
        "version": 2,
        "base_version": 1,
        "proposer_id": "bob",
    }
    assert (payload["owner_id"], payload["cohorts"], payload["tags"]) == ("alice", ["c2"], ["astronomy"])
    stored_resource = api.stored(challenges_app, "resources", resource["id"])
    assert stored_resource["applied_revisions"] == [revision["id"]]
    assert "_outbox" not in stored_resource
    assert "_outbox" not in api.stored(challenges_app, "revisions", revision["id"])


def test_accepting_resolves_outdated_and_inaccurate_flags_but_not_broken_ones_without_a_new_url(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    flags = {
        reason: challenges.post(
            f"/resources/{resource['id']}/flags", json=flag_body(reason=reason), headers=CAROL
        ).get_json()
        for reason in ("outdated", "inaccurate", "broken")
    }
    revision = _propose(challenges, resource["id"])
    accepted = _decide(challenges, revision, "accept").get_json()
    assert sorted(accepted["resolved_flag_ids"]) == sorted([flags["outdated"]["id"], flags["inaccurate"]["id"]])
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert [flag["id"] for flag in current["open_flags"]] == [flags["broken"]["id"]]
    stored = api.stored(challenges_app, "resources", resource["id"])
    assert (stored["open_flag_count"], stored["open_flag_reasons"], stored["flag_count"]) == (1, ["broken"], 3)
    payload = _payloads(published, "resource.revision_accepted")[0]
    assert payload["flagged_outdated"] is True
    assert sorted(payload["resolved_flag_ids"]) == sorted(accepted["resolved_flag_ids"])
    assert challenges.get("/resources?flag=outdated", headers=BOB).get_json()["total"] == 0
    assert challenges.get("/resources?flag=broken", headers=BOB).get_json()["total"] == 1
    # A resolved flag no longer blocks the same person flagging the same reason again.
    api.created(challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(), headers=CAROL))


def test_accepting_a_new_url_mends_broken_links_and_frees_the_old_url(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    broken = challenges.post(
        f"/resources/{resource['id']}/flags", json=flag_body(reason="broken"), headers=CAROL
    ).get_json()
    revision = _propose(challenges, resource["id"], url="HTTPS://WWW.Example.net/Pluto/", summary=NEW_SUMMARY)
    accepted = _decide(challenges, revision, "accept").get_json()
    assert accepted["resolved_flag_ids"] == [broken["id"]]
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (current["url"], current["canonical_url"]) == ("HTTPS://WWW.Example.net/Pluto/", "https://example.net/Pluto")
    assert current["open_flags"] == []
    api.created(challenges.post("/resources", json=resource_body(url=resource["url"]), headers=CAROL))
    taken = challenges.post("/resources", json=resource_body(url="https://example.net/Pluto"), headers=CAROL)
    assert api.problem(taken, 409)["existing_id"] == resource["id"]


@pytest.mark.parametrize(("headers", "decided_by"), [(TEACHER, "teacher"), (ADMIN, "admin")])
def test_teachers_and_admins_decide_in_their_own_capacity(
    challenges: FlaskClient,
    published: EventRecorder,
    resource: dict[str, Any],
    headers: dict[str, str],
    decided_by: str,
) -> None:
    revision = _propose(challenges, resource["id"])
    accepted = _decide(challenges, revision, "accept", headers=headers).get_json()
    assert accepted["decision"]["decided_by"] == decided_by
    assert _payloads(published, "resource.revision_accepted")[0]["decided_by"] == decided_by


@pytest.mark.parametrize(
    "who",
    [(BOB, BOB), (ALICE, ALICE), (TEACHER, TEACHER), (BOB, CAROL)],
    ids=["proposer", "owner-proposer", "teacher-proposer", "another-learner"],
)
def test_only_the_owner_or_staff_other_than_the_proposer_decide(
    challenges: FlaskClient,
    challenges_app: Flask,
    published: EventRecorder,
    resource: dict[str, Any],
    who: tuple[dict[str, str], dict[str, str]],
) -> None:
    proposer, decider = who
    revision = _propose(challenges, resource["id"], headers=proposer)
    before = _both(challenges_app, revision)
    for decision in ("accept", "reject"):
        api.problem(_decide(challenges, revision, decision, headers=decider), 403)
    assert _both(challenges_app, revision) == before
    assert published.of_type("resource.revision_accepted") == published.of_type("resource.revision_rejected") == []


def test_a_decided_revision_cannot_be_decided_again(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    assert _decide(challenges, revision, "reject").status_code == 200
    before = api.stored(challenges_app, "revisions", revision["id"])
    for decision, headers in (("accept", ALICE), ("reject", TEACHER)):
        api.problem(_decide(challenges, revision, decision, headers=headers), 409)
    assert api.stored(challenges_app, "revisions", revision["id"]) == before
    assert len(published.of_type("resource.revision_rejected")) == 1
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()["version"] == 1


def test_rejecting_keeps_the_resource_and_records_why(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    before = api.stored(challenges_app, "resources", resource["id"])
    rejected = _decide(challenges, revision, "reject", headers=TEACHER, reason="The source is a blog").get_json()
    assert rejected["status"] == "rejected"
    assert rejected["decision"] == {
        "decided_by": "teacher",
        "decider_id": "teacher-1",
        "verifier_ids": [],
        "reason": "The source is a blog",
    }
    assert api.stored(challenges_app, "resources", resource["id"]) == before
    (payload,) = _payloads(published, "resource.revision_rejected")
    assert (payload["decided_by"], payload["reason"], payload["version"]) == ("teacher", "The source is a blog", None)
    assert "_outbox" not in api.stored(challenges_app, "revisions", revision["id"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"decision": "maybe"}, 422),
        ({"decision": "accept", "reason": "x" * 1001}, 422),
        ({"reason": "no decision"}, 422),
        ({"decision": "accept", "decided_by": "peers"}, 422),
    ],
    ids=["unknown-decision", "overlong-reason", "missing-decision", "unknown-field"],
)
def test_invalid_decisions_are_refused(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any], body: dict[str, Any], status: int
) -> None:
    revision = _propose(challenges, resource["id"])
    path = f"/resources/{resource['id']}/revisions/{revision['id']}/decision"
    api.problem(challenges.post(path, json=body, headers=ALICE), status)
    api.problem(challenges.post(path, data="{oops", content_type="application/json", headers=ALICE), 400)
    assert api.stored(challenges_app, "revisions", revision["id"])["status"] == "pending"


# ---------------------------------------------------------------------------------------------------------------
# Superseded revisions and races


def test_accepting_a_revision_of_a_resource_that_changed_since_rejects_it_as_superseded(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    first = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    second = _propose(challenges, resource["id"], headers=CAROL, title="Pluto (dwarf planet)")
    assert _decide(challenges, first, "accept").status_code == 200
    problem = api.problem(_decide(challenges, second, "accept"), 409)
    assert problem["detail"] == SUPERSEDED_REASON
    superseded = challenges.get(f"/resources/{resource['id']}/revisions/{second['id']}", headers=BOB).get_json()
    assert superseded["status"] == "rejected"
    assert superseded["decision"] == {
        "decided_by": None,
        "decider_id": None,
        "verifier_ids": [],
        "reason": SUPERSEDED_REASON,
    }
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (current["version"], current["title"], current["summary"]) == (2, resource["title"], NEW_SUMMARY)
    (payload,) = _payloads(published, "resource.revision_rejected")
    assert (payload["revision_id"], payload["reason"], payload["proposer_id"]) == (
        second["id"],
        SUPERSEDED_REASON,
        "carol",
    )
    assert api.stored(challenges_app, "resources", resource["id"])["applied_revisions"] == [first["id"]]


def test_a_new_url_shared_meanwhile_turns_the_accept_into_a_conflict(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"], url="https://example.net/pluto")
    before = api.stored(challenges_app, "resources", resource["id"])
    other = challenges.post("/resources", json=resource_body(url="https://example.net/pluto"), headers=CAROL)
    problem = api.problem(_decide(challenges, revision, "accept"), 409)
    assert problem["existing_id"] == other.get_json()["id"]
    assert api.stored(challenges_app, "resources", resource["id"]) == before
    rejected = api.stored(challenges_app, "revisions", revision["id"])
    assert rejected["status"] == "rejected"
    assert other.get_json()["id"] in rejected["decision"]["reason"]
    assert published.of_type("resource.revision_accepted") == []
    assert len(published.of_type("resource.revision_rejected")) == 1


def test_a_flag_added_while_a_revision_is_accepted_is_not_lost(
    challenges: FlaskClient, challenges_app: Flask, monkeypatch: pytest.MonkeyPatch, resource: dict[str, Any]
) -> None:
    dependencies = challenges_app.extensions["connective"].dependencies
    repository = dependencies.repositories.resources
    original = repository.apply_revision
    calls: list[str] = []

    def flag_first(*args: Any, **kwargs: Any) -> bool:
        if not calls:
            calls.append("flagged")
            flagger = Principal("zoe", frozenset({"learner"}))
            note = {"reason": "broken", "note": "The link is dead"}
            flag_resource(resource["id"], note, actor=flagger, context=dependencies.context())
        return original(*args, **kwargs)

    monkeypatch.setattr(repository, "apply_revision", flag_first)
    revision = _propose(challenges, resource["id"])
    assert _decide(challenges, revision, "accept").status_code == 200
    stored = api.stored(challenges_app, "resources", resource["id"])
    assert [flag["user_id"] for flag in stored["flags"]] == ["zoe"]
    assert (stored["version"], stored["open_flag_reasons"], stored["open_flag_count"]) == (2, ["broken"], 1)


# ---------------------------------------------------------------------------------------------------------------
# Peer verification (`revision.verified`)


def test_peers_approving_accepts_the_revision(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(), headers=CAROL)
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    _verify(challenges_app, revision_verified_event(revision["id"], resource["id"], "approve", ("dave", "erin")))
    accepted = challenges.get(f"/resources/{resource['id']}/revisions/{revision['id']}", headers=BOB).get_json()
    assert accepted["status"] == "accepted"
    assert accepted["decision"] == {
        "decided_by": "peers",
        "decider_id": None,
        "verifier_ids": ["dave", "erin"],
        "reason": "approve: checked the sources",
    }
    current = challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()
    assert (current["summary"], current["version"], current["open_flags"]) == (NEW_SUMMARY, 2, [])
    (event,) = published.of_type("resource.revision_accepted")
    assert event.actor_id is None
    payload = load_payload(event.type, event.data)
    assert (payload["decided_by"], payload["verifier_ids"], payload["flagged_outdated"]) == (
        "peers",
        ["dave", "erin"],
        True,
    )


def test_peers_rejecting_rejects_the_revision(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    before = api.stored(challenges_app, "resources", resource["id"])
    _verify(challenges_app, revision_verified_event(revision["id"], resource["id"], "reject"))
    assert api.stored(challenges_app, "revisions", revision["id"])["status"] == "rejected"
    assert api.stored(challenges_app, "resources", resource["id"]) == before
    (payload,) = _payloads(published, "resource.revision_rejected")
    assert (payload["decided_by"], payload["verifier_ids"]) == ("peers", ["dave", "erin"])


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_redelivered_verification_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any], verdict: str
) -> None:
    revision = _propose(challenges, resource["id"])
    event = revision_verified_event(revision["id"], resource["id"], verdict)
    _verify(challenges_app, event)
    before = (*_both(challenges_app, revision), len(published.events))
    _verify(challenges_app, event, event)
    assert (*_both(challenges_app, revision), len(published.events)) == before


def test_a_verification_after_a_binding_decision_changes_nothing(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    assert _decide(challenges, revision, "reject").status_code == 200
    before = api.stored(challenges_app, "revisions", revision["id"])
    _verify(challenges_app, revision_verified_event(revision["id"], resource["id"], "approve"))
    assert api.stored(challenges_app, "revisions", revision["id"]) == before
    assert challenges.get(f"/resources/{resource['id']}", headers=BOB).get_json()["version"] == 1
    assert published.of_type("resource.revision_accepted") == []


def test_verifications_of_unknown_revisions_are_skipped_and_the_rest_applied(
    challenges: FlaskClient, challenges_app: Flask, resource: dict[str, Any]
) -> None:
    revision = _propose(challenges, resource["id"])
    other = api.share(challenges, ALICE)
    _verify(
        challenges_app,
        revision_verified_event(MISSING_ID, resource["id"]),
        revision_verified_event(revision["id"], other["id"]),
        revision_verified_event(revision["id"], resource["id"]),
    )
    assert api.stored(challenges_app, "revisions", revision["id"])["status"] == "accepted"
    assert api.stored(challenges_app, "resources", other["id"])["version"] == 1


def test_peers_approving_a_superseded_revision_rejects_it(
    challenges: FlaskClient, challenges_app: Flask, published: EventRecorder, resource: dict[str, Any]
) -> None:
    first = _propose(challenges, resource["id"])
    second = _propose(challenges, resource["id"], headers=CAROL)
    assert _decide(challenges, first, "accept").status_code == 200
    _verify(challenges_app, revision_verified_event(second["id"], resource["id"], "approve", ("dave", "erin")))
    stored = api.stored(challenges_app, "revisions", second["id"])
    assert (stored["status"], stored["decision"]["reason"]) == ("rejected", SUPERSEDED_REASON)
    (payload,) = _payloads(published, "resource.revision_rejected")
    assert (payload["revision_id"], payload["decided_by"], payload["verifier_ids"]) == (
        second["id"],
        None,
        ["dave", "erin"],
    )


# ---------------------------------------------------------------------------------------------------------------
# A crash between the accept's two writes


def test_a_crash_after_the_resource_write_is_repaired_by_retrying_the_request(
    challenges: FlaskClient,
    challenges_app: Flask,
    published: EventRecorder,
    crash_on_finishing: pytest.MonkeyPatch,
    resource: dict[str, Any],
) -> None:
    challenges.post(f"/resources/{resource['id']}/flags", json=flag_body(), headers=CAROL)
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    assert _decide(challenges, revision, "accept").status_code == 500
    # Half done: the resource took the revision in (with its event), the revision document still says pending.
    half = api.stored(challenges_app, "resources", resource["id"])
    assert (half["version"], half["applied_revisions"]) == (2, [revision["id"]])
    assert api.stored(challenges_app, "revisions", revision["id"])["status"] == "pending"
    crash_on_finishing.undo()

    retried = api.ok(_decide(challenges, revision, "accept"))
    assert (retried["status"], retried["version"]) == ("accepted", 2)
    repaired = api.stored(challenges_app, "resources", resource["id"])
    assert (repaired["version"], repaired["applied_revisions"], repaired["open_flag_count"]) == (
        2,
        [revision["id"]],
        0,
    )
    assert len(published.of_type("resource.revision_accepted")) == 1
    # The retry finishes with the decision the resource recorded, not a second one.
    assert (
        api.stored(challenges_app, "revisions", revision["id"])["decided_at"]
        == half["acceptances"][revision["id"]]["decided_at"]
    )


def test_a_crash_after_the_resource_write_is_repaired_by_the_redelivered_verification(
    challenges: FlaskClient,
    challenges_app: Flask,
    published: EventRecorder,
    crash_on_finishing: pytest.MonkeyPatch,
    resource: dict[str, Any],
) -> None:
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    event = revision_verified_event(revision["id"], resource["id"], "approve")
    with pytest.raises(ProcessDied):
        _verify(challenges_app, event)
    crash_on_finishing.undo()

    _verify(challenges_app, event)
    stored = api.stored(challenges_app, "revisions", revision["id"])
    assert (stored["status"], stored["version"], stored["decision"]["decided_by"]) == ("accepted", 2, "peers")
    assert api.stored(challenges_app, "resources", resource["id"])["version"] == 2
    assert len(published.of_type("resource.revision_accepted")) == 1


def test_rejecting_a_revision_the_resource_already_took_in_finishes_it_as_accepted(
    challenges: FlaskClient,
    challenges_app: Flask,
    published: EventRecorder,
    crash_on_finishing: pytest.MonkeyPatch,
    resource: dict[str, Any],
) -> None:
    revision = _propose(challenges, resource["id"], summary=NEW_SUMMARY)
    assert _decide(challenges, revision, "accept", headers=TEACHER).status_code == 500
    crash_on_finishing.undo()

    api.problem(_decide(challenges, revision, "reject"), 409)
    stored = api.stored(challenges_app, "revisions", revision["id"])
    assert (stored["status"], stored["decision"]["decided_by"]) == ("accepted", "teacher")
    assert published.of_type("resource.revision_rejected") == []
