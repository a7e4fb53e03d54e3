"""Who may do what in the challenges service: its rows of the declared policy against all eight callers.

The table is tests/integration/policy.py; every cell starts from the same world (tests/integration/world.py).
A refusal or a read must change nothing: those cells share one world per module and each compares a
snapshot of every collection and queue before and after its request. A write that succeeds gets a world
built afresh.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.integration.matrix import assert_answers, cells, documented_operations
from tests.integration.policy import CALLERS, Row, rows_of
from tests.integration.world import PRINCIPALS, USER_IDS, Unchanged, World, WorldHost

pytestmark = pytest.mark.integration

ROWS = rows_of("challenges")


def _changes_nothing(row: Row, column: str) -> bool:
    return row.method == "GET" or row.expected()[column] >= 400


READS_AND_REFUSALS, SUCCESSFUL_WRITES = cells(ROWS, CALLERS, _changes_nothing)


def _call(client: FlaskClient, world: World, row: Row, column: str) -> None:
    body = row.body(world, USER_IDS[column]) if row.body else None
    response = client.open(world.fill(row.path), method=row.method, json=body, headers=PRINCIPALS[column])
    assert_answers(response, row.expected()[column], f"{row.name} as {column}")


@pytest.mark.parametrize(("row", "column"), READS_AND_REFUSALS)
def test_a_read_or_a_refusal_answers_its_status_and_changes_nothing(
    unchanged: Unchanged, row: Row, column: str
) -> None:
    _call(unchanged.client, unchanged.world, row, column)
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("row", "column"), SUCCESSFUL_WRITES)
def test_a_permitted_write_succeeds(host: WorldHost, row: Row, column: str) -> None:
    _call(host.client, host.fresh(), row, column)


def test_the_matrix_covers_every_route_of_the_service(host: WorldHost) -> None:
    assert documented_operations(host.client) == {row.operation() for row in ROWS}


def test_every_caller_of_the_matrix_has_a_token_of_the_world() -> None:
    assert set(PRINCIPALS) == set(USER_IDS) == set(CALLERS)
