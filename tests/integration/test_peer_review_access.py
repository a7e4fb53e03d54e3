# ruff: noqa: E501 - the matrix is a table, one endpoint per line
"""Who may do what in peer review: every endpoint against every kind of caller.

Each row names an endpoint and the status each caller gets, starting from the same world
(tests/integration/peer_review_world.py): alice authored the submissions, bob is their assigned reviewer (one
reviewed, one open, and a revision to verify), carol another learner of the cohort, teacher-1 owns the
challenges, teacher-2 does not, admin-1 is an admin, and a service token is another service's.

A 404 where one might expect 403 is deliberate: nobody but its reviewer learns that an assignment or a
review exists, and nobody but those who may see them learns that a target is under review. Only the
challenge's teacher (or an admin) overrides a submission's grade; any teacher may decide a revision.
A service token reads reviewers' records only. bob's claim from the queue answers 204: he is on every
target that is not his own. Teachers hold no cohort of these challenges' audience, so what they claim is
the revision, which anyone but its proposer and its resource's owner may verify.

Reading a revision's reviews is left out of the matrix: the teacher who may decide it cannot read it (404),
which test_peer_review_api.py's test_a_teacher_who_may_decide_a_tied_revision_can_read_its_verifications
reports.

A refusal or a read must change nothing: those cells share one world per module and each compares a
snapshot of every collection and queue before and after its request. A write that succeeds gets a world
built afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devstack.servers import RedisServer
from tests.integration.matrix import assert_answers, cells, documented_operations
from tests.integration.peer_review_world import (
    PRINCIPALS,
    PeerReviewHost,
    PeerReviewWorld,
    Unchanged,
    hosted_peer_review,
    review_body,
)

pytestmark = pytest.mark.integration

COLUMNS = ("anonymous", "reviewer", "other_learner", "author", "owner_teacher", "other_teacher", "admin", "service")

Body = Callable[[PeerReviewWorld], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """One endpoint and the status each caller gets, in COLUMNS order."""

    name: str
    method: str
    path: str
    statuses: tuple[int, ...]
    body: Body | None = None
    # What a permitted write enqueues for the challenges service at least, by event type.
    announces: tuple[str, ...] = ()

    def expected(self) -> dict[str, int]:
        assert len(self.statuses) == len(COLUMNS), self.name
        return dict(zip(COLUMNS, self.statuses, strict=True))


def _challenge(world: PeerReviewWorld) -> dict[str, Any]:
    return {"challenge_id": world.challenge_id}


# fmt: off
ROWS = (
    #   name                          method  path                                              anon  rev  other author owner other admin service
    Row("list my assignments",        "GET",  "/assignments",                                   (401, 200, 200, 200, 200, 200, 200, 403)),
    Row("claim from the queue",       "POST", "/assignments/next",                              (401, 204, 201, 201, 201, 201, 201, 403), lambda world: {}, ("review.assigned",)),
    Row("read an assignment",         "GET",  "/assignments/{assignment}",                      (401, 200, 404, 404, 404, 404, 404, 403)),
    Row("decline an assignment",      "POST", "/assignments/{assignment}/decline",              (401, 200, 404, 404, 404, 404, 404, 403), lambda world: {}, ("review.declined",)),
    Row("review an assignment",       "POST", "/assignments/{assignment}/review",               (401, 201, 404, 404, 404, 404, 404, 403), lambda world: review_body()),
    Row("edit a review",              "PUT",  "/reviews/{review}",                              (401, 200, 404, 404, 404, 404, 404, 403), lambda world: review_body(comment="On second reading: every step is right.")),
    Row("rate a review",              "POST", "/reviews/{review}/rating",                       (401, 404, 404, 201, 404, 404, 404, 403), lambda world: {"helpfulness": 4}),
    Row("read a submission's reviews", "GET", "/targets/submission/{submission}/reviews",       (401, 200, 404, 200, 200, 404, 200, 403)),
    Row("override a grade",           "POST", "/targets/submission/{submission}/override",      (401, 403, 403, 403, 200, 403, 200, 403), lambda world: {"scores": {"Accuracy": 5, "Clarity": 5}, "reason": "Checked"}, ("target.graded",)),
    Row("decide a revision",          "POST", "/targets/revision/{revision}/override",          (401, 403, 403, 403, 200, 200, 200, 403), lambda world: {"verdict": "approve"}, ("revision.verified",)),
    Row("read a reviewer's record",   "GET",  "/reviewers/bob",                                 (401, 200, 403, 403, 200, 200, 200, 200)),
    Row("allocate a challenge",       "POST", "/allocations",                                   (401, 403, 403, 403, 200, 403, 200, 403), _challenge, ("review.assigned",)),
    Row("see a challenge's allocation", "GET", "/allocations?challenge_id={challenge}",         (401, 403, 403, 403, 200, 403, 200, 403)),
    Row("reassign an assignment",     "POST", "/allocations/{assignment}/reassign",             (401, 403, 403, 403, 201, 403, 201, 403), lambda world: {"reviewer_id": "dave"}, ("review.assigned", "review.declined")),
)
# fmt: on


def _changes_nothing(row: Row, column: str) -> bool:
    return row.method == "GET" or row.expected()[column] in (204, *range(400, 600))


READS_AND_REFUSALS, SUCCESSFUL_WRITES = cells(ROWS, COLUMNS, _changes_nothing)


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
    response = host_client.open(
        world.fill(row.path), method=row.method, json=row.body(world) if row.body else None, headers=PRINCIPALS[column]
    )
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
    covered = {(row.method, _template(row.path)) for row in ROWS}
    assert documented_operations(review_host.client) == covered


def _template(path: str) -> str:
    path = path.partition("?")[0]
    names = {
        "/targets/submission/{submission}": "/targets/{kind}/{target_id}",
        "/targets/revision/{revision}": "/targets/{kind}/{target_id}",
        "{assignment}": "{assignment_id}",
        "{review}": "{review_id}",
        "/reviewers/bob": "/reviewers/{user_id}",
    }
    for placeholder, parameter in names.items():
        path = path.replace(placeholder, parameter)
    return path
