# ruff: noqa: E501 - the matrix is a table, one endpoint per line
"""Who may do what: every endpoint of the challenges service against every kind of caller.

Each row names an endpoint and the status each caller gets, starting from the same world
(tests/integration/world.py). A 404 where one might expect 403 is deliberate: learners are not told
that drafts, other cohorts' challenges or other people's submissions exist.

A refusal or a read must change nothing: those cells share one world per module and each compares a
snapshot of every collection and queue before and after its request. A write that succeeds gets a world
built afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.factories import challenge_body, resource_body, revision_body, submission_body
from tests.integration.matrix import assert_answers, cells, documented_operations
from tests.integration.world import PRINCIPALS, Unchanged, World, WorldHost

pytestmark = pytest.mark.integration

COLUMNS = ("anonymous", "learner", "other_learner", "other_cohort", "owner_teacher", "other_teacher", "admin")


@dataclass(frozen=True)
class Row:
    """One endpoint and the status each caller gets, in COLUMNS order."""

    name: str
    method: str
    path: str
    statuses: tuple[int, ...]
    body: Callable[[], dict[str, Any]] | None = None

    def expected(self) -> dict[str, int]:
        assert len(self.statuses) == len(COLUMNS), self.name
        return dict(zip(COLUMNS, self.statuses, strict=True))


# fmt: off
ROWS = (
    #   name                          method  path                                                  anon learner other cohort owner  other  admin
    Row("create challenge",           "POST",  "/challenges",                                       (401, 403, 403, 403, 201, 201, 201), challenge_body),
    Row("list challenges",            "GET",   "/challenges",                                       (401, 200, 200, 200, 200, 200, 200)),
    Row("read published challenge",   "GET",   "/challenges/{challenge}",                           (401, 200, 200, 404, 200, 200, 200)),
    Row("read draft",                 "GET",   "/challenges/{draft}",                               (401, 404, 404, 404, 200, 200, 200)),
    Row("edit challenge",             "PATCH", "/challenges/{challenge}",                           (401, 403, 403, 403, 200, 403, 200), lambda: {"title": "Renamed"}),
    Row("publish draft",              "POST",  "/challenges/{draft}/publish",                       (401, 403, 403, 403, 200, 403, 200)),
    Row("close challenge",            "POST",  "/challenges/{challenge}/close",                     (401, 403, 403, 403, 200, 403, 200)),
    Row("archive draft",              "POST",  "/challenges/{draft}/archive",                       (401, 403, 403, 403, 200, 403, 200)),
    Row("submit",                     "POST",  "/challenges/{challenge}/submissions",               (401, 409, 201, 404, 403, 403, 403), submission_body),
    Row("list my submissions",        "GET",   "/submissions",                                      (401, 200, 200, 200, 200, 200, 200)),
    Row("list challenge submissions", "GET",   "/challenges/{challenge}/submissions",               (401, 200, 200, 404, 200, 403, 200)),
    Row("read submission",            "GET",   "/submissions/{submission}",                         (401, 200, 404, 404, 200, 404, 200)),
    Row("revise submission",          "PUT",   "/submissions/{submission}",                         (401, 200, 404, 404, 403, 404, 403), submission_body),
    Row("withdraw submission",        "POST",  "/submissions/{submission}/withdraw",                (401, 200, 404, 404, 403, 404, 403)),
    Row("list submission versions",   "GET",   "/submissions/{submission}/versions",                (401, 200, 404, 404, 200, 404, 200)),
    Row("read submission version",    "GET",   "/submissions/{submission}/versions/1",              (401, 200, 404, 404, 200, 404, 200)),
    Row("share resource",             "POST",  "/resources",                                        (401, 201, 201, 201, 201, 201, 201), resource_body),
    Row("search resources",           "GET",   "/resources",                                        (401, 200, 200, 200, 200, 200, 200)),
    Row("read resource",              "GET",   "/resources/{resource}",                             (401, 200, 200, 200, 200, 200, 200)),
    Row("endorse resource",           "POST",  "/resources/{resource}/endorsements",                (401, 403, 201, 201, 201, 201, 201)),
    Row("flag resource",              "POST",  "/resources/{resource}/flags",                       (401, 201, 201, 201, 201, 201, 201), lambda: {"reason": "outdated", "note": "Pluto lost planet status"}),
    Row("propose revision",           "POST",  "/resources/{resource}/revisions",                   (401, 201, 409, 201, 201, 201, 201), revision_body),
    Row("list revisions",             "GET",   "/resources/{resource}/revisions",                   (401, 200, 200, 200, 200, 200, 200)),
    Row("read revision",              "GET",   "/resources/{resource}/revisions/{revision}",        (401, 200, 200, 200, 200, 200, 200)),
    Row("decide revision",            "POST",  "/resources/{resource}/revisions/{revision}/decision", (401, 200, 403, 403, 200, 200, 200), lambda: {"decision": "accept"}),
)
# fmt: on


def _changes_nothing(row: Row, column: str) -> bool:
    return row.method == "GET" or row.expected()[column] >= 400


READS_AND_REFUSALS, SUCCESSFUL_WRITES = cells(ROWS, COLUMNS, _changes_nothing)


def _call(client: FlaskClient, world: World, row: Row, column: str) -> None:
    response = client.open(
        world.fill(row.path), method=row.method, json=row.body() if row.body else None, headers=PRINCIPALS[column]
    )
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
    covered = {(row.method, _template(row.path)) for row in ROWS}
    assert documented_operations(host.client) == covered


def _template(path: str) -> str:
    names = {
        "{challenge}": "{challenge_id}",
        "{draft}": "{challenge_id}",
        "{submission}": "{submission_id}",
        "{resource}": "{resource_id}",
        "{revision}": "{revision_id}",
        "/versions/1": "/versions/{version}",
    }
    for placeholder, parameter in names.items():
        path = path.replace(placeholder, parameter)
    return path
