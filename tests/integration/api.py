"""Helpers the API tests share: reading answers and stored documents."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import resource_body

PROBLEM = "application/problem+json"
PROBLEM_MEMBERS = {"type", "title", "status", "detail"}


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert the answer is a problem+json document with this status and the usual members; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert set(body) >= PROBLEM_MEMBERS
    return body


def _answer(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def created(response: TestResponse) -> dict[str, Any]:
    """Assert the answer is 201 Created; return its JSON body."""
    return _answer(response, 201)


def ok(response: TestResponse) -> dict[str, Any]:
    """Assert the answer is 200 OK; return its JSON body."""
    return _answer(response, 200)


def ids(response: TestResponse) -> list[str]:
    """Assert the answer is a 200 `{items, total}` page; return the ids of its items, in order."""
    return [item["id"] for item in ok(response)["items"]]


def share(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Share `resource_body(**overrides)` as whoever `headers` name; return the resource as answered."""
    return created(client.post("/resources", json=resource_body(**overrides), headers=headers))


def database(app: Flask) -> Any:
    """Return the app's MongoDB database."""
    return app.extensions["connective"].dependencies.runtime.mongo.database


def snapshot(app: Flask) -> dict[str, Any]:
    """Return every document of every collection and every RQ queue's contents (to show nothing changed).

    It compares whole documents without naming their fields, so it holds whatever the storage looks like.
    """
    store = database(app)
    collections = {
        name: sorted(json.dumps(document, default=str, sort_keys=True) for document in store[name].find({}))
        for name in sorted(store.list_collection_names())
    }
    client = app.extensions["connective"].dependencies.runtime.redis.connection
    queues = {key.decode(): client.lrange(key, 0, -1) for key in sorted(client.scan_iter("rq:queue:*"))}
    return {"collections": collections, "queues": queues}


def stored(app: Flask, collection: str, document_id: str) -> dict[str, Any] | None:
    """Return one stored document as it is in the database (None when there is none)."""
    document: dict[str, Any] | None = database(app)[collection].find_one({"_id": document_id})
    return document


def documents(app: Flask, collection: str) -> list[dict[str, Any]]:
    """Return every document of a collection, in the database's natural order."""
    return list(database(app)[collection].find({}))
