"""What the three services' access matrices share: their cells, the answer a cell expects, their coverage.

Each matrix (test_access_matrix.py for challenges, test_peer_review_access.py, test_leaderboards_access.py)
is generated from the service's rows of the one declared policy (policy.py): one endpoint each, with the
status every kind of caller gets. A cell that reads or is refused must change nothing; a permitted write is
checked on a fresh world; and the rows must cover every route the service's OpenAPI document lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

# Health, readiness and metrics are open to everyone (probes and Prometheus carry no token).
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"get", "post", "put", "patch", "delete"})


def cells(
    rows: Iterable[Any], columns: Sequence[str], changes_nothing: Callable[[Any, str], bool]
) -> tuple[list[Any], list[Any]]:
    """Return the matrix's cells (rows with `name`) as pytest params: those that change nothing, and the writes."""
    reads: list[Any] = []
    writes: list[Any] = []
    for row in rows:
        for column in columns:
            cell = pytest.param(row, column, id=f"{row.name}-{column}")
            (reads if changes_nothing(row, column) else writes).append(cell)
    return reads, writes


def assert_answers(response: Any, expected: int, label: str) -> None:
    """Assert a cell's status, and that a refusal is problem+json naming that status."""
    assert response.status_code == expected, f"{label}: {response.get_data(as_text=True)}"
    if expected >= 400:
        assert response.mimetype == "application/problem+json", label
        assert response.get_json()["status"] == expected, label


def documented_operations(client: Any) -> set[tuple[str, str]]:
    """Return every (METHOD, path template) of a service's OpenAPI document but the operations' endpoints."""
    paths = client.get("/openapi.json").get_json()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if path not in OPERATIONS_PATHS and method in METHODS
    }
