"""Bad input against every write endpoint and every query parameter of peer review: a clear problem+json 4xx,
and every collection and queue exactly as before (nothing written, nothing enqueued).

Each write endpoint is listed once with a caller for whom its valid body succeeds (checked first, so a refusal
below is caused by the bad part alone). Generic cases are generated for each: malformed JSON, a body that is
not an object, a huge body (413), an unknown field, an operator key, and operator injection (`{"$gt": ""}`)
and wrong types in every field. Endpoint-specific cases follow: booleans, strings and floats for integers,
overlong strings, values out of range. A 422 names the bad field (items of a mapping by their path, e.g.
`scores.Accuracy.value`). Query parameters get the same treatment, page sizes out of range included; and a
malformed or unknown id in any path answers 404.

Refusals share one world per module (tests/integration/peer_review_world.py, built through events and the
API once); each compares its own snapshots, and one that changed something makes the next test rebuild the
world. The valid requests, which do change it, each get a world built afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient

from devstack.servers import RedisServer
from tests.integration.bad_requests import MISSING, PAGE_CASES, hostile_bodies, refused, request_kwargs
from tests.integration.peer_review_world import (
    ADMIN,
    AUTHOR,
    COMMENT,
    OTHER_LEARNER,
    OWNER_TEACHER,
    REVIEWER,
    PeerReviewHost,
    PeerReviewWorld,
    Unchanged,
    hosted_peer_review,
    review_body,
    verdict_body,
)

pytestmark = pytest.mark.integration

HUGE = "x" * (1024 * 1024 + 1)
NOT_FOUND_IDS = ("0" * 24, "zzzzzzzzzzzzzzzzzzzzzzzz", "123", "6b02e486%24gt", "6B02E48625231E1D5301A2B7")
INJECTION = {"$gt": ""}

Body = Callable[[PeerReviewWorld], dict[str, Any]]
Case = tuple[dict[str, Any], int, set[str]]


@dataclass(frozen=True)
class WriteEndpoint:
    """A write endpoint, a caller it succeeds for, a valid body, and what is special about its fields."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: Body
    # Every field of the body: each gets operator injection and wrong types.
    fields: tuple[str, ...] = ()
    # name -> (bad values merged into the valid body, expected status, exactly the fields `errors` names)
    cases: dict[str, Case] = field(default_factory=dict)


def _scores(**scores: Any) -> dict[str, Any]:
    return {"scores": {"Accuracy": 4, "Clarity": 3, **scores}}


# Integer scores, as JSON can send them wrong: each names the criterion's value.
SCORE_CASES: dict[str, Case] = {
    "a float score": (_scores(Accuracy=4.0), 422, {"scores.Accuracy.value"}),
    "a fractional score": (_scores(Accuracy=3.5), 422, {"scores.Accuracy.value"}),
    "a boolean score": (_scores(Accuracy=True), 422, {"scores.Accuracy.value"}),
    "a score as text": (_scores(Accuracy="4"), 422, {"scores.Accuracy.value"}),
    "a null score": (_scores(Accuracy=None), 422, {"scores.Accuracy.value"}),
    "an injected score": (_scores(Accuracy={"$gt": 0}), 422, {"scores.Accuracy.value"}),
    "a negative score": (_scores(Accuracy=-1), 422, {"scores.Accuracy.value"}),
    "a score above any rubric": (_scores(Accuracy=1001), 422, {"scores.Accuracy.value"}),
    "a score above the rubric's": (_scores(Accuracy=6), 422, {"scores"}),
    "an operator criterion": (_scores(**{"$where": 1}), 422, {"scores"}),
    "an overlong criterion": (_scores(**{"c" * 201: 1}), 422, {"scores." + "c" * 201 + ".key"}),
    "too many criteria": ({"scores": {f"c{n}": 1 for n in range(51)}}, 422, {"scores"}),
    "scores as a list": ({"scores": [4, 3]}, 422, {"scores"}),
}
COMMENT_CASES: dict[str, Case] = {
    "an overlong comment": ({"comment": "c" * 5_001}, 422, {"comment"}),
    "a short comment": ({"comment": "Fine."}, 422, {"comment"}),
    "a null comment": ({"comment": None}, 422, {"comment"}),
    "no comment": ({"comment": MISSING}, 422, {"comment"}),
}

