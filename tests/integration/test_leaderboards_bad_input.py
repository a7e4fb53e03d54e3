"""Bad input against every leaderboards endpoint: a clear problem+json 4xx, and the storage exactly as before.

The two write endpoints are listed with a caller for whom their valid body succeeds (checked first, so a
refusal below is caused by the bad part alone). Generic cases are generated for each: malformed JSON, a body
that is not an object, a huge body (413), an unknown field, an operator key, a dotted key, and operator
injection (`{"$gt": ""}`) and wrong types in every field. Specific cases follow: points of 0, above the
limit, as text, as a fraction, as a boolean; overlong and short reasons; bad cohorts and tags; a bad
`Idempotency-Key`; an unknown or injected entry key. Every query parameter of the reads gets the same
treatment (windows, periods, `around`, page sizes, too many or bad `user_id`s; unknown query parameters are
ignored, as webargs does for every service's queries), and bad board names, malformed, future and too old
periods, and overlong ids in a path answer 404. A 422 names exactly the bad fields (list items by their
path, e.g. `cohorts.0`).

Refusals share one world per module (tests/integration/leaderboards_world.py, built through events and the
API once); each compares a snapshot of every collection and every Redis key (the ledger, the boards, the
balances, the markers, the `events:leaderboards` stream) before and after, and one that changed something
makes the next test rebuild the world. The valid requests, which do change it, each get a world built afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from devstack.servers import RedisServer
from services.leaderboards.domain.boards import MAX_MEMBERS, Window, window_periods
from tests.integration.bad_requests import MISSING, PAGE_CASES, hostile_bodies, refused, request_kwargs
from tests.integration.leaderboards_world import (
    ADMIN,
    LEARNER,
    TEACHER,
    LeaderboardsHost,
    LeaderboardsWorld,
    Unchanged,
    hosted_leaderboards,
)

pytestmark = pytest.mark.integration

HUGE = "x" * (1024 * 1024 + 1)
INJECTION = {"$gt": ""}

Body = Callable[[LeaderboardsWorld], dict[str, Any]]
# (bad values merged into the valid body, expected status, exactly the fields `errors` names)
Case = tuple[dict[str, Any], int, set[str]]


@dataclass(frozen=True)
class WriteEndpoint:
    """A write endpoint, a caller it succeeds for, a valid body, and what is special about its fields."""

    name: str
    path: str
    headers: dict[str, str]
    body: Body
    # Every field of the body: each gets operator injection and wrong types.
    fields: tuple[str, ...] = ()
    # List fields: an operator in one of their items is named by the item's path.
    list_fields: tuple[str, ...] = ()
    cases: dict[str, Case] = field(default_factory=dict)


def _award(world: LeaderboardsWorld) -> dict[str, Any]:
    return {
        "user_id": "alice",
        "points": 10,
        "reason": "Helped the class set up the telescope",
        "cohorts": ["7a"],
        "challenge_id": "6b02e48625231e1d5301a2b8",
        "tags": ["astronomy"],
    }


def _reversal(world: LeaderboardsWorld) -> dict[str, Any]:
    return {"entry_key": world.shared_key, "reason": "Shared by mistake"}


REASON_CASES: dict[str, Case] = {
    "an overlong reason": ({"reason": "r" * 201}, 422, {"reason"}),
    "a short reason": ({"reason": "ok"}, 422, {"reason"}),
    "an empty reason": ({"reason": ""}, 422, {"reason"}),
    "a null reason": ({"reason": None}, 422, {"reason"}),
    "no reason": ({"reason": MISSING}, 422, {"reason"}),
}

ENDPOINTS = (
    WriteEndpoint(
        "award",
        "/awards",
        TEACHER,
        _award,
        ("user_id", "points", "reason", "cohorts", "challenge_id", "tags"),
        ("cohorts", "tags"),
        {
            **REASON_CASES,
            "zero points": ({"points": 0}, 422, {"points"}),
            "1001 points": ({"points": 1001}, 422, {"points"}),
            "-1001 points": ({"points": -1001}, 422, {"points"}),
            "huge points": ({"points": 10**15}, 422, {"points"}),
            "points past 2^53": ({"points": 10**30}, 400, set()),
            "points as text": ({"points": "10"}, 422, {"points"}),
            "fractional points": ({"points": 10.5}, 422, {"points"}),
            "points as a float": ({"points": 10.0}, 422, {"points"}),
            "points as a boolean": ({"points": True}, 422, {"points"}),
            "null points": ({"points": None}, 422, {"points"}),
            "no points": ({"points": MISSING}, 422, {"points"}),
            "an empty user": ({"user_id": ""}, 422, {"user_id"}),
            "an overlong user": ({"user_id": "u" * 129}, 422, {"user_id"}),
            "a null user": ({"user_id": None}, 422, {"user_id"}),
            "no user": ({"user_id": MISSING}, 422, {"user_id"}),
            "too many cohorts": ({"cohorts": [f"c{n}" for n in range(21)]}, 422, {"cohorts"}),
            "repeated cohorts": ({"cohorts": ["7a", "7a"]}, 422, {"cohorts"}),
            "a cohort with a slash": ({"cohorts": ["7a/b"]}, 422, {"cohorts.0"}),
            "an overlong cohort": ({"cohorts": ["c" * 65]}, 422, {"cohorts.0"}),
            "an empty cohort": ({"cohorts": [""]}, 422, {"cohorts.0"}),
            "too many tags": ({"tags": [f"t{n}" for n in range(21)]}, 422, {"tags"}),
            "repeated tags": ({"tags": ["astronomy", "astronomy"]}, 422, {"tags"}),
            "a tag with a slash": ({"tags": ["a/b"]}, 422, {"tags.0"}),
            "a challenge id not an id": ({"challenge_id": "abc"}, 422, {"challenge_id"}),
            "a challenge id in capitals": ({"challenge_id": "6B02E48625231E1D5301A2B8"}, 422, {"challenge_id"}),
            "two bad fields": ({"points": "ten", "user_id": INJECTION}, 422, {"points", "user_id"}),
        },
    ),
    WriteEndpoint(
        "reverse",
        "/awards/reversals",
        TEACHER,
        _reversal,
        ("entry_key", "reason"),
        (),
        {
            **REASON_CASES,
            "an empty entry key": ({"entry_key": ""}, 422, {"entry_key"}),
            "an overlong entry key": ({"entry_key": "k" * 401}, 422, {"entry_key"}),
            "a null entry key": ({"entry_key": None}, 422, {"entry_key"}),
            "no entry key": ({"entry_key": MISSING}, 422, {"entry_key"}),
            "an unknown entry key": ({"entry_key": "award:0000000000000000000000"}, 404, set()),
            "an injected entry key as text": ({"entry_key": '{"$gt": ""}'}, 404, set()),
            "a regular expression as the entry key": ({"entry_key": ".*"}, 404, set()),
            "points named by the caller": ({"points": -5}, 422, {"points"}),
        },
    ),
)


def _generic_cases(endpoint: WriteEndpoint) -> list[tuple[str, dict[str, Any]]]:
    """Return (case name, bad request) pairs every write endpoint must refuse.

    A bad request is raw `data`, a `body` sent instead of the valid one, or `changes` merged into it;
    `fields` are what the problem's `errors` must name, exactly (none to check when empty).
    """
    cases: list[tuple[str, dict[str, Any]]] = [
        ("malformed JSON", {"data": '{"reason": ', "status": 400, "fields": set()}),
        ("a list instead of an object", {"body": lambda body: [body], "status": 422, "fields": {"body"}}),
        ("a string instead of an object", {"body": lambda body: "a string", "status": 422, "fields": {"body"}}),
        ("a number instead of an object", {"body": lambda body: 12, "status": 422, "fields": {"body"}}),
        ("null instead of an object", {"body": lambda body: None, "status": 422, "fields": set()}),
        ("a huge body", {"changes": {"padding": HUGE}, "status": 413, "fields": set()}),
        ("an unknown field", {"changes": {"is_admin": True}, "status": 422, "fields": {"is_admin"}}),
        ("an operator key", {"changes": {"$where": "1"}, "status": 422, "fields": {"$where"}}),
        ("a dotted key", {"changes": {"points.value": 5}, "status": 422, "fields": {"points.value"}}),
    ]
    for name in endpoint.fields:
        listed = name in endpoint.list_fields
        for kind, value, named in (
            ("operator injection in", INJECTION, name),
            ("an operator list in", [INJECTION], f"{name}.0" if listed else name),
            ("a number as", 12345, name),
            ("a boolean as", True, name),
        ):
            if name == "points" and kind == "a number as":
                continue  # a number is what points are; its range is a case of its own
            cases.append((f"{kind} {name}", {"changes": {name: value}, "status": 422, "fields": {named}}))
    for case_name, (values, status, names) in endpoint.cases.items():
        cases.append((case_name, {"changes": values, "status": status, "fields": names}))
    cases.extend(hostile_bodies(endpoint.fields[0] if endpoint.fields else "padding"))
    return cases


BODY_CASES = [
    pytest.param(endpoint, bad, id=f"{endpoint.name}: {case_name}")
    for endpoint in ENDPOINTS
    for case_name, bad in _generic_cases(endpoint)
]

# A key for a request a client may retry: 8-128 letters, digits or ._:-
# with the status it answers: 400 where it is no key at all for any POST (shared/idempotency.py: 1 to 255
# visible ASCII characters), 422 where it breaks the awards' own rule alone.
BAD_IDEMPOTENCY_KEYS = {
    "an empty key": ("", 400),
    "a short key": ("abc1234", 422),
    "an overlong key": ("k" * 129, 422),
    "a key with spaces": ("retry this award", 400),
    "a key with a slash": ("award/2026/12/01", 422),
    "an injected key": ('{"$gt": ""}', 400),
    "a dollar key": ("$where:12345678", 422),
}


@dataclass(frozen=True)
class ReadEndpoint:
    """A read endpoint, a caller it answers 200 for, and its valid query."""

    name: str
    path: str
    headers: dict[str, str]
    query: dict[str, Any]
    # name -> (parameters merged into the valid query, exactly the parameters `errors` names)
    cases: dict[str, tuple[dict[str, Any], set[str]]]


WINDOW_CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "an unknown window": ({"window": "year"}, {"window"}),
    "a window in capitals": ({"window": "WEEK"}, {"window"}),
    "an empty window": ({"window": ""}, {"window"}),
    "an injected window": ({"window": '{"$ne": null}'}, {"window"}),
    "an overlong period": ({"period": "2026-W48-and-more"}, {"period"}),
    "a short period": ({"period": "W4"}, {"period"}),
    "an empty period": ({"period": ""}, {"period"}),
}
AROUND_CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "a negative around": ({"around": -1}, {"around"}),
    "an around of 51": ({"around": 51}, {"around"}),
    "a fractional around": ({"around": "1.5"}, {"around"}),
    "an around as text": ({"around": "five"}, {"around"}),
    "an injected around": ({"around": '{"$gt": 0}'}, {"around"}),
}
USER_CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "no members": ({"user_id": MISSING}, {"user_id"}),
    "too many members": ({"user_id": [f"user-{n}" for n in range(MAX_MEMBERS + 1)]}, {"user_id"}),
    "an empty member": ({"user_id": ["alice", ""]}, {"user_id.1"}),
    "an overlong member": ({"user_id": ["u" * 129]}, {"user_id.0"}),
}

READS = (
    ReadEndpoint(
        "board",
        "/leaderboards/cohort:7a",
        LEARNER,
        {"window": "week", "limit": 10, "offset": 0},
        {**WINDOW_CASES, **PAGE_CASES},
    ),
    ReadEndpoint(
        "member",
        "/leaderboards/cohort:7a/users/alice",
        LEARNER,
        {"window": "month", "around": 2},
        {**WINDOW_CASES, **AROUND_CASES},
    ),
    ReadEndpoint(
        "members",
        "/leaderboards/cohort:7a/members",
        LEARNER,
        {"window": "all", "around": 1, "user_id": ["alice", "bob"]},
        {**WINDOW_CASES, **AROUND_CASES, **USER_CASES},
    ),
    ReadEndpoint("points", "/users/alice/points", LEARNER, {"limit": 5}, PAGE_CASES),
)
QUERY_CASES = [
    pytest.param(endpoint, changes, names, id=f"{endpoint.name}: {case_name}")
    for endpoint in READS
    for case_name, (changes, names) in endpoint.cases.items()
]


# The test deployment's time zone (TIMEZONE is not set).
ZONE = ZoneInfo("UTC")


def _weeks_ago(weeks: int) -> str:
    return window_periods(datetime.now(UTC) - timedelta(weeks=weeks), ZONE)[Window.WEEK]


def _months_ago(months: int) -> str:
    return window_periods(datetime.now(UTC) - timedelta(days=31 * months), ZONE)[Window.MONTH]


# Periods that are not kept (the deployment's zone is UTC): malformed, of the other window, in the future,
# older than the twelve periods kept, or given to the all-time window.
UNKNOWN_PERIODS = {
    "a month for the week window": ("week", "2026-11"),
    "a week for the month window": ("month", "2026-W48"),
    "week 0": ("week", "2026-W00"),
    "week 54": ("week", "2026-W54"),
    "week 53 of a year of 52": ("week", "2025-W53"),
    "week 99": ("week", "2026-W99"),
    "month 0": ("month", "2026-00"),
    "month 13": ("month", "2026-13"),
    "a week of letters": ("week", "abcd-Wxy"),
    "an injected week": ("week", "$gt-W01"),
    "a future week": ("week", "2099-W01"),
    "next week": ("week", _weeks_ago(-1)),
    "a future month": ("month", "2099-01"),
    "a week too old": ("week", _weeks_ago(14)),
    "a month too old": ("month", _months_ago(14)),
    "a year ago": ("week", "2020-W01"),
    "a period of the all-time window": ("all", "2026-W48"),
}
PERIOD_CASES = [
    pytest.param(path, {"window": window, "period": period, **query}, id=f"{name}: {label}")
    for name, path, query in (
        ("board", "/leaderboards/global", {}),
        ("member", "/leaderboards/global/users/alice", {}),
        ("members", "/leaderboards/global/members", {"user_id": "alice"}),
    )
    for label, (window, period) in UNKNOWN_PERIODS.items()
]
BAD_BOARDS = (
    "everyone",
    "Global",
    "cohort:",
    "cohort",
    "cohort: 7a",
    "cohort:$gt",
    "cohort:.7a",
    "class:7a",
    "tag:" + "x" * 65,
    "challenge:" + "c" * 70,
    "x" * 81,
)
BOARD_CASES = [
    pytest.param(path.format(board=board), id=f"{name}: {board[:20]}")
    for name, path in (
        ("board", "/leaderboards/{board}"),
        ("member", "/leaderboards/{board}/users/alice"),
        ("members", "/leaderboards/{board}/members?user_id=alice"),
    )
    for board in BAD_BOARDS
]
OTHER_NOT_FOUND = (
    "/users/" + "u" * 129 + "/points",
    "/users/" + "u" * 129 + "/badges",
    "/leaderboards/global/users/" + "u" * 129,
    "/leaderboards/global/users/nobody",
    "/leaderboards/global/users/%7B%22%24gt%22%3A%22%22%7D",
    "/leaderboards/tag:astronomy/users/bob",
)


@pytest.fixture(scope="module")
def board_host(
    redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any
) -> Iterator[LeaderboardsHost]:
    """Return this module's leaderboards app on FerretDB (mongo_client: the session drops its databases)."""
    with hosted_leaderboards(redis_server.url, mongo_server_url, database_prefix) as host:
        yield host


