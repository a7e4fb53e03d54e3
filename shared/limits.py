"""Rate limits on every API's writes, per user and per client address, counted in the service's Redis.

A write is what costs (documents, events, points) and what a runaway script or a flood of bad tokens
repeats, so POST, PUT, PATCH and DELETE are limited: RATE_LIMIT_USER per token subject and RATE_LIMIT_IP
per client address, each over all of one service's writes. Reads are never limited (classroom screens and
front-ends poll, and a read changes nothing), and neither are the operations endpoints, which only read.
The counters are in the Redis of REDIS_URL, so every gunicorn worker and container of a service counts
against the same limit. A write over a limit answers 429 problem+json with Retry-After before any view
runs, so it changes nothing.

The client's address is the peer's, unless TRUSTED_PROXIES says how many proxies (the gateway is one) put
the client's address into X-Forwarded-For: only then is that header believed (werkzeug's ProxyFix), since
any client may write it.

When Redis cannot be reached, each process counts the same limits in its memory until Redis answers again
(Flask-Limiter's in-memory fallback, which retries Redis with a growing backoff): an outage must neither
refuse the writes that can still succeed (the challenges keep their events in their documents until Redis
is back) nor let a flood through unchecked.
"""

from __future__ import annotations

import math
import time
from typing import Any

import redis.exceptions
import structlog
from apispec import APISpec, BasePlugin
from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.caller import current_caller
from shared.errors import PROBLEM_MEDIA_TYPE, problem_document, problem_response
from shared.settings import Settings

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# The prefix of the counters' Redis keys, followed by the service's name.
STORAGE_PREFIX = "ratelimit"
# How long the limiter waits for Redis before it counts in the process instead.
REDIS_TIMEOUT_SECONDS = 2
# The names of the two limits: a refusal says which one the caller reached.
USER_SCOPE = "writes-by-user"
ADDRESS_SCOPE = "writes-from-address"
# The OpenAPI response every write operation documents.
TOO_MANY_WRITES = "TooManyWrites"

log = structlog.get_logger(__name__)


def client_address() -> str:
    """Return the client's address: the peer's, or X-Forwarded-For's when proxies are trusted (ProxyFix)."""
    return request.remote_addr or "unknown"


def _subject() -> str:
    caller = current_caller()
    return caller.user_id if caller is not None else ""


def _without_valid_token() -> bool:
    return current_caller() is None


def _is_read() -> bool:
    return request.method not in WRITE_METHODS


def write_limits(settings: Settings) -> list[ApplicationLimit]:
    """Return the limits the settings ask for: per user (callers with a valid token), per address, or neither."""
    limits = []
    if settings.rate_limit_user:
        limits.append(
            ApplicationLimit(
                limit_provider=settings.rate_limit_user,
                key_function=_subject,
                scope=USER_SCOPE,
                exempt_when=_without_valid_token,
            )
        )
    if settings.rate_limit_ip:
        limits.append(
            ApplicationLimit(
                limit_provider=settings.rate_limit_ip,
                key_function=client_address,
                scope=ADDRESS_SCOPE,
            )
        )
    return limits


def _storage_uri(redis_url: str) -> str:
    """Return REDIS_URL in the notation of the `limits` package (which spells a socket `redis+unix://`)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def _seconds_until_allowed(limiter: Limiter, error: RateLimitExceeded) -> int:
    """Return when the breached limit lets a write through again: its counter's reset, else its whole window."""
    breached = limiter.current_limit
    if breached is not None:
        try:
            return max(1, math.ceil(breached.reset_at - time.time()))
        except redis.exceptions.RedisError:
            log.warning("rate_limit_reset_unknown", scope=error.limit.scope)
    return max(1, error.limit.limit.get_expiry())


def _refusal(limiter: Limiter, error: RateLimitExceeded) -> Response:
    retry_after = _seconds_until_allowed(limiter, error)
    by = "by this user" if error.limit.scope == USER_SCOPE else "from this address"
    log.warning("rate_limited", scope=error.limit.scope, limit=str(error.limit.limit), retry_after=retry_after)
    document = problem_document(
        429,
        f"Too many writes {by}: at most {error.limit.limit}; try again in {retry_after} s",
        kind="rate-limited",
    )
    return problem_response(document, {"Retry-After": str(retry_after)})


class RateLimitDocs(BasePlugin):
    """Documents the 429 on every write operation of an OpenAPI document, as the operations are added."""

    def __init__(self, problem_schema: Any) -> None:
        self.problem_schema = problem_schema

    def init_spec(self, spec: APISpec) -> None:
        """Register the 429 answer once, in the service's own problem schema."""
        example = problem_document(
            429, "Too many writes by this user: at most 120 per 1 minute; try again in 12 s", kind="rate-limited"
        )
        spec.components.response(
            TOO_MANY_WRITES,
            {
                "description": "Too many writes by this user or from this address; nothing was changed",
                "headers": {
                    "Retry-After": {
                        "description": "Seconds until a write is let through again",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
                "content": {PROBLEM_MEDIA_TYPE: {"schema": self.problem_schema, "example": example}},
            },
        )

    def operation_helper(
        self, path: str | None = None, operations: dict[Any, Any] | None = None, **kwargs: Any
    ) -> None:
        """Add the 429 to each write operation of a path."""
        for method, operation in (operations or {}).items():
            if str(method).upper() in WRITE_METHODS:
                operation.setdefault("responses", {})["429"] = TOO_MANY_WRITES


def install_rate_limits(app: Flask, api: Any, settings: Settings) -> None:
    """Limit the app's writes as the settings say, and document the 429 on every write the API declares.

    Call it before the blueprints are registered (their operations are documented as they are added) and
    before the other request checks, so that every write is counted, even one they refuse.
    """
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    docs = RateLimitDocs(api.ERROR_SCHEMA)
    # flask-smorest hands apispec a list of plugins, which the spec's components share.
    api.spec.plugins.append(docs)
    docs.init_spec(api.spec)
    limits = write_limits(settings)
    if not limits:
        return
    limiter = Limiter(
        client_address,
        app=app,
        application_limits=[*limits],
        storage_uri=_storage_uri(settings.redis_url),
        storage_options={
            "key_prefix": STORAGE_PREFIX,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        },
        # Two counters per key weighted over the window: no burst of twice the limit at a window's edge.
        strategy="sliding-window-counter",
        key_prefix=settings.service,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    # Reads skip every limit before any counter is looked at.
    limiter.request_filter(_is_read)
    app.register_error_handler(RateLimitExceeded, lambda error: _refusal(limiter, error))