ENDPOINTS = (
    WriteEndpoint(
        "claim from the queue",
        "POST",
        "/assignments/next",
        OTHER_LEARNER,
        lambda world: {"challenge_id": world.challenge_id, "kind": "submission"},
        ("challenge_id", "kind"),
        {
            "a challenge id not an id": ({"challenge_id": "abc"}, 422, {"challenge_id"}),
            "an overlong challenge id": ({"challenge_id": "a" * 25}, 422, {"challenge_id"}),
            "an unknown kind": ({"kind": "quiz"}, 422, {"kind"}),
            "a kind in capitals": ({"kind": "SUBMISSION"}, 422, {"kind"}),
        },
    ),
    WriteEndpoint("decline", "POST", "/assignments/{assignment}/decline", REVIEWER, lambda world: {}),
    WriteEndpoint(
        "review",
        "POST",
        "/assignments/{assignment}/review",
        REVIEWER,
        lambda world: review_body(),
        ("scores", "verdict", "comment"),
        {**SCORE_CASES, **COMMENT_CASES, "an unknown verdict": ({"verdict": "maybe"}, 422, {"verdict"})},
    ),
    WriteEndpoint(
        "verify",
        "POST",
        "/assignments/{revision_assignment}/review",
        REVIEWER,
        lambda world: verdict_body(),
        ("scores", "verdict", "comment"),
        {
            **COMMENT_CASES,
            "an unknown verdict": ({"verdict": "maybe"}, 422, {"verdict"}),
            "a verdict in capitals": ({"verdict": "APPROVE"}, 422, {"verdict"}),
            "a null verdict": ({"verdict": None}, 422, {"verdict"}),
            "scores instead": ({"verdict": MISSING, "scores": {"Accuracy": 4}}, 422, {"verdict"}),
        },
    ),
    WriteEndpoint(
        "edit a review",
        "PUT",
        "/reviews/{review}",
        REVIEWER,
        lambda world: review_body(comment="On second reading: every step is right."),
        ("scores", "verdict", "comment"),
        {**SCORE_CASES, **COMMENT_CASES},
    ),
    WriteEndpoint(
        "rate a review",
        "POST",
        "/reviews/{review}/rating",
        AUTHOR,
        lambda world: {"helpfulness": 4},
        ("helpfulness",),
        {
            "a boolean rating": ({"helpfulness": True}, 422, {"helpfulness"}),
            "a rating as text": ({"helpfulness": "4"}, 422, {"helpfulness"}),
            "a float rating": ({"helpfulness": 4.0}, 422, {"helpfulness"}),
            "a fractional rating": ({"helpfulness": 4.5}, 422, {"helpfulness"}),
            "a null rating": ({"helpfulness": None}, 422, {"helpfulness"}),
            "a rating of zero": ({"helpfulness": 0}, 422, {"helpfulness"}),
            "a rating of six": ({"helpfulness": 6}, 422, {"helpfulness"}),
            "a huge rating": ({"helpfulness": 10**15}, 422, {"helpfulness"}),
            "a rating past 2^53": ({"helpfulness": 10**30}, 400, set()),
            "no rating": ({"helpfulness": MISSING}, 422, {"helpfulness"}),
        },
    ),
    WriteEndpoint(
        "override a grade",
        "POST",
        "/targets/submission/{submission}/override",
        OWNER_TEACHER,
        lambda world: {"scores": {"Accuracy": 5, "Clarity": 4}, "reason": "The sources check out"},
        ("scores", "verdict", "reason"),
        {
            **SCORE_CASES,
            "an overlong reason": ({"reason": "r" * 2_001}, 422, {"reason"}),
            "a criterion unscored": ({"scores": {"Accuracy": 5}}, 422, {"scores"}),
            "no scores": ({"scores": MISSING}, 422, {"scores"}),
        },
    ),
    WriteEndpoint(
        "decide a revision",
        "POST",
        "/targets/revision/{revision}/override",
        OWNER_TEACHER,
        lambda world: {"verdict": "approve", "reason": "Checked the IAU resolution"},
        ("scores", "verdict", "reason"),
        {
            "an unknown verdict": ({"verdict": "maybe"}, 422, {"verdict"}),
            "no verdict": ({"verdict": MISSING}, 422, {"verdict"}),
            "an overlong reason": ({"reason": "r" * 2_001}, 422, {"reason"}),
        },
    ),
    WriteEndpoint(
        "allocate",
        "POST",
        "/allocations",
        OWNER_TEACHER,
        lambda world: {"challenge_id": world.challenge_id},
        ("challenge_id",),
        {
            "a challenge id not an id": ({"challenge_id": "abc"}, 422, {"challenge_id"}),
            "a null challenge id": ({"challenge_id": None}, 422, {"challenge_id"}),
            "no challenge id": ({"challenge_id": MISSING}, 422, {"challenge_id"}),
            "an unknown challenge": ({"challenge_id": "0" * 24}, 404, set()),
        },
    ),
    WriteEndpoint(
        "reassign",
        "POST",
        "/allocations/{assignment}/reassign",
        OWNER_TEACHER,
        lambda world: {"reviewer_id": "dave"},
        ("reviewer_id",),
        {
            "an overlong reviewer": ({"reviewer_id": "d" * 129}, 422, {"reviewer_id"}),
            "an empty reviewer": ({"reviewer_id": ""}, 422, {"reviewer_id"}),
            "a null reviewer": ({"reviewer_id": None}, 422, {"reviewer_id"}),
            "no reviewer": ({"reviewer_id": MISSING}, 422, {"reviewer_id"}),
            "the author": ({"reviewer_id": "alice"}, 422, {"reviewer_id"}),
            "the reviewer already on it": ({"reviewer_id": "bob"}, 422, {"reviewer_id"}),
        },
    ),
)


