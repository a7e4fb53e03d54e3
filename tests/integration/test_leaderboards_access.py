# ruff: noqa: E501 - the matrix is a table, one endpoint per line
"""Who may do what on the leaderboards: every endpoint against every kind of caller.

Each row names an endpoint and the status each caller gets, starting from the same world
(tests/integration/leaderboards_world.py): alice (the learner) and bob of cohort 7a, carol of 7b; teacher-1
teaches 7a, teacher-2 teaches 7b; admin-1; a service token. Boards and the rules are for anyone with a token.
A learner's points and badges are for the learner, teachers of the learner's cohorts, admins and services.
Awards and reversals are for teachers and admins: a teacher awards learners of their own cohorts (never
themselves, never onto another cohort's board) and reverses entries on their cohorts' boards or awards they
made; an admin awards and reverses anything, but not to themselves either.

A refusal or a read must change nothing: those cells share one world per module and each compares a
snapshot of every collection and every Redis key (boards, balances, markers, the stream) before and after
its request. A write that succeeds gets a world built afresh, and its entry is then in the learner's ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.servers import RedisServer
from tests.integration.leaderboards_world import (
    ADMIN,
    PRINCIPALS,
    USER_IDS,
    LeaderboardsHost,
    LeaderboardsWorld,
    Unchanged,
    hosted_leaderboards,
)
from tests.integration.matrix import assert_answers, cells, documented_operations

pytestmark = pytest.mark.integration

COLUMNS = ("anonymous", "learner", "other_learner", "teacher", "other_teacher", "admin", "service")

# A body made for the world and the caller (whose user id the column names).
Body = Callable[[LeaderboardsWorld, str], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """One endpoint and the status each caller gets, in COLUMNS order."""

    name: str
    method: str
    path: str
    statuses: tuple[int, ...]
    body: Body | None = None
    # Whose ledger a permitted reversal lands in (an award names its learner in its body).
    learner: str | None = None
    # A permitted call mints a classroom-screen token (a write to Redis, no ledger entry).
    mints: bool = False

    def expected(self) -> dict[str, int]:
        assert len(self.statuses) == len(COLUMNS), self.name
        return dict(zip(COLUMNS, self.statuses, strict=True))


def _award(user_id: str, **fields: Any) -> Body:
    return lambda world, caller: {"user_id": user_id, "points": 10, "reason": "Helped the class", **fields}


def _award_self(world: LeaderboardsWorld, caller: str) -> dict[str, Any]:
    return {"user_id": caller, "points": 10, "reason": "I deserve it"}


def _reverse(key: str) -> Body:
    return lambda world, caller: {"entry_key": world.fill(key), "reason": "Awarded by mistake"}


# fmt: off
ROWS = (
    #   name                                       method  path                                                        anon learner other teacher other admin service
    Row("read the global board",                   "GET",  "/leaderboards/global",                                     (401, 200, 200, 200, 200, 200, 200)),
    Row("read a cohort's week board",              "GET",  "/leaderboards/cohort:7a?window=week",                      (401, 200, 200, 200, 200, 200, 200)),
    Row("read a member's place",                   "GET",  "/leaderboards/global/users/alice?around=2",                (401, 200, 200, 200, 200, 200, 200)),
    Row("read a non-member's place",               "GET",  "/leaderboards/cohort:7b/users/alice",                      (401, 404, 404, 404, 404, 404, 404)),
    Row("read members' places",                    "GET",  "/leaderboards/global/members?user_id=alice&user_id=nobody", (401, 200, 200, 200, 200, 200, 200)),
    Row("read a learner's points",                 "GET",  "/users/alice/points",                                      (401, 200, 403, 200, 403, 200, 200)),
    Row("read a learner's badges",                 "GET",  "/users/alice/badges",                                      (401, 200, 403, 200, 403, 200, 200)),
    Row("read another cohort's learner's points",  "GET",  "/users/carol/points",                                      (401, 403, 403, 403, 200, 200, 200)),
    Row("read another cohort's learner's badges",  "GET",  "/users/carol/badges",                                      (401, 403, 403, 403, 200, 200, 200)),
    Row("read the rules",                          "GET",  "/rules",                                                   (401, 200, 200, 200, 200, 200, 200)),
    Row("award a learner of the teacher's cohort", "POST", "/awards",                                                  (401, 403, 403, 201, 403, 201, 403), _award("alice", cohorts=["7a"])),
    Row("award a learner of another cohort",       "POST", "/awards",                                                  (401, 403, 403, 403, 201, 201, 403), _award("carol")),
    Row("award onto another cohort's board",       "POST", "/awards",                                                  (401, 403, 403, 403, 403, 201, 403), _award("alice", cohorts=["7b"])),
    Row("award oneself",                           "POST", "/awards",                                                  (401, 403, 403, 403, 403, 403, 403), _award_self),
    Row("reverse an entry on the cohort's board",  "POST", "/awards/reversals",                                        (401, 403, 403, 201, 403, 201, 403), _reverse("{shared}"), "alice"),
    Row("reverse an award the teacher made",       "POST", "/awards/reversals",                                        (401, 403, 403, 201, 403, 201, 403), _reverse("{global_award}"), "bob"),
    Row("reverse an award on another cohort's",    "POST", "/awards/reversals",                                        (401, 403, 403, 403, 201, 201, 403), _reverse("{other_cohort_award}"), "carol"),
    Row("reverse an entry reversed already",       "POST", "/awards/reversals",                                        (401, 403, 403, 409, 403, 409, 403), _reverse("{reversed}")),
    Row("reverse a reversal",                      "POST", "/awards/reversals",                                        (401, 403, 403, 409, 403, 409, 403), _reverse("{reversal}")),
    Row("reverse an unknown entry",                "POST", "/awards/reversals",                                        (401, 403, 403, 404, 404, 404, 403), _reverse("award:unknown")),
    Row("mint a classroom screen's token",         "POST", "/leaderboards/cohort:7a/view-tokens",                      (401, 403, 403, 201, 201, 201, 403), lambda world, caller: {"hours": 2}, mints=True),
    Row("open a board's classroom screen",         "GET",  "/leaderboards/cohort:7a/view",                             (401, 200, 200, 200, 200, 200, 200)),
    Row("follow a board's classroom stream",       "GET",  "/leaderboards/cohort:7a/stream",                           (401, 200, 200, 200, 200, 200, 200)),
)
# fmt: on


def _changes_nothing(row: Row, column: str) -> bool:
    return row.method == "GET" or row.expected()[column] >= 400


READS_AND_REFUSALS, SUCCESSFUL_WRITES = cells(ROWS, COLUMNS, _changes_nothing)


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


def _call(client: Any, world: LeaderboardsWorld, row: Row, column: str) -> Any:
    body = row.body(world, USER_IDS[column]) if row.body else None
    response = client.open(world.fill(row.path), method=row.method, json=body, headers=PRINCIPALS[column])
    assert_answers(response, row.expected()[column], f"{row.name} as {column}")
    return response


@pytest.mark.parametrize(("row", "column"), READS_AND_REFUSALS)
def test_a_read_or_a_refusal_answers_its_status_and_changes_nothing(
    unchanged: Unchanged, row: Row, column: str
) -> None:
    _call(unchanged.client, unchanged.world, row, column)
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("row", "column"), SUCCESSFUL_WRITES)
def test_a_permitted_write_makes_its_entry_in_the_learners_ledger(
    board_host: LeaderboardsHost, row: Row, column: str
) -> None:
    world = board_host.fresh()
    assert row.body is not None
    if row.mints:
        grant = _call(board_host.client, world, row, column).get_json()
        assert (grant["board"], grant["granted_by"]) == ("cohort:7a", USER_IDS[column])
        screen = board_host.client.get(grant["view_path"])
        assert (screen.status_code, screen.mimetype) == (200, "text/html")
        return
    learner = row.learner or row.body(world, USER_IDS[column])["user_id"]
    entry = _call(board_host.client, world, row, column).get_json()
    assert entry["actor_id"] == USER_IDS[column]
    ledger = board_host.client.get(f"/users/{learner}/points", headers=ADMIN).get_json()
    assert entry["key"] in [item["key"] for item in ledger["entries"]]


def test_the_matrix_covers_every_route_of_the_service(board_host: LeaderboardsHost) -> None:
    covered = {(row.method, _template(row.path)) for row in ROWS}
    assert documented_operations(board_host.client) == covered


def _template(path: str) -> str:
    path = path.partition("?")[0]
    names = {
        "/leaderboards/global": "/leaderboards/{board}",
        "/leaderboards/cohort:7a": "/leaderboards/{board}",
        "/leaderboards/cohort:7b": "/leaderboards/{board}",
        "/users/alice": "/users/{user_id}",
        "/users/carol": "/users/{user_id}",
    }
    for placeholder, parameter in names.items():
        path = path.replace(placeholder, parameter)
    return path
