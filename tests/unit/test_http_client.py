"""Calls between services: the request id goes along, idempotent calls retry a bounded number of times."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import structlog
import urllib3.util.retry

from shared.http import ServiceClient


class _Recorder(BaseHTTPRequestHandler):
    """Answers 503 for the first `failures` requests, then 200; records what it saw."""

    failures = 0
    retry_after: str | None = None
    seen: list[tuple[str, str | None, str | None]] = []

    def _answer(self) -> None:
        type(self).seen.append((self.command, self.headers.get("X-Request-ID"), self.headers.get("Authorization")))
        status = 503 if len(type(self).seen) <= type(self).failures else 200
        self.send_response(status)
        if status == 503 and type(self).retry_after:
            self.send_header("Retry-After", str(type(self).retry_after))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = _answer  # noqa: N815 - http.server's naming
    do_POST = _answer  # noqa: N815

    def log_message(self, *_args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Recorder.seen = []
    _Recorder.failures = 0
    _Recorder.retry_after = None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(server: ThreadingHTTPServer, **options: object) -> ServiceClient:
    return ServiceClient(f"http://127.0.0.1:{server.server_address[1]}", backoff_factor=0, **options)  # type: ignore[arg-type]


def test_the_current_request_id_and_service_token_go_along(server: ThreadingHTTPServer) -> None:
    with structlog.contextvars.bound_contextvars(request_id="req-42"):
        assert _client(server, token="service-token").get("/thing").status_code == 200
    assert _Recorder.seen == [("GET", "req-42", "Bearer service-token")]


def test_an_unavailable_neighbour_is_retried_a_bounded_number_of_times(server: ThreadingHTTPServer) -> None:
    _Recorder.failures = 2
    assert _client(server, retries=2).get("/thing").status_code == 200
    assert len(_Recorder.seen) == 3
    _Recorder.seen = []
    _Recorder.failures = 10
    assert _client(server, retries=2).get("/thing").status_code == 503
    assert len(_Recorder.seen) == 3


def test_no_wait_between_attempts_exceeds_the_bound_whatever_retry_after_asks(
    server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        # time.sleep is the process's: other threads (a server's, a timer's) keep their own sleeps.
        if threading.current_thread() is threading.main_thread():
            waits.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(urllib3.util.retry.time, "sleep", sleep)
    _Recorder.failures = 2
    _Recorder.retry_after = "3600"
    client = ServiceClient(f"http://127.0.0.1:{server.server_address[1]}", retries=2, max_wait=2)
    assert client.get("/thing").status_code == 200
    assert len(_Recorder.seen) == 3
    assert waits == [2, 2]
    # The backoff of its own is capped the same way, however many retries it is allowed.
    waits.clear()
    _Recorder.seen, _Recorder.retry_after, _Recorder.failures = [], None, 6
    client = ServiceClient(f"http://127.0.0.1:{server.server_address[1]}", retries=6, backoff_factor=1, max_wait=2)
    assert client.get("/thing").status_code == 200
    assert max(waits) == 2


def test_a_post_is_not_repeated(server: ThreadingHTTPServer) -> None:
    _Recorder.failures = 1
    assert _client(server, retries=3).post("/awards", json={}).status_code == 503
    assert len(_Recorder.seen) == 1


def test_an_absent_neighbour_fails_fast_with_a_connection_error() -> None:
    client = ServiceClient("http://127.0.0.1:1", retries=1, backoff_factor=0, connect_timeout=0.5)
    with pytest.raises(requests.ConnectionError):
        client.get("/thing")
