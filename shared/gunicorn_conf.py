"""Gunicorn settings shared by the three APIs (`gunicorn --config python:shared.gunicorn_conf ...`)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

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
