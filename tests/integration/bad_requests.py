"""What the three services' bad-input tables share: how a case becomes a request, and what a refusal is.

A case is one of: `data` (raw bytes sent as JSON), `body` (a function of the valid body returning the bad
one), or `changes` (fields to set in the valid body; MISSING removes one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# A value in a case's changes that removes the field from the valid body.
MISSING = object()


def request_kwargs(
    valid: Callable[[], dict[str, Any]], bad: dict[str, Any], fill: Callable[[Any], Any] = lambda value: value
) -> dict[str, Any]:
    """Return the keyword arguments of the test client's call that send this bad request."""
    if "data" in bad:
        return {"data": bad["data"], "content_type": "application/json"}
    if "body" in bad:
        return {"json": bad["body"](valid())}
    body = {**valid(), **fill(bad["changes"])}
    return {"json": {name: value for name, value in body.items() if value is not MISSING}}


def refused(response: Any, status: int) -> dict[str, Any]:
    """Assert the answer is a problem+json refusal with this status, a title and a detail; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.get_json()
    assert problem["status"] == status
    assert problem["detail"]
    assert problem["title"]
    return problem
