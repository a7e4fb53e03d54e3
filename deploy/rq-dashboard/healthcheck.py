"""Health check of the RQ dashboard container: it refuses anonymous requests and serves its own credentials.

Healthy only when the queue list (which reads Redis) answers 401 without credentials and 200 with
RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD, so a dashboard serving without authentication shows
as unhealthy. Usage: python healthcheck.py [base URL, default http://127.0.0.1:9181].
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9181"
QUEUES = "/0/data/queues.json"


def status_of(url: str, headers: dict[str, str]) -> int:
    """Return the HTTP status a GET of the URL answers."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the URL is this check's own
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def main(arguments: list[str]) -> int:
    """Return 0 when the dashboard is up and demands its credentials, else 1."""
    url = (arguments[0] if arguments else DEFAULT_URL).rstrip("/") + QUEUES
    pair = f"{os.environ.get('RQ_DASHBOARD_USERNAME', '')}:{os.environ.get('RQ_DASHBOARD_PASSWORD', '')}"
    authorization = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    try:
        anonymous = status_of(url, {})
        authenticated = status_of(url, authorization)
    except OSError as error:
        print(f"rq-dashboard unreachable at {url}: {error}", file=sys.stderr)
        return 1
    if anonymous != 401:
        print(f"rq-dashboard answered {anonymous} without credentials (401 expected)", file=sys.stderr)
        return 1
    if authenticated != 200:
        print(f"rq-dashboard answered {authenticated} with its credentials (200 expected)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
