"""Bad input against every write endpoint: a clear 4xx, and the database and queues exactly as before.

Each endpoint is listed once with a caller for whom its valid body succeeds (checked first, so a
refusal below is caused by the bad part alone). The generic cases (malformed JSON, a body that is not an
object, a huge body, an unknown field, operator injection and wrong types in every text field) are
generated for each; endpoint-specific cases follow (overlong text, dates out of order, bad values, a
missing field, an owner named by the caller). A 422 names exactly the bad fields, items by their path.
After every refusal the test compares a snapshot of every collection and every queue.

A refused request changes nothing, so the refusals share one world per module (built through the API
once); each compares its own snapshots, and one that changed something makes the next test rebuild the
world. The valid requests, which do change it, each get a world built afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.factories import challenge_body, resource_body, revision_body, submission_body
from tests.integration.bad_requests import MISSING, PAGE_CASES, hostile_bodies, refused, request_kwargs
from tests.integration.world import (
    LEARNER,
    OTHER_COHORT,
    OTHER_LEARNER,
    OWNER_TEACHER,
    Unchanged,
    World,
    WorldHost,
)

pytestmark = pytest.mark.integration

SOON = datetime.now(UTC) + timedelta(days=3)
HUGE = "x" * (1024 * 1024 + 1)
NOT_FOUND_IDS = ("0" * 24, "zzzzzzzzzzzzzzzzzzzzzzzz", "123", "6b02e486%24gt")


@dataclass(frozen=True)
class WriteEndpoint:
    """A write endpoint, a caller it succeeds for, a valid body, and what is special about its fields."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: Callable[[], dict[str, Any]] | None
    text_fields: tuple[str, ...] = ()
    # name -> (bad values merged into the valid body, expected status, exactly the fields `errors` names)
    cases: dict[str, tuple[dict[str, Any], int, set[str]]] = field(default_factory=dict)