@pytest.fixture
def unchanged(board_host: LeaderboardsHost) -> Iterator[Unchanged]:
    """Return the module's shared world and a snapshot of every collection and Redis key taken before the test."""
    with board_host.shared() as view:
        yield view


def _send(client: FlaskClient, endpoint: WriteEndpoint, **request: Any) -> Any:
    headers = {**endpoint.headers, **request.pop("headers", {})}
    return client.post(endpoint.path, headers=headers, **request)


def _bad_request(endpoint: WriteEndpoint, world: LeaderboardsWorld, bad: dict[str, Any]) -> dict[str, Any]:
    return request_kwargs(lambda: endpoint.body(world), bad)


@pytest.mark.parametrize("endpoint", [pytest.param(endpoint, id=endpoint.name) for endpoint in ENDPOINTS])
def test_the_valid_request_succeeds(board_host: LeaderboardsHost, endpoint: WriteEndpoint) -> None:
    world = board_host.fresh()
    response = _send(board_host.client, endpoint, json=endpoint.body(world))
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize(("endpoint", "bad"), BODY_CASES)
def test_bad_body_is_refused_and_changes_nothing(
    unchanged: Unchanged, endpoint: WriteEndpoint, bad: dict[str, Any]
) -> None:
    response = _send(unchanged.client, endpoint, **_bad_request(endpoint, unchanged.world, bad))
    problem = refused(response, bad["status"])
    if bad["fields"]:
        assert set(problem["errors"]) == bad["fields"], problem
    unchanged.assert_unchanged()