def _generic_cases(endpoint: WriteEndpoint) -> list[tuple[str, dict[str, Any]]]:
    """Return (case name, bad request) pairs every write endpoint must refuse.

    A bad request is raw `data`, a `body` sent instead of the valid one, or `changes` merged into it;
    `fields` are what the problem's `errors` must name, exactly (none to check when empty), or with
    `prefixed` the fields the names must start with (a mapping's entries are named by their path).
    """
    cases: list[tuple[str, dict[str, Any]]] = [
        ("malformed JSON", {"data": '{"comment": ', "status": 400, "fields": set()}),
        ("a list instead of an object", {"body": lambda body: [body], "status": 422, "fields": {"body"}}),
        ("a string instead of an object", {"body": lambda body: "a string", "status": 422, "fields": {"body"}}),
        ("a number instead of an object", {"body": lambda body: 12, "status": 422, "fields": {"body"}}),
        ("a huge body", {"changes": {"padding": HUGE}, "status": 413, "fields": set()}),
        ("an unknown field", {"changes": {"is_admin": True}, "status": 422, "fields": {"is_admin"}}),
        ("an operator key", {"changes": {"$where": "1"}, "status": 422, "fields": {"$where"}}),
        ("a dotted key", {"changes": {"scores.Accuracy": 5}, "status": 422, "fields": {"scores.Accuracy"}}),
    ]
    for name in endpoint.fields:
        for kind, value in (
            ("operator injection in", INJECTION),
            ("an operator list in", [INJECTION]),
            ("a number as", 12345),
            ("a boolean as", True),
        ):
            if name == "scores" and kind == "operator injection in":
                # {"$gt": ""} is a mapping, so it is refused entry by entry: `scores.$gt.value`, or no criterion $gt.
                cases.append((f"{kind} {name}", {"changes": {name: value}, "status": 422, "prefixed": {name}}))
                continue
            cases.append((f"{kind} {name}", {"changes": {name: value}, "status": 422, "fields": {name}}))
    for case_name, (values, status, names) in endpoint.cases.items():
        cases.append((case_name, {"changes": values, "status": status, "fields": names}))
    cases.extend(hostile_bodies(endpoint.fields[0] if endpoint.fields else "padding"))
    return cases


BODY_CASES = [
    pytest.param(endpoint, bad, id=f"{endpoint.name}: {case_name}")
    for endpoint in ENDPOINTS
    for case_name, bad in _generic_cases(endpoint)
]