ENDPOINTS = (
    WriteEndpoint(
        "create challenge",
        "POST",
        "/challenges",
        OWNER_TEACHER,
        challenge_body,
        ("title", "description"),
        {
            "overlong title": ({"title": "t" * 201}, 422, {"title"}),
            "overlong description": ({"description": "d" * 10_001}, 422, {"description"}),
            "empty title": ({"title": ""}, 422, {"title"}),
            "missing title": ({"title": MISSING}, 422, {"title"}),
            "two bad fields": ({"description": {"$ne": None}, "points": {"$gt": 0}}, 422, {"description", "points"}),
            "owner named by the caller": ({"owner_id": "someone-else"}, 422, {"owner_id"}),
            "end before start": (
                {"starts_at": SOON.isoformat(), "ends_at": (SOON - timedelta(days=1)).isoformat()},
                422,
                {"ends_at"},
            ),
            "naive date": ({"ends_at": "2030-01-01T00:00:00"}, 422, {"ends_at"}),
            "not a date": ({"ends_at": "next friday"}, 422, {"ends_at"}),
            "points as text": ({"points": "50"}, 422, {"points"}),
            "points as fraction": ({"points": 2.5}, 422, {"points"}),
            "points as boolean": ({"points": True}, 422, {"points"}),
            "negative points": ({"points": -1}, 422, {"points"}),
            "blind as a number": ({"review": {"blind": 1}}, 422, {"review.blind"}),
            "blind as yes": ({"review": {"blind": "yes"}}, 422, {"review.blind"}),
            "points of a rule a challenge cannot set": (
                {"rule_points": {"review.nonsense": 5}},
                422,
                {"rule_points.review.nonsense.key"},
            ),
            "too many points for a rule": (
                {"rule_points": {"review.submitted": 101}},
                422,
                {"rule_points.review.submitted.value"},
            ),
            "rule points as text": (
                {"rule_points": {"review.submitted": "5"}},
                422,
                {"rule_points.review.submitted.value"},
            ),
            "rule points not an object": ({"rule_points": [5]}, 422, {"rule_points"}),
            "unknown kind": ({"kind": "quiz"}, 422, {"kind"}),
            "tags not a list": ({"tags": "biology"}, 422, {"tags"}),
            "injected tag": ({"tags": [{"$ne": None}]}, 422, {"tags.0"}),
            "repeated cohorts": ({"cohorts": ["7a", "7a"]}, 422, {"cohorts"}),
            "zero max score": ({"rubric": [{"criterion": "A", "max_score": 0}]}, 422, {"rubric.0.max_score"}),
            "unknown review setting": ({"review": {"blind": True, "anonymous": 1}}, 422, {"review.anonymous"}),
            "prerequisite not an id": ({"prerequisites": ["abc"]}, 422, {"prerequisites.0"}),
            "prerequisite unknown": ({"prerequisites": ["0" * 24]}, 422, {"prerequisites"}),
        },
    ),
    WriteEndpoint(
        "edit challenge",
        "PATCH",
        "/challenges/{draft}",
        OWNER_TEACHER,
        lambda: {"title": "Renamed", "points": 20},
        ("title", "description"),
        {
            "null title": ({"title": None}, 422, {"title"}),
            "overlong title": ({"title": "t" * 201}, 422, {"title"}),
            "end before start": (
                {"starts_at": SOON.isoformat(), "ends_at": (SOON - timedelta(hours=1)).isoformat()},
                422,
                {"ends_at"},
            ),
            "points as text": ({"points": "20"}, 422, {"points"}),
            "own prerequisite": ({"prerequisites": ["{draft}"]}, 422, {"prerequisites"}),
        },
    ),
    WriteEndpoint(
        "submit",
        "POST",
        "/challenges/{challenge}/submissions",
        OTHER_LEARNER,
        submission_body,
        ("content",),
        {
            "overlong content": ({"content": "c" * 20_001}, 422, {"content"}),
            "too many links": ({"links": [f"https://example.org/{n}" for n in range(11)]}, 422, {"links"}),
            "link not a url": ({"links": ["not a url"]}, 422, {"links.0"}),
            "script link": ({"links": ["javascript:alert(1)"]}, 422, {"links.0"}),
            "links not a list": ({"links": "https://example.org"}, 422, {"links"}),
        },
    ),
    WriteEndpoint(
        "revise submission",
        "PUT",
        "/submissions/{submission}",
        LEARNER,
        submission_body,
        ("content",),
        {
            "overlong content": ({"content": "c" * 20_001}, 422, {"content"}),
            "link not a url": ({"links": ["ftp://example.org/a"]}, 422, {"links.0"}),
        },
    ),
    WriteEndpoint(
        "share resource",
        "POST",
        "/resources",
        LEARNER,
        resource_body,
        ("url", "title", "summary"),
        {
            "overlong title": ({"title": "t" * 201}, 422, {"title"}),
            "overlong summary": ({"summary": "s" * 5_001}, 422, {"summary"}),
            "overlong url": ({"url": "https://example.org/" + "a" * 2_100}, 422, {"url"}),
            "not http": ({"url": "ftp://example.org/file"}, 422, {"url"}),
            "script url": ({"url": "javascript:alert(1)"}, 422, {"url"}),
            "bad tag": ({"tags": ["no/slashes"]}, 422, {"tags.0"}),
            "repeated tags": ({"tags": ["ok", "ok"]}, 422, {"tags"}),
            "owner named by the caller": ({"owner_id": "bob"}, 422, {"owner_id"}),
            "challenge not an id": ({"challenge_id": "abc"}, 422, {"challenge_id"}),
            "unknown challenge": ({"challenge_id": "0" * 24}, 404, set()),
            "zero review interval": ({"review_interval_days": 0}, 422, {"review_interval_days"}),
        },
    ),
    WriteEndpoint(
        "flag resource",
        "POST",
        "/resources/{resource}/flags",
        OTHER_LEARNER,
        lambda: {"reason": "outdated", "note": "Pluto is no longer a planet"},
        ("reason", "note"),
        {
            "unknown reason": ({"reason": "boring"}, 422, {"reason"}),
            "overlong note": ({"note": "n" * 1_001}, 422, {"note"}),
            "empty note": ({"note": ""}, 422, {"note"}),
        },
    ),
    WriteEndpoint(
        "propose revision",
        "POST",
        "/resources/{resource}/revisions",
        OTHER_COHORT,
        revision_body,
        ("summary", "note"),
        {
            "overlong summary": ({"summary": "s" * 5_001}, 422, {"summary"}),
            "overlong note": ({"note": "n" * 2_001}, 422, {"note"}),
            "source not a url": ({"sources": ["somewhere"]}, 422, {"sources.0"}),
            "too many sources": ({"sources": [f"https://example.org/{n}" for n in range(11)]}, 422, {"sources"}),
            "url not http": ({"url": "mailto:someone@example.org"}, 422, {"url"}),
        },
    ),
    WriteEndpoint(
        "decide revision",
        "POST",
        "/resources/{resource}/revisions/{revision}/decision",
        OWNER_TEACHER,
        lambda: {"decision": "accept", "reason": "Checked against the IAU's resolution"},
        ("decision", "reason"),
        {
            "unknown decision": ({"decision": "maybe"}, 422, {"decision"}),
            "overlong reason": ({"reason": "r" * 1_001}, 422, {"reason"}),
        },
    ),
    WriteEndpoint("endorse resource", "POST", "/resources/{resource}/endorsements", OTHER_LEARNER, None),
    WriteEndpoint("publish challenge", "POST", "/challenges/{draft}/publish", OWNER_TEACHER, None),
    WriteEndpoint("close challenge", "POST", "/challenges/{challenge}/close", OWNER_TEACHER, None),
    WriteEndpoint("archive challenge", "POST", "/challenges/{draft}/archive", OWNER_TEACHER, None),
    WriteEndpoint("withdraw submission", "POST", "/submissions/{submission}/withdraw", LEARNER, None),
)