@pytest.mark.parametrize(
    ("key", "status"), [pytest.param(key, status, id=name) for name, (key, status) in BAD_IDEMPOTENCY_KEYS.items()]
)
def test_a_bad_idempotency_key_is_refused_naming_the_header_and_changes_nothing(
    unchanged: Unchanged, key: str, status: int
) -> None:
    endpoint = ENDPOINTS[0]
    response = _send(unchanged.client, endpoint, json=endpoint.body(unchanged.world), headers={"Idempotency-Key": key})
    assert set(refused(response, status)["errors"]) == {"Idempotency-Key"}
    unchanged.assert_unchanged()


@pytest.mark.parametrize("endpoint", [pytest.param(endpoint, id=endpoint.name) for endpoint in READS])
def test_the_valid_query_answers_something(unchanged: Unchanged, endpoint: ReadEndpoint) -> None:
    response = unchanged.client.get(endpoint.path, query_string=endpoint.query, headers=endpoint.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body.get("total") or body.get("rank"), body
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("endpoint", "changes", "names"), QUERY_CASES)
def test_a_bad_query_parameter_is_refused_naming_it_and_changes_nothing(
    unchanged: Unchanged, endpoint: ReadEndpoint, changes: dict[str, Any], names: set[str]
) -> None:
    query = {**endpoint.query, **changes}
    query = {name: value for name, value in query.items() if value is not MISSING}
    response = unchanged.client.get(endpoint.path, query_string=query, headers=endpoint.headers)
    assert set(refused(response, 422)["errors"]) == names
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("path", "query"), PERIOD_CASES)
def test_a_period_that_is_not_kept_is_not_found_and_changes_nothing(
    unchanged: Unchanged, path: str, query: dict[str, str]
) -> None:
    response = unchanged.client.get(path, query_string=query, headers=LEARNER)
    refused(response, 404)
    unchanged.assert_unchanged()


@pytest.mark.parametrize("path", BOARD_CASES)
def test_a_board_that_cannot_exist_is_not_found_and_changes_nothing(unchanged: Unchanged, path: str) -> None:
    refused(unchanged.client.get(path, headers=LEARNER), 404)
    unchanged.assert_unchanged()


@pytest.mark.parametrize("path", OTHER_NOT_FOUND)
def test_a_path_naming_nobody_on_a_board_is_not_found_and_changes_nothing(unchanged: Unchanged, path: str) -> None:
    refused(unchanged.client.get(path, headers=ADMIN), 404)
    unchanged.assert_unchanged()