@dataclass(frozen=True)
class ListEndpoint:
    """A list endpoint, a caller it answers 200 for, and its valid query."""

    name: str
    path: str
    headers: dict[str, str]
    query: Callable[[PeerReviewWorld], dict[str, Any]]
    # name -> (parameters merged into the valid query, exactly the parameters `errors` names)
    cases: dict[str, tuple[dict[str, Any], set[str]]]


CHALLENGE_ID_CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "a challenge id not an id": ({"challenge_id": "abc"}, {"challenge_id"}),
    "an injected challenge id": ({"challenge_id": '{"$gt": ""}'}, {"challenge_id"}),
    "an overlong challenge id": ({"challenge_id": "a" * 25}, {"challenge_id"}),
    "an empty challenge id": ({"challenge_id": ""}, {"challenge_id"}),
}

LISTS = (
    ListEndpoint(
        "list my assignments",
        "/assignments",
        REVIEWER,
        lambda world: {"status": "assigned", "kind": "submission", "challenge_id": world.second_challenge_id},
        {
            **PAGE_CASES,
            **CHALLENGE_ID_CASES,
            "an unknown status": ({"status": "done"}, {"status"}),
            "an injected status": ({"status": '{"$ne": null}'}, {"status"}),
            "a status in capitals": ({"status": "ASSIGNED"}, {"status"}),
            "an unknown kind": ({"kind": "quiz"}, {"kind"}),
            "an injected kind": ({"kind": '{"$in": ["submission"]}'}, {"kind"}),
        },
    ),
    ListEndpoint(
        "see the allocation",
        "/allocations",
        OWNER_TEACHER,
        lambda world: {"challenge_id": world.challenge_id},
        {**PAGE_CASES, **CHALLENGE_ID_CASES, "no challenge id": ({"challenge_id": MISSING}, {"challenge_id"})},
    ),
)
QUERY_CASES = [
    pytest.param(endpoint, changes, names, id=f"{endpoint.name}: {case_name}")
    for endpoint in LISTS
    for case_name, (changes, names) in endpoint.cases.items()
]

# Every route with an id in its path, a caller and a body it would succeed with given a real id.
ID_ROUTES: tuple[tuple[str, str, str, dict[str, str], Body | None], ...] = (
    ("read an assignment", "GET", "/assignments/{id}", REVIEWER, None),
    ("decline", "POST", "/assignments/{id}/decline", REVIEWER, lambda world: {}),
    ("review", "POST", "/assignments/{id}/review", REVIEWER, lambda world: review_body()),
    ("edit a review", "PUT", "/reviews/{id}", REVIEWER, lambda world: review_body()),
    ("rate a review", "POST", "/reviews/{id}/rating", AUTHOR, lambda world: {"helpfulness": 4}),
    ("read a submission's reviews", "GET", "/targets/submission/{id}/reviews", ADMIN, None),
    ("read a revision's reviews", "GET", "/targets/revision/{id}/reviews", ADMIN, None),
    ("override a grade", "POST", "/targets/submission/{id}/override", ADMIN, lambda world: {"scores": {"A": 1}}),
    ("decide a revision", "POST", "/targets/revision/{id}/override", ADMIN, lambda world: {"verdict": "approve"}),
    ("reassign", "POST", "/allocations/{id}/reassign", ADMIN, lambda world: {"reviewer_id": "dave"}),
)
ID_CASES = [
    pytest.param(method, path.replace("{id}", bad_id), headers, body, id=f"{name}: id {bad_id}")
    for name, method, path, headers, body in ID_ROUTES
    for bad_id in NOT_FOUND_IDS
]
# Paths that name no such thing: a kind of target that does not exist, an overlong user id, ids of the wrong kind.
OTHER_NOT_FOUND = (
    ("GET", "/targets/quiz/{submission}/reviews", None),
    ("POST", "/targets/quiz/{submission}/override", {"scores": {"Accuracy": 5, "Clarity": 5}}),
    ("POST", "/targets/revision/{submission}/override", {"verdict": "approve"}),
    ("GET", "/targets/submission/{revision}/reviews", None),
    ("GET", "/targets/submission/{challenge}/reviews", None),
    ("POST", "/assignments/{review}/review", review_body()),
    ("PUT", "/reviews/{assignment}", review_body()),
    ("GET", "/reviewers/" + "u" * 129, None),
)


