"""HTTP calls between services: always a timeout, bounded retries, and the request id passed on."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.observability import REQUEST_ID_HEADER, current_request_id

RETRYABLE_STATUSES = (502, 503, 504)


class ServiceClient:
    """A small client for one neighbouring service.

    Each attempt waits at most `connect_timeout` to connect and `timeout` for each read; an idempotent call
    is tried at most `retries` more times, after a backoff that doubles from `backoff_factor` seconds. No
    wait between attempts exceeds `max_wait` seconds, not even one a neighbour asks for with `Retry-After`
    (urllib3 would honour up to six hours): a neighbour's 503 must not stall the caller's own request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        connect_timeout: float = 1.0,
        retries: int = 2,
        backoff_factor: float = 0.2,
        max_wait: int = 2,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, timeout)
        self.token = token
        self.session = requests.Session()
        # Idempotent methods only: a POST that timed out may have been applied, so it is not repeated here.
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff_factor,
            backoff_max=max_wait,
            retry_after_max=max_wait,
            status_forcelist=RETRYABLE_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request with the service token and the current request id."""
        headers = dict(kwargs.pop("headers", None) or {})
        request_id = current_request_id()
        if request_id:
            headers.setdefault(REQUEST_ID_HEADER, request_id)
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("timeout", self.timeout)
        return self.session.request(method, f"{self.base_url}/{path.lstrip('/')}", headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """Send a GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """Send a POST (not retried after it may have reached the server)."""
        return self.request("POST", path, **kwargs)
