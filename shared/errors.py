"""RFC 9457 problem+json: one error shape for every failure, including validation and domain errors."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import pymongo.errors
import redis.exceptions
import structlog
from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from shared.domain import DomainError, Forbidden, InvalidField, InvalidState, NotFound, TooLarge

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://connective.dev/problems/"

log = structlog.get_logger(__name__)
# What a 503 answers when MongoDB or Redis is unreachable: when to try again.
RETRY_AFTER_SECONDS = 5


class Problem(Exception):
    """An expected failure that answers the client with a problem+json document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.kind = kind
        self.headers = dict(headers or {})
        self.extensions = extensions

    def to_dict(self) -> dict[str, Any]:
        """Return the problem document."""
        return problem_document(self.status, self.detail, title=self.title, kind=self.kind, **self.extensions)


def problem_document(
    status: int, detail: str, *, title: str | None = None, kind: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """Build a problem document; `kind` names the problem type (e.g. duplicate-resource)."""
    document: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_BASE}{kind}" if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    document.update(extensions)
    return document


def problem_response(document: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """Serialise a problem document with the problem+json media type."""
    response = Response(json.dumps(document), status=document["status"], mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_validation_messages(messages: Any) -> dict[str, list[str]]:
    """Turn webargs' {location: {field: [..] | {nested}}} into {"field.nested": [messages]}."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                name = "body" if key == "_schema" and not prefix else str(key)
                walk(f"{prefix}.{name}" if prefix and key != "_schema" else (prefix or name), inner)
        elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            flat.setdefault(prefix or "body", []).extend(value)
        elif isinstance(value, list | tuple):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            flat.setdefault(prefix or "body", []).append(str(value))

    if isinstance(messages, Mapping):
        for location, fields in messages.items():
            # Locations (json, query, path, headers) are webargs' wrapping; field names are what clients know.
            if location in {"json", "query", "path", "headers", "form", "files", "view_args"}:
                walk("", fields)
            else:
                walk(str(location), fields)
    else:
        walk("", messages)
    return flat


def _from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers: dict[str, str] = {}
    if data.get("headers"):
        headers.update(data["headers"])
    response = error.get_response()
    # Keep protocol headers werkzeug set (e.g. Allow on 405, Retry-After on 429).
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in response.headers:
            headers[name] = response.headers[name]
    messages = data.get("messages")
    if status == 422 and messages is not None:
        errors = flatten_validation_messages(messages)
        names = ", ".join(sorted(errors)) or "body"
        document = problem_document(
            422, f"The request has invalid fields: {names}", kind="validation-error", errors=errors
        )
        return problem_response(document, headers)
    if status == 400 and messages is not None:
        errors = flatten_validation_messages(messages)
        detail = "; ".join(message for values in errors.values() for message in values) or "Bad request"
        return problem_response(problem_document(400, detail, kind="malformed-request"), headers)
    detail = data.get("message") or error.description or HTTPStatus(status).phrase
    if status == 413:
        detail = "The request body is larger than this service accepts"
    return problem_response(problem_document(status, str(detail)), headers)


# The status of each family of domain errors; any other broken rule answers 422.
DOMAIN_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (InvalidState, 409),
    (InvalidField, 422),
    (TooLarge, 413),
)


def domain_problem(error: DomainError) -> Problem:
    """Return the problem a broken rule answers with: its family's status, its kind, its details."""
    extensions = dict(error.details)
    if isinstance(error, InvalidField):
        extensions["errors"] = {error.field: [str(error)]}
    status = next((status for family, status in DOMAIN_STATUSES if isinstance(error, family)), 422)
    return Problem(status, str(error), kind=error.kind, **extensions)


def register_error_handlers(app: Flask) -> None:
    """Make every error, expected or not, answer with problem+json."""

    @app.errorhandler(Problem)
    def _problem(error: Problem) -> Response:
        return problem_response(error.to_dict(), error.headers)

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        problem = domain_problem(error)
        return problem_response(problem.to_dict(), problem.headers)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        return _from_http_exception(error)

    @app.errorhandler(pymongo.errors.ConnectionFailure)
    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _unavailable(error: Exception) -> Response:
        # MongoDB or Redis is down or unreachable (the drivers give up after their timeouts): the request
        # may succeed in a moment, so say so; nothing was half-done (each write is one atomic document).
        log.warning("dependency_unavailable", error_type=type(error).__name__)
        document = problem_document(
            503, "A service this one depends on is unavailable; try again shortly", kind="unavailable"
        )
        return problem_response(document, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled_error", error_type=type(error).__name__)
        document = problem_document(500, "An unexpected error occurred; it has been logged")
        return problem_response(document)
