"""Idempotency-Key on every POST: a client that retries a write it never saw answered gets it done once.

On a school's Wi-Fi a front-end cannot tell a share that failed from one whose 201 was lost on the way
back, so it sends the POST again. With `Idempotency-Key: <1 to 255 visible ASCII characters>`, the first
request runs as usual and its answer (status, body, headers such as Location and Content-Type) is kept in
Redis for IDEMPOTENCY_TTL_SECONDS, under the service, the caller (the token's sub), the method and path,
and the key. A retry with the same body gets that answer again, marked `Idempotent-Replayed: true`, and
nothing runs: no document, no event. The same key with another body is refused (422), a retry while the
first request is still running is told to wait (409 with Retry-After), and a malformed key is refused
(400). Without the header nothing changes.

Only successful answers (2xx) are kept. Every refusal leaves storage as it was, so a retry after one
simply runs again (and may carry a corrected body under the same key); a 5xx or a 429 says "try again",
which a kept answer would forbid. A request without a valid token is not remembered at all: there is no
caller to keep it for, and its view refuses it.

Each record is one Redis key. The first request takes it, in one step with the read a retry needs (a Lua
script: SET NX with an expiry, or the record already there), as an in-flight marker naming that request;
when the answer is ready it replaces the marker with the answer, only while the marker is still its own.
A request that dies holding the marker leaves it to expire after IN_FLIGHT_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import redis.exceptions
import structlog
from apispec import APISpec, BasePlugin
from flask import Flask, Response, g, request
from werkzeug.datastructures import Headers

from shared.caller import current_caller
from shared.errors import PROBLEM_MEDIA_TYPE, Problem, problem_document
from shared.redisconn import RedisProvider
from shared.settings import Settings

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[!-~]{1,255}")
KEY_PREFIX = "idempotency"
# How long a request holds its in-flight marker at most: twice gunicorn's 30 s timeout, after which the
# worker that ran it has been killed and a retry may run.
IN_FLIGHT_SECONDS = 60
# What a retry that finds the first request still running is told to wait, in seconds.
IN_FLIGHT_RETRY_AFTER_SECONDS = 1
# Headers of one answer that a replay does not repeat: its own request id, length and date are its own.
NOT_REPLAYED = frozenset(
    {"content-length", "date", "server", "set-cookie", "x-request-id", "connection", "transfer-encoding"}
)
RUNNING = "running"
DONE = "done"
# The OpenAPI components every POST refers to.
KEY_PARAMETER = "IdempotencyKey"
# status -> (component, problem kind, what it means)
KEY_PROBLEMS = {
    "400": (
        "IdempotencyKeyMalformed",
        "malformed-idempotency-key",
        "The Idempotency-Key header is not 1 to 255 visible ASCII characters",
    ),
    "409": (
        "IdempotencyKeyInUse",
        "idempotency-key-in-use",
        "A request with this Idempotency-Key is still running; retry after Retry-After seconds",
    ),
    "422": (
        "IdempotencyKeyReused",
        "idempotency-key-reused",
        "This Idempotency-Key was sent before with a different request",
    ),
}

# Returns the record already under the key, or takes the key with the marker and returns nothing.
BEGIN_SCRIPT = """
local held = redis.call('GET', KEYS[1])
if held then
  return held
