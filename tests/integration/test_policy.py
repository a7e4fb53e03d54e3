"""The declared policy (tests/integration/policy.py) against the services' OpenAPI documents and the docs.

The access matrices check each cell against the running services (on FerretDB); these checks need no
database: every row names an endpoint a service documents and every documented endpoint has a row, the
table keeps the rules that hold across services (anonymous callers are refused everywhere; a service token
and learners write no points; a service token writes nothing), and docs/architecture.md's "Who may do what"
names exactly the endpoints the table declares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from services.challenges.app import create_app as create_challenges_app
from services.leaderboards.app import create_app as create_leaderboards_app
from services.peer_review.app import create_app as create_peer_review_app
from shared.settings import Settings
from tests.conftest import SettingsFactory
from tests.integration.matrix import METHODS, documented_operations
from tests.integration.policy import CALLERS, POLICY, SERVICES, Row, rows_of

pytestmark = pytest.mark.integration

APPS: dict[str, Callable[[Settings], Flask]] = {
    "challenges": create_challenges_app,
    "peer_review": create_peer_review_app,
    "leaderboards": create_leaderboards_app,
}
ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
LEARNERS = ("learner", "other_learner", "other_cohort")


@pytest.fixture
def documented(make_settings: SettingsFactory) -> Iterator[Callable[[str], set[tuple[str, str]]]]:
    """Return a function reading a service's documented operations from its OpenAPI document (no database)."""
    apps: list[Flask] = []

    def read(service: str) -> set[tuple[str, str]]:
        app = APPS[service](make_settings(service))
        apps.append(app)
        return documented_operations(app.test_client())

    yield read
    for app in apps:
        app.extensions["connective"].dependencies.runtime.mongo.close()


@pytest.mark.parametrize("service", SERVICES)
def test_every_row_names_an_endpoint_its_service_documents(
    documented: Callable[[str], set[tuple[str, str]]], service: str
) -> None:
    operations = documented(service)
    assert {row.operation() for row in rows_of(service)} - operations == set()


@pytest.mark.parametrize("service", SERVICES)
def test_every_documented_endpoint_has_a_row(documented: Callable[[str], set[tuple[str, str]]], service: str) -> None:
    operations = documented(service)
    assert operations - {row.operation() for row in rows_of(service)} == set()


def test_every_row_has_a_status_for_each_caller_and_a_name_of_its_own() -> None:
    assert {row.service for row in POLICY} == set(SERVICES)
    assert all(len(row.statuses) == len(CALLERS) for row in POLICY)
    assert all(row.method.lower() in METHODS for row in POLICY)
    names = [(row.service, row.name) for row in POLICY]
    assert len(names) == len(set(names))


def _writes(row: Row) -> bool:
    return row.method != "GET"


def test_no_anonymous_caller_gets_past_the_token_check() -> None:
    assert {row.expected()["anonymous"] for row in POLICY} == {401}


def test_a_service_token_writes_nothing() -> None:
    """Services change each other's state through events; a write over HTTP with a service token is refused."""
    allowed = [row.name for row in POLICY if _writes(row) and row.expected()["service"] < 400]
    assert allowed == []


def test_no_learner_writes_points() -> None:
    """Points come from the worker (events) and from staff's awards: learners can award or reverse nothing."""
    allowed = [
        (row.name, column)
        for row in rows_of("leaderboards")
        if _writes(row)
        for column in LEARNERS
        if row.expected()[column] < 400
    ]
    assert allowed == []


# Cells in which a caller would deal with their own work, by the worlds' cast: each must be a refusal.
# fmt: off
SELF_DEALING = (
    # service        row                      caller           who that is
    ("challenges",   "endorse resource",      "learner"),        # alice, the resource's owner
    ("challenges",   "decide revision",       "other_learner"),  # bob, the revision's proposer
    ("peer_review",  "review an assignment",  "learner"),        # alice, on her own submission
    ("peer_review",  "edit a review",         "learner"),        # alice, a review of her own submission
    ("peer_review",  "rate a review",         "other_learner"),  # bob, his own review
    *(("leaderboards", "award oneself", caller) for caller in CALLERS),
)
# fmt: on


@pytest.mark.parametrize(("service", "name", "caller"), SELF_DEALING)
def test_the_table_lets_nobody_deal_with_their_own_work(service: str, name: str, caller: str) -> None:
    (row,) = [row for row in rows_of(service) if row.name == name]
    assert row.expected()[caller] >= 400


def _documented_in_architecture() -> dict[str, set[tuple[str, str]]]:
    """Return the endpoints docs/architecture.md's "Who may do what" names, by service."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("\n## Who may do what\n", 1)[1].split("\n## ", 1)[0]
    named: dict[str, set[tuple[str, str]]] = {}
    for part in re.split(r"^\*\*(\w+)\*\*$", section, flags=re.MULTILINE)[1:]:
        if part in SERVICES:
            service = part
            continue
        named[service] = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`", part))
    return named


def test_the_architectures_summary_names_exactly_the_endpoints_of_the_policy() -> None:
    named = _documented_in_architecture()
    assert set(named) == set(SERVICES)
    for service in SERVICES:
        assert named[service] == {row.operation() for row in rows_of(service)}, service
