"""Who may do what in peer review: its rows of the declared policy against all eight callers.

The table is tests/integration/policy.py; every cell starts from the same world
(tests/integration/peer_review_world.py): alice (the learner) authored the submissions, bob (the other
learner of her cohort) is their assigned reviewer (one reviewed, one open, and a revision to verify), zoe a
learner of another cohort, teacher-1 owns the challenges, teacher-2 does not, admin-1 is an admin, and a
service token is another service's.

Only the challenge's teacher (or an admin) overrides a submission's grade; any teacher may decide a revision.
A service token reads reviewers' records only. bob's claim from the queue answers 204: he is on every target
that is not his own. Teachers and zoe hold no cohort of these challenges' audience, so what they claim is the
revision, which anyone but its proposer and its resource's owner may verify.

A refusal or a read must change nothing: those cells share one world per module and each compares a
snapshot of every collection and queue before and after its request. A write that succeeds gets a world
built afresh, and must announce what its row says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.servers import RedisServer
from tests.integration.matrix import assert_answers, cells, documented_operations
from tests.integration.peer_review_world import (
    PRINCIPALS,
    USER_IDS,
    PeerReviewHost,
    PeerReviewWorld,
    Unchanged,
    hosted_peer_review,
)
from tests.integration.policy import CALLERS, Row, rows_of

pytestmark = pytest.mark.integration

ROWS = rows_of("peer_review")


def _changes_nothing(row: Row, column: str) -> bool:
    return row.method == "GET" or row.expected()[column] in (204, *range(400, 600))


READS_AND_REFUSALS, SUCCESSFUL_WRITES = cells(ROWS, CALLERS, _changes_nothing)


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


def _call(host_client: Any, world: PeerReviewWorld, row: Row, column: str) -> None:
    body = row.body(world, USER_IDS[column]) if row.body else None
    response = host_client.open(world.fill(row.path), method=row.method, json=body, headers=PRINCIPALS[column])
    assert_answers(response, row.expected()[column], f"{row.name} as {column}")


@pytest.mark.parametrize(("row", "column"), READS_AND_REFUSALS)
def test_a_read_or_a_refusal_answers_its_status_and_changes_nothing(
    unchanged: Unchanged, row: Row, column: str
) -> None:
    _call(unchanged.client, unchanged.world, row, column)
    unchanged.assert_unchanged()


@pytest.mark.parametrize(("row", "column"), SUCCESSFUL_WRITES)
def test_a_permitted_write_succeeds(review_host: PeerReviewHost, row: Row, column: str) -> None:
    world = review_host.fresh()
    before = len(review_host.classroom.enqueued())
    _call(review_host.client, world, row, column)
    announced = [envelope["type"] for envelope in review_host.classroom.enqueued()[before:]]
    assert set(row.announces) <= set(announced), f"{row.name} as {column} enqueued {announced}"


def test_the_matrix_covers_every_route_of_the_service(review_host: PeerReviewHost) -> None:
    assert documented_operations(review_host.client) == {row.operation() for row in ROWS}


def test_every_caller_of_the_matrix_has_a_token_of_the_world() -> None:
    assert set(PRINCIPALS) == set(USER_IDS) == set(CALLERS)