end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
return false
"""
# Replaces the request's own marker with its answer (or, given no answer, removes it); 0 if it is not its own.
SETTLE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Claim:
    """The in-flight marker a request holds: its Redis key, the marker's exact value, the request's fingerprint."""

    key: str
    marker: str
    fingerprint: str


def _fingerprint() -> str:
    """Return a digest of what makes two requests the same: the query string and the body (JSON as data)."""
    body = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (request.query_string, canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _replay(record: dict[str, Any]) -> Response:
    response = Response(record["body"], status=record["status"], headers=Headers(record["headers"]))
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _stored_answer(response: Response, fingerprint: str) -> str:
    """Return the record of an answer worth keeping (a whole 2xx with a text body), else an empty string."""
    if not 200 <= response.status_code < 300 or response.is_streamed:
        return ""
    try:
        body = response.get_data().decode()
    except UnicodeDecodeError:
        return ""
    headers = [[name, value] for name, value in response.headers.items() if name.lower() not in NOT_REPLAYED]
    return json.dumps(
        {"state": DONE, "fingerprint": fingerprint, "status": response.status_code, "headers": headers, "body": body}
    )


class Idempotency:
    """The request hooks that keep, and replay, the answers to POSTs sent with an Idempotency-Key."""

    def __init__(self, service: str, redis_provider: RedisProvider, ttl_seconds: int) -> None:
        self.service = service
        self.redis = redis_provider
        self.ttl_seconds = ttl_seconds

    def record_key(self, user_id: str, key: str) -> str:
        """Return the Redis key of a caller's record for this request's method and path."""
        scope = json.dumps([user_id, request.method, request.path, key])
        return f"{KEY_PREFIX}:{self.service}:{hashlib.sha256(scope.encode()).hexdigest()}"

    def begin(self) -> Response | None:
        """Before the view: replay a kept answer, refuse a key in use or reused, or take the key for this request.

        A Redis that cannot be reached raises its ConnectionError, which answers 503 with Retry-After: the
        client asked for at most one write, which nothing could promise without the records.
        """
        if request.method != "POST":
            return None
        key = request.headers.get(HEADER)
        if key is None:
            return None
        if not KEY_PATTERN.fullmatch(key):
            message = "Use 1 to 255 visible ASCII characters (no spaces)"
            raise Problem(
                400,
                f"The {HEADER} header is malformed: {message}",
                kind=KEY_PROBLEMS["400"][1],
                errors={HEADER: [message]},
            )
        caller = current_caller()
        if caller is None or request.url_rule is None:
            return None
        claim_key = self.record_key(caller.user_id, key)
        fingerprint = _fingerprint()
        marker = json.dumps({"state": RUNNING, "fingerprint": fingerprint, "owner": uuid.uuid4().hex})
        connection = self.redis.connection
        held = connection.register_script(BEGIN_SCRIPT)(keys=[claim_key], args=[marker, IN_FLIGHT_SECONDS])
        if held is None:
            g.idempotency_claim = _Claim(claim_key, marker, fingerprint)
            return None
        record: dict[str, Any] = json.loads(held)
        if record["fingerprint"] != fingerprint:
            message = "This key was sent before with a different request; use a new key for a new request"
            raise Problem(
                422,
                f"The {HEADER} was reused with a different request",
                kind=KEY_PROBLEMS["422"][1],
                errors={HEADER: [message]},
            )
        if record["state"] == RUNNING:
            raise Problem(
                409,
                f"A request with this {HEADER} is still running; retry shortly",
                kind=KEY_PROBLEMS["409"][1],
                headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_SECONDS)},
            )
        return _replay(record)

    def finish(self, response: Response) -> Response:
        """After the view: keep a successful answer under the request's key; free the key otherwise."""
        claim: _Claim | None = g.pop("idempotency_claim", None)
        if claim is not None:
            self._settle(claim, _stored_answer(response, claim.fingerprint))
        return response

    def abandon(self, _error: BaseException | None) -> None:
        """At teardown: free a key that no answer settled (an after-request hook failed before `finish`)."""
        claim: _Claim | None = g.pop("idempotency_claim", None)
        if claim is not None:
            self._settle(claim, "")

    def _settle(self, claim: _Claim, record: str) -> None:
        try:
            connection = self.redis.connection
            connection.register_script(SETTLE_SCRIPT)(keys=[claim.key], args=[claim.marker, record, self.ttl_seconds])
        except redis.exceptions.RedisError as error:
            # The answer stands; the marker expires after IN_FLIGHT_SECONDS, and a retry then runs again.
            log.warning("idempotency_record_failed", error_type=type(error).__name__)


class IdempotencyDocs(BasePlugin):
    """Documents the optional Idempotency-Key on every POST of an OpenAPI document, and what it may answer."""

    def __init__(self, problem_schema: Any, ttl_seconds: int) -> None:
        self.problem_schema = problem_schema
        self.ttl_seconds = ttl_seconds

    def init_spec(self, spec: APISpec) -> None:
        """Register the header and its refusals once, in the service's own problem schema."""
        spec.components.parameter(
            KEY_PARAMETER,
            "header",
            {
                "name": HEADER,
                "required": False,
                "description": (
                    "Optional; a key of the client's choosing for this write. A retry with the same key and body "
                    "answers what the first request answered (with `Idempotent-Replayed: true`) and does nothing "
                    f"again; successful answers are kept for {self.ttl_seconds} seconds. The same key with another "
                    "body answers 422, and a retry while the first request is still running answers 409."
                ),
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                "example": "3f1c9a2e-share-retry",
            },
        )
        for status, (name, kind, description) in KEY_PROBLEMS.items():
            example = problem_document(int(status), description, kind=kind)
            spec.components.response(
                name,
                {
                    "description": description,
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": self.problem_schema, "example": example}},
                },
            )

    def operation_helper(
        self, path: str | None = None, operations: dict[Any, Any] | None = None, **kwargs: Any
    ) -> None:
        """Add the header to each POST of a path that does not declare it itself, and the answers it may cause."""
        operation = (operations or {}).get("post")
        if operation is None:
            return
        parameters = operation.setdefault("parameters", [])
        declared = any(
            isinstance(parameter, dict)
            and parameter.get("in") == "header"
            and str(parameter.get("name", "")).lower() == HEADER.lower()
            for parameter in parameters
        )
        if not declared:
            parameters.append(KEY_PARAMETER)
        responses = operation.setdefault("responses", {})
        documented = {str(status) for status in responses}
        for status, (name, _kind, _description) in KEY_PROBLEMS.items():
            if status not in documented:
                responses[status] = name


def install_idempotency(app: Flask, api: Any, settings: Settings, redis_provider: RedisProvider) -> None:
    """Keep and replay the answers to POSTs sent with an Idempotency-Key, and document the header.

    Call it before the blueprints are registered (their operations are documented as they are added) and
    after the checks that refuse a request unread (rate limits, bodies that are not JSON).
    """
    hooks = Idempotency(settings.service, redis_provider, settings.idempotency_ttl_seconds)
    app.before_request(hooks.begin)
    app.after_request(hooks.finish)
    app.teardown_request(hooks.abandon)
    docs = IdempotencyDocs(api.ERROR_SCHEMA, settings.idempotency_ttl_seconds)
    # flask-smorest hands apispec a list of plugins, which the spec's components share.
    api.spec.plugins.append(docs)
    docs.init_spec(api.spec)
