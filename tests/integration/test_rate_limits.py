"""Every service limits writes per user and per client address, counted in Redis, and a refused write changes nothing.

Each case runs on all three services (tests/integration/writes.py has each one's creating write). The
limits are given per hour, so a test never straddles a window's end. Writes that use a limit up are ones
their views refuse (an empty body): every write counts, whatever it is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from devstack.servers import free_port
from shared.settings import Settings
from tests.conftest import SettingsFactory
from tests.factories import bearer
from tests.integration import api
from tests.integration.writes import Scene, footprint, scene, write_without_world

pytestmark = pytest.mark.integration

OTHER_ADDRESS = {"REMOTE_ADDR": "127.0.0.2"}


def limited(
    make_app: Callable[[str, Settings], Flask], settings: SettingsFactory, service: str, **limits: str
) -> Scene:
    """Return the service's scene on an app with these limits (rate_limit_user, rate_limit_ip: off unless given)."""
    chosen = {"rate_limit_user": "off", "rate_limit_ip": "off", **limits}
    return scene(service, make_app(service, settings(service, **chosen)))


def assert_rate_limited(response: TestResponse) -> dict[str, Any]:
    """Assert the answer is the 429 problem with a Retry-After in whole seconds; return the problem."""
    problem = api.problem(response, 429)
    assert problem["type"].endswith("/rate-limited")
    assert int(response.headers["Retry-After"]) >= 1
    return problem


