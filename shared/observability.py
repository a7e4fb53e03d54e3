"""JSON logs, request ids carried everywhere, and Prometheus metrics."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from typing import Any

import structlog
from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

HTTP_REQUESTS = Counter(
    "connective_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "connective_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route"],
)
EVENTS_HANDLED = Counter(
    "connective_events_handled_total",
    "Events a worker applied, skipped or rejected",
    ["service", "type", "outcome"],
)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Log one JSON object per line to stdout, with the service name and bound context."""
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=getattr(logging, level), force=True)
    # RQ and werkzeug log through the standard library; make them JSON too.
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_logger_name,
        ],
    )
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(formatter)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def new_request_id() -> str:
    """Return a fresh request id."""
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """Keep a caller's request id if it is well formed, otherwise make one."""
    if value and _REQUEST_ID_PATTERN.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """Return the request id bound to this request or job, if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


def install_request_tracking(app: Flask, service: str) -> None:
    """Bind a request id to every request's logs and answer it back; count and time requests."""
    log = structlog.get_logger("connective.http")

    @app.before_request
    def _start() -> None:
        request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id = request_id
        g.started_at = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started_at", time.perf_counter())
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, route).observe(elapsed)
        if route not in {"/healthz", "/readyz", "/metrics"}:
            principal = g.get("principal")
            log.info(
                "request",
                method=request.method,
                path=request.path,
                route=route,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 2),
                user_id=principal.user_id if principal else None,
            )
        return response

    @app.teardown_request
    def _unbind(_error: BaseException | None) -> None:
        structlog.contextvars.unbind_contextvars("request_id")


def metrics_response() -> Response:
    """Render Prometheus metrics (aggregated over gunicorn workers when multiprocess mode is on)."""
    registry: Any
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY  # noqa: PLC0415 - the default registry, single process

        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
