"""The bare baseline of the HTTP benchmarks: a Flask app with one JSON endpoint and nothing else.

No authentication, no request hooks, no database: `GET /top` returns a fixed top-10 page shaped as the
leaderboards API's. It is served exactly as the services are, by `command()`: the leaderboards API's own
gunicorn command (`--config python:shared.gunicorn_conf`, so the same sync workers and WEB_CONCURRENCY) with
this app in its place. What a service endpoint costs beyond it is the service's own work.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from shared.registry import service

PATH = "/top"

TOP_TEN: dict[str, Any] = {
    "board": "global",
    "window": "all",
    "period": "all",
    "total": 1_000_000,
    "entries": [{"rank": rank, "user_id": f"member-{rank:07d}", "points": 10_000 - rank} for rank in range(1, 11)],
}

app = Flask(__name__)


@app.get(PATH)
def top() -> dict[str, Any]:
    """Return the fixed top-10 page."""
    return TOP_TEN


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Report that the process is alive (the harness waits for it)."""
    return {"status": "ok"}


def command(host: str, port: int) -> list[str]:
    """Return the leaderboards API's gunicorn command with this app in its place."""
    api = service("leaderboards").api_command(host=host, port=port)
    if not api[-1].endswith(":app"):
        raise RuntimeError(f"expected the API command to end with its app, got {api}")
    return [*api[:-1], "bench.bare_app:app"]