def _generic_cases(endpoint: WriteEndpoint) -> list[tuple[str, dict[str, Any]]]:
    """Return (case name, bad request) pairs every body endpoint must refuse.

    A bad request is raw `data`, a `body` sent instead of the valid one, or `changes` merged into it;
    `fields` are what the problem's `errors` must name, exactly (none to check when empty).
    """
    if endpoint.body is None:
        return []
    cases: list[tuple[str, dict[str, Any]]] = [
        ("malformed JSON", {"data": '{"title": ', "status": 400, "fields": set()}),
        ("a list instead of an object", {"body": lambda body: [body], "status": 422, "fields": set()}),
        ("a string instead of an object", {"body": lambda body: "a string", "status": 422, "fields": set()}),
        ("a huge body", {"changes": {"padding": HUGE}, "status": 413, "fields": set()}),
        ("an unknown field", {"changes": {"is_admin": True}, "status": 422, "fields": {"is_admin"}}),
        ("an operator key", {"changes": {"$where": "1"}, "status": 422, "fields": {"$where"}}),
    ]
    for name in endpoint.text_fields:
        for kind, value in (("operator injection in", {"$gt": ""}), ("a number as", 12345), ("a list as", ["a"])):
            cases.append((f"{kind} {name}", {"changes": {name: value}, "status": 422, "fields": {name}}))
    for case_name, (values, status, names) in endpoint.cases.items():
        cases.append((case_name, {"changes": values, "status": status, "fields": names}))
    cases.extend(hostile_bodies(endpoint.text_fields[0] if endpoint.text_fields else "padding"))
    return cases


BODY_CASES = [
    pytest.param(endpoint, bad, id=f"{endpoint.name}: {case_name}")
    for endpoint in ENDPOINTS
    for case_name, bad in _generic_cases(endpoint)
]
ID_CASES = [
    pytest.param(endpoint, bad_id, id=f"{endpoint.name}: id {bad_id}")
    for endpoint in ENDPOINTS
    if "{" in endpoint.path
    for bad_id in NOT_FOUND_IDS
]


def _send(client: FlaskClient, endpoint: WriteEndpoint, path: str, **request: Any) -> Any:
    return client.open(path, method=endpoint.method, headers=endpoint.headers, **request)


def _fill(world: World, value: Any) -> Any:
    if isinstance(value, str):
        return world.fill(value) if "{" in value and "}" in value else value
    if isinstance(value, list):
        return [_fill(world, item) for item in value]
    if isinstance(value, dict):
        return {key: _fill(world, item) for key, item in value.items()}
    return value