def test_a_write_over_the_user_limit_answers_429_and_creates_nothing(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    scene_ = limited(make_app, backend_settings, service, rate_limit_user="2/hour")
    for _ in range(2):
        assert scene_.refused_write().status_code != 429
    before = footprint(scene_.app)
    body = scene_.make_body()
    problem = assert_rate_limited(scene_.write(body))
    assert "by this user" in problem["detail"]
    assert footprint(scene_.app) == before
    # The write refused was one that creates: the same app without limits makes it.
    unlimited = make_app(service, backend_settings(service, rate_limit_user="off", rate_limit_ip="off"))
    assert unlimited.test_client().post(scene_.path, json=body, headers=scene_.creator).status_code == 201
    assert footprint(scene_.app) != before


def test_the_user_limit_counts_each_user_apart_from_one_address(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    scene_ = limited(make_app, backend_settings, service, rate_limit_user="2/hour")
    for _ in range(2):
        scene_.refused_write(headers=scene_.other)
    assert_rate_limited(scene_.refused_write(headers=scene_.other))
    assert scene_.write().status_code == 201
    # A request without a valid token has no user to count; the view answers it.
    assert scene_.refused_write(headers={}).status_code == 401


def test_the_address_limit_counts_every_caller_from_one_address_and_each_address_apart(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    scene_ = limited(make_app, backend_settings, service, rate_limit_ip="3/hour")
    assert scene_.refused_write(headers=scene_.other).status_code != 429
    # Writes without a valid token count too: they are what a flood of forged tokens sends.
    assert scene_.refused_write(headers={}).status_code == 401
    assert scene_.refused_write(headers=bearer("mallory", cohorts=("7a",))).status_code != 429
    before = footprint(scene_.app)
    problem = assert_rate_limited(scene_.write())
    assert "from this address" in problem["detail"]
    assert footprint(scene_.app) == before
    assert scene_.write(environ_base=OTHER_ADDRESS).status_code == 201


def test_apps_sharing_one_redis_share_the_count(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    settings = backend_settings(service, rate_limit_user="2/hour", rate_limit_ip="off")
    first = scene(service, make_app(service, settings))
    second = make_app(service, settings)
    for _ in range(2):
        first.refused_write()
    before = footprint(second)
    assert_rate_limited(second.test_client().post(first.path, json=first.make_body(), headers=first.creator))
    assert footprint(second) == before


@pytest.mark.parametrize("allowed", [1, 4])
def test_exactly_the_configured_number_of_writes_goes_through(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str, allowed: int
) -> None:
    scene_ = limited(make_app, backend_settings, service, rate_limit_user=f"{allowed}/hour")
    answers = [scene_.refused_write().status_code for _ in range(allowed)]
    assert 429 not in answers
    assert_rate_limited(scene_.refused_write())


def test_off_switches_the_limits_off(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    scene_ = limited(make_app, backend_settings, service)
    assert 429 not in {scene_.refused_write().status_code for _ in range(25)}
    # The same writes to an app limited to 24 an hour: the 25th is one too many.
    scene_ = limited(make_app, backend_settings, service, rate_limit_user="24/hour")
    assert 429 not in {scene_.refused_write().status_code for _ in range(24)}
    assert_rate_limited(scene_.refused_write())


def test_reads_and_operations_endpoints_are_never_limited(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    scene_ = limited(make_app, backend_settings, service, rate_limit_user="1/hour", rate_limit_ip="1/hour")
    scene_.refused_write()
    assert_rate_limited(scene_.refused_write())
    client = scene_.client
    for _ in range(3):
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        assert client.get(scene_.path, headers=scene_.creator).status_code != 429


def test_x_forwarded_for_names_the_client_only_when_proxies_are_trusted(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    untrusting = limited(make_app, backend_settings, service, rate_limit_ip="1/hour")
    untrusting.refused_write(headers={"X-Forwarded-For": "203.0.113.7"})
    # Ignored: the second write comes from the same peer, whatever the header says.
    assert_rate_limited(untrusting.refused_write(headers={"X-Forwarded-For": "203.0.113.8"}))

    behind_gateway = limited(make_app, backend_settings, service, rate_limit_ip="1/hour", trusted_proxies="1")
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    # The gateway appends the address it saw; with one proxy trusted, the last one names the client.
    behind_gateway.refused_write(headers=forwarded, environ_base=OTHER_ADDRESS)
    assert_rate_limited(behind_gateway.refused_write(headers=forwarded, environ_base=OTHER_ADDRESS))
    # A client naming another address first gains nothing: the gateway's entry comes last.
    forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    assert_rate_limited(behind_gateway.refused_write(headers=forged, environ_base=OTHER_ADDRESS))
    elsewhere = {"X-Forwarded-For": "203.0.113.10"}
    assert behind_gateway.refused_write(headers=elsewhere, environ_base=OTHER_ADDRESS).status_code != 429


def test_the_docs_list_429_with_retry_after_on_every_write(
    make_app: Callable[[str, Settings], Flask], make_settings: SettingsFactory, service: str
) -> None:
    spec = make_app(service, make_settings(service)).test_client().get("/openapi.json").get_json()
    writes = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put", "patch", "delete"}
    ]
    assert writes
    for path, method, operation in writes:
        reference = operation["responses"]["429"]["$ref"]
        response = spec["components"]["responses"][reference.rsplit("/", 1)[1]]
        assert "Retry-After" in response["headers"], f"{method} {path}"
        assert response["content"]["application/problem+json"]["example"]["status"] == 429
    reads = [operation for item in spec["paths"].values() for method, operation in item.items() if method == "get"]
    assert all("429" not in operation["responses"] for operation in reads)


# --- Redis down -------------------------------------------------------------------------------------


def test_with_redis_down_a_write_answers_as_without_limits_and_the_process_counts_them(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    answers = []
    for user, address in (("2/hour", "600/minute"), ("off", "off")):
        app = make_app(service, backend_settings(service, redis_url=dead, rate_limit_user=user, rate_limit_ip=address))
        path, body, headers = write_without_world(service)
        answers.append(app.test_client().post(path, json=body, headers=headers).status_code)
    with_limits, without = answers
    assert with_limits == without
    assert with_limits not in {429, 500}
    if service == "challenges":
        # The challenges keep a write's events in its document while Redis is away: the write succeeds.
        assert with_limits == 201
    # Meanwhile the limited app counts in its own memory: its second write was its last.
    limited_app = make_app(service, backend_settings(service, redis_url=dead, rate_limit_user="2/hour"))
    client = limited_app.test_client()
    for _ in range(2):
        path, body, headers = write_without_world(service)
        assert client.post(path, json=body, headers=headers).status_code == without
    path, body, headers = write_without_world(service)
    assert_rate_limited(client.post(path, json=body, headers=headers))
