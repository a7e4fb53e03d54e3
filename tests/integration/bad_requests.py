"""What the three services' bad-input tables share: how a case becomes a request, and what a refusal is.

A case is one of: `data` (raw bytes sent as JSON), `encoded` (the valid body in another encoding), `body`
(a function of the valid body returning the bad one), or `changes` (fields to set in the valid body;
MISSING removes one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# A value in a case's changes that removes the field from the valid body.
MISSING = object()

# Bad pages of every list endpoint: name -> (parameters merged into the valid query, exactly the
# parameters the 422's `errors` names).
PAGE_CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "a page of none": ({"limit": 0}, {"limit"}),
    "a page of 101": ({"limit": 101}, {"limit"}),
    "a negative page": ({"limit": -1}, {"limit"}),
    "a huge page": ({"limit": 10**20}, {"limit"}),
    "a fractional page": ({"limit": "2.5"}, {"limit"}),
    "a page as text": ({"limit": "ten"}, {"limit"}),
    "a boolean page": ({"limit": "true"}, {"limit"}),
    "an empty page size": ({"limit": ""}, {"limit"}),
    "an injected page size": ({"limit": '{"$gt": 0}'}, {"limit"}),
    "a negative offset": ({"offset": -1}, {"offset"}),
    "an offset beyond the last page": ({"offset": 100_001}, {"offset"}),
    "an offset as text": ({"offset": "first"}, {"offset"}),
    "an injected offset": ({"offset": '{"$gt": 0}'}, {"offset"}),
    "two bad parameters": ({"limit": 0, "offset": -1}, {"limit", "offset"}),
}


def request_kwargs(
    valid: Callable[[], dict[str, Any]], bad: dict[str, Any], fill: Callable[[Any], Any] = lambda value: value
) -> dict[str, Any]:
    """Return the keyword arguments of the test client's call that send this bad request."""
    if "data" in bad:
        return {"data": bad["data"], "content_type": "application/json"}
    if "encoded" in bad:
        return {"data": json.dumps(valid()).encode(bad["encoded"]), "content_type": "application/json"}
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


def hostile_bodies(field: str) -> list[tuple[str, dict[str, Any]]]:
    """Return (case name, bad request) pairs of pathological JSON, each refused with 400 before any schema.

    `field` is one of the endpoint's own fields, so a case that is otherwise the valid body differs from
    it in that field alone. Each is something Python's json module or MongoDB's driver would take badly:
    nesting past the recursion limit, numbers past what BSON or a JavaScript client holds, text that is
    not UTF-8 or not valid Unicode, NUL in field names.
    """
    deep = "[" * 100_000 + "]" * 100_000

    def with_value(value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda body: {**body, field: value}

    cases: list[tuple[str, dict[str, Any]]] = [
        ("nested 40 levels", {"body": with_value(_nested(40))}),
        ("nested 100 000 levels", {"data": f'{{"{field}": {deep}}}'}),
        ("NaN", {"data": f'{{"{field}": NaN}}'}),
        ("Infinity", {"data": f'{{"{field}": -Infinity}}'}),
        ("a number too large for a float", {"data": f'{{"{field}": 1e400}}'}),
        ("an integer past 2^53", {"body": with_value(2**53 + 1)}),
        ("an integer past 64 bits", {"body": with_value(-(2**70))}),
        ("an integer of 5000 digits", {"data": f'{{"{field}": 1{"0" * 5000}}}'}),
        ("bytes that are not UTF-8", {"data": b'{"' + field.encode() + b'": "caf\xe9"}'}),
        ("UTF-16", {"encoded": "utf-16"}),
        ("a UTF-8 byte order mark", {"encoded": "utf-8-sig"}),
        ("a lone surrogate in text", {"body": with_value("half \ud800 a character")}),
        ("a lone surrogate in a field name", {"body": lambda body: {**body, "\udc00": 1}}),
        ("NUL in a field name", {"body": lambda body: {**body, "a\x00b": 1}}),
    ]
    return [(name, {**bad, "status": 400, "fields": set()}) for name, bad in cases]


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"level": value}
    return value