def _bad_request(endpoint: WriteEndpoint, world: World, bad: dict[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments of `client.open` that send this bad request."""
    body = endpoint.body
    assert body is not None
    return request_kwargs(body, bad, lambda changes: _fill(world, changes))


@pytest.mark.parametrize("endpoint", [pytest.param(endpoint, id=endpoint.name) for endpoint in ENDPOINTS])
def test_the_valid_request_succeeds(host: WorldHost, endpoint: WriteEndpoint) -> None:
    world = host.fresh()
    body = endpoint.body() if endpoint.body else None
    response = _send(host.client, endpoint, world.fill(endpoint.path), json=body)
    assert response.status_code in (200, 201), response.get_data(as_text=True)


@pytest.mark.parametrize(("endpoint", "bad"), BODY_CASES)
def test_bad_body_is_refused_and_changes_nothing(
    unchanged: Unchanged, endpoint: WriteEndpoint, bad: dict[str, Any]
) -> None:
    world = unchanged.world
    response = _send(unchanged.client, endpoint, world.fill(endpoint.path), **_bad_request(endpoint, world, bad))
    assert response.status_code == bad["status"], response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == bad["status"]
    assert problem["detail"]
    if bad["fields"]:
        # Items of lists and nested objects are named by their path: `links.0`, `rubric.0.max_score`.
        assert set(problem["errors"]) == bad["fields"], problem
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("endpoint", "bad_id"), ID_CASES)
def test_an_unknown_or_malformed_id_is_not_found_and_changes_nothing(
    unchanged: Unchanged, endpoint: WriteEndpoint, bad_id: str
) -> None:
    path = endpoint.path
    for placeholder in ("{challenge}", "{draft}", "{submission}", "{resource}", "{revision}"):
        path = path.replace(placeholder, bad_id, 1) if placeholder in path else path
    body = endpoint.body() if endpoint.body else None
    response = _send(unchanged.client, endpoint, unchanged.world.fill(path), json=body)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    unchanged.assert_unchanged()


@dataclass(frozen=True)
class ListEndpoint:
    """A list endpoint, a caller it answers 200 for, and the bad values of its own parameters."""

    name: str
    path: str
    headers: dict[str, str]
    # name -> (parameters of the query, exactly the parameters `errors` names)
    cases: dict[str, tuple[dict[str, Any], set[str]]] = field(default_factory=dict)


INJECTED = '{"$gt": ""}'
LISTS = (
    ListEndpoint(
        "list challenges",
        "/challenges",
        OWNER_TEACHER,
        {
            "an unknown status": ({"status": "deleted"}, {"status"}),
            "an unknown kind": ({"kind": "quiz"}, {"kind"}),
            "an injected tag": ({"tag": INJECTED}, {"tag"}),
            "an overlong tag": ({"tag": "t" * 65}, {"tag"}),
            "an injected cohort": ({"cohort": INJECTED}, {"cohort"}),
            "open as yes": ({"open": "yes"}, {"open"}),
            "open as 1": ({"open": "1"}, {"open"}),
            "an empty owner": ({"owner_id": ""}, {"owner_id"}),
            "an overlong owner": ({"owner_id": "o" * 129}, {"owner_id"}),
            "an unknown order": ({"sort": "random"}, {"sort"}),
        },
    ),
    ListEndpoint(
        "search resources",
        "/resources",
        LEARNER,
        {
            "an injected tag": ({"tag": INJECTED}, {"tag"}),
            "empty search text": ({"q": ""}, {"q"}),
            "overlong search text": ({"q": "q" * 201}, {"q"}),
            "stale as 1": ({"stale": "1"}, {"stale"}),
            "flagged as on": ({"flagged": "on"}, {"flagged"}),
            "an unknown flag reason": ({"flag": "boring"}, {"flag"}),
            "an injected challenge id": ({"challenge_id": INJECTED}, {"challenge_id"}),
            "an unknown order": ({"sort": "random"}, {"sort"}),
        },
    ),
    ListEndpoint(
        "list my submissions",
        "/submissions",
        LEARNER,
        {
            "an unknown status": ({"status": "lost"}, {"status"}),
            "an injected challenge id": ({"challenge_id": INJECTED}, {"challenge_id"}),
        },
    ),
    ListEndpoint(
        "list challenge submissions",
        "/challenges/{challenge}/submissions",
        OWNER_TEACHER,
        {"an unknown status": ({"status": "lost"}, {"status"})},
    ),
    ListEndpoint("list submission versions", "/submissions/{submission}/versions", LEARNER),
    ListEndpoint(
        "list revisions",
        "/resources/{resource}/revisions",
        LEARNER,
        {"an unknown status": ({"status": "maybe"}, {"status"})},
    ),
)
QUERY_CASES = [
    pytest.param(endpoint, query, names, id=f"{endpoint.name}: {case_name}")
    for endpoint in LISTS
    for case_name, (query, names) in {**PAGE_CASES, **endpoint.cases}.items()
]


@pytest.mark.parametrize("endpoint", [pytest.param(endpoint, id=endpoint.name) for endpoint in LISTS])
def test_the_plain_list_answers(unchanged: Unchanged, endpoint: ListEndpoint) -> None:
    response = unchanged.client.get(unchanged.world.fill(endpoint.path), headers=endpoint.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("endpoint", "query", "names"), QUERY_CASES)
def test_a_bad_query_parameter_is_refused_naming_it_and_changes_nothing(
    unchanged: Unchanged, endpoint: ListEndpoint, query: dict[str, Any], names: set[str]
) -> None:
    path = unchanged.world.fill(endpoint.path)
    response = unchanged.client.get(path, query_string=query, headers=endpoint.headers)
    assert set(refused(response, 422)["errors"]) == names
    unchanged.assert_unchanged()


@pytest.mark.parametrize("text", [".*", "(", "[a-", "\\", "$where", '{"$ne": null}'])
def test_search_text_is_matched_literally_never_as_a_pattern(unchanged: Unchanged, text: str) -> None:
    """`q` is escaped before it reaches MongoDB: a regular expression or an operator finds only itself."""
    response = unchanged.client.get("/resources", query_string={"q": text}, headers=LEARNER)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["total"] == 0
    unchanged.assert_unchanged()
