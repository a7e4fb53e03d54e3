"""Gunicorn settings shared by the three APIs (`gunicorn --config python:shared.gunicorn_conf ...`)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from gunicorn import util

_inline_worker = os.environ.get("INLINE_WORKER", "").lower() in {"1", "true", "yes", "on"}

# Sync workers: measured on 2 cores they match gthread's throughput with the better p99.
worker_class = "sync"
# The in-process store lives in one process, so the fallback mode serves with a single worker.
workers = 1 if _inline_worker else int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# The app logs each request as JSON with its request id; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
limit_request_line = 8190
limit_request_fields = 100
PROBLEM_DETAIL_CHARS = 200


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Answer a request gunicorn refuses before the app sees it as problem+json, like every other error.

    A request line over `limit_request_line` (414), too many or too large headers (431) or a malformed
    request (400) never reaches Flask; gunicorn's own answer would be an HTML page.
    """
    document = {"type": "about:blank", "title": reason, "status": status_int, "detail": mesg[:PROBLEM_DETAIL_CHARS]}
    body = json.dumps(document).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# Gunicorn's workers call util.write_error for those refusals; this config is read before they fork.
util.write_error = write_problem

# Prometheus counts must add up over all workers: each worker writes to a shared directory.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="connective-metrics-")


def child_exit(server: Any, worker: Any) -> None:
    """Forget a dead worker's live gauges."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - imported after workers exist

    multiprocess.mark_process_dead(worker.pid)


# Three APIs run side by side on one host under `make run`; gunicorn's runtime control socket would be one
# shared path for all of them. Operators manage processes with signals, compose or systemd instead.
control_socket_disable = True