@pytest.fixture(scope="module")
def review_host(
    redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any
) -> Iterator[PeerReviewHost]:
    """Return this module's peer-review app on FerretDB (mongo_client: the session drops its databases)."""
    with hosted_peer_review(redis_server.url, mongo_server_url, database_prefix) as host:
        yield host


@pytest.fixture
def unchanged(review_host: PeerReviewHost) -> Iterator[Unchanged]:
    """Return the module's shared world and a snapshot of every collection and queue taken before the test."""
    with review_host.shared() as view:
        yield view


def _send(client: FlaskClient, endpoint: WriteEndpoint, world: PeerReviewWorld, **request: Any) -> Any:
    return client.open(world.fill(endpoint.path), method=endpoint.method, headers=endpoint.headers, **request)


def _bad_request(endpoint: WriteEndpoint, world: PeerReviewWorld, bad: dict[str, Any]) -> dict[str, Any]:
    return request_kwargs(lambda: endpoint.body(world), bad)


@pytest.mark.parametrize("endpoint", [pytest.param(endpoint, id=endpoint.name) for endpoint in ENDPOINTS])
def test_the_valid_request_succeeds(review_host: PeerReviewHost, endpoint: WriteEndpoint) -> None:
    world = review_host.fresh()
    response = _send(review_host.client, endpoint, world, json=endpoint.body(world))
    assert response.status_code in (200, 201), response.get_data(as_text=True)


@pytest.mark.parametrize(("endpoint", "bad"), BODY_CASES)
def test_bad_body_is_refused_and_changes_nothing(
    unchanged: Unchanged, endpoint: WriteEndpoint, bad: dict[str, Any]
) -> None:
    world = unchanged.world
    response = _send(unchanged.client, endpoint, world, **_bad_request(endpoint, world, bad))
    problem = refused(response, bad["status"])
    if bad.get("fields"):
        assert set(problem["errors"]) == bad["fields"], problem
    if bad.get("prefixed"):
        assert problem["errors"], problem
        assert {name.split(".")[0] for name in problem["errors"]} == bad["prefixed"], problem
    unchanged.assert_unchanged()


@pytest.mark.parametrize("endpoint", [pytest.param(endpoint, id=endpoint.name) for endpoint in LISTS])
def test_the_valid_query_lists_something(unchanged: Unchanged, endpoint: ListEndpoint) -> None:
    response = unchanged.client.get(
        endpoint.path, query_string=endpoint.query(unchanged.world), headers=endpoint.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["total"] > 0
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("endpoint", "changes", "names"), QUERY_CASES)
def test_a_bad_query_parameter_is_refused_naming_it_and_changes_nothing(
    unchanged: Unchanged, endpoint: ListEndpoint, changes: dict[str, Any], names: set[str]
) -> None:
    query = {**endpoint.query(unchanged.world), **changes}
    query = {name: value for name, value in query.items() if value is not MISSING}
    response = unchanged.client.get(endpoint.path, query_string=query, headers=endpoint.headers)
    assert set(refused(response, 422)["errors"]) == names
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("method", "path", "headers", "body"), ID_CASES)
def test_an_unknown_or_malformed_id_is_not_found_and_changes_nothing(
    unchanged: Unchanged, method: str, path: str, headers: dict[str, str], body: Body | None
) -> None:
    response = unchanged.client.open(path, method=method, json=body(unchanged.world) if body else None, headers=headers)
    refused(response, 404)
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("method", "path", "body"), OTHER_NOT_FOUND, ids=[f"{m} {p}" for m, p, _ in OTHER_NOT_FOUND])
def test_a_path_naming_nothing_under_review_is_not_found_and_changes_nothing(
    unchanged: Unchanged, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = unchanged.client.open(unchanged.world.fill(path), method=method, json=body, headers=ADMIN)
    refused(response, 404)
    unchanged.assert_unchanged()


def test_a_comment_of_the_longest_allowed_length_is_accepted(review_host: PeerReviewHost) -> None:
    world = review_host.fresh()
    comment = (COMMENT + " ") * (5_000 // (len(COMMENT) + 1))
    comment = comment + "x" * (5_000 - len(comment))
    response = review_host.client.post(
        world.fill("/assignments/{assignment}/review"), json=review_body(comment=comment), headers=REVIEWER
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(response.get_json()["comment"]) == 5_000
