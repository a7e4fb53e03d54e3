"""Who may do what on the leaderboards: its rows of the declared policy against all eight callers.

The table is tests/integration/policy.py; every cell starts from the same world
(tests/integration/leaderboards_world.py): alice (the learner) and bob of cohort 7a, carol of 7b; teacher-1
teaches 7a, teacher-2 teaches 7b; admin-1; a service token. Boards and the rules are for anyone with a token.
A learner's points and badges are for the learner, teachers of the learner's cohorts, admins and services.
Awards and reversals are for teachers and admins: a teacher awards learners of their own cohorts (never
themselves, never onto another cohort's board) and reverses entries on their cohorts' boards or awards they
made; an admin awards and reverses anything, but not to themselves either. No learner and no service writes
points over HTTP: the worker writes them from events.

A refusal or a read must change nothing: those cells share one world per module and each compares a
snapshot of every collection and every Redis key (boards, balances, markers, the stream) before and after
its request. A write that succeeds gets a world built afresh, and its entry is then in the learner's ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.integration.policy import CALLERS, Row, rows_of

pytestmark = pytest.mark.integration

ROWS = rows_of("leaderboards")


def _changes_nothing(row: Row, column: str) -> bool:
    return row.method == "GET" or row.expected()[column] >= 400


READS_AND_REFUSALS, SUCCESSFUL_WRITES = cells(ROWS, CALLERS, _changes_nothing)


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
    learner = row.ledger_of or row.body(world, USER_IDS[column])["user_id"]
    entry = _call(board_host.client, world, row, column).get_json()
    assert entry["actor_id"] == USER_IDS[column]
    ledger = board_host.client.get(f"/users/{learner}/points", headers=ADMIN).get_json()
    assert entry["key"] in [item["key"] for item in ledger["entries"]]


def test_the_matrix_covers_every_route_of_the_service(board_host: LeaderboardsHost) -> None:
    assert documented_operations(board_host.client) == {row.operation() for row in ROWS}


def test_every_caller_of_the_matrix_has_a_token_of_the_world() -> None:
    assert set(PRINCIPALS) == set(USER_IDS) == set(CALLERS)
