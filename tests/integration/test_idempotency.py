"""Every POST of every service takes an Idempotency-Key: a retry gets the first answer again and creates nothing.

Each case runs on all three services (tests/integration/writes.py has each one's creating write), on real
Redis and the MongoDB wire-protocol server. "Nothing new" is checked on the storage itself: every document,
each collection's count, and the length of every RQ queue and Redis stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from devstack.servers import free_port
from shared.idempotency import HEADER, REPLAYED_HEADER
from shared.settings import Settings
from tests.conftest import SettingsFactory
from tests.integration import api
from tests.integration.writes import Scene, footprint, records, scene, write_without_world

pytestmark = pytest.mark.integration

# The headers a replay repeats from the first answer.
REPLAYED = ("Content-Type", "Location", "ETag")


@pytest.fixture
def scene_(make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str) -> Scene:
    """Return the service's creating write on an app of its own."""
    return scene(service, make_app(service, backend_settings(service)))


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    """Return the headers with an Idempotency-Key."""
    return {**headers, HEADER: key}


def assert_replay_of(replay: TestResponse, first: TestResponse) -> None:
    """Assert the answer repeats the first one: status, body and headers, marked as a replay."""
    assert replay.status_code == first.status_code, replay.get_data(as_text=True)
    assert replay.get_json() == first.get_json()
    assert [replay.headers.get(name) for name in REPLAYED] == [first.headers.get(name) for name in REPLAYED]
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers


def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_creates_nothing(scene_: Scene) -> None:
    body = scene_.make_body()
    empty = footprint(scene_.app)
    first = scene_.write(body, keyed(scene_.creator, "retry-0001"))
    assert first.status_code == 201, first.get_data(as_text=True)
    after_first = footprint(scene_.app)
    assert after_first != empty
    for _ in range(2):
        assert_replay_of(scene_.write(body, keyed(scene_.creator, "retry-0001")), first)
    assert footprint(scene_.app) == after_first
    # Each answer has its own request id, a replay too.
    again = scene_.write(body, keyed(scene_.creator, "retry-0001"))
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]


def test_the_same_key_with_another_body_is_refused_with_422(scene_: Scene) -> None:
    body = scene_.make_body()
    first = scene_.write(body, keyed(scene_.creator, "retry-0002"))
    assert first.status_code == 201
    before = footprint(scene_.app)
    problem = api.problem(scene_.write({**body, "more": 1}, keyed(scene_.creator, "retry-0002")), 422)
    assert problem["type"].endswith("/idempotency-key-reused")
    assert set(problem["errors"]) == {HEADER}
    assert footprint(scene_.app) == before


def test_a_retry_while_the_first_request_runs_is_told_to_wait_with_409(scene_: Scene) -> None:
    body = scene_.make_body()
    headers = keyed(scene_.creator, "retry-0003")
    app = scene_.app
    with app.test_request_context(scene_.path, method="POST", json=body, headers=headers):
        # The first request has passed the kit's checks and holds the key; its view has not run yet.
        assert app.preprocess_request() is None
        before = footprint(app)
        # The retry arrives on another worker: a request, and an application context, of its own.
        with app.app_context():
            waiting = scene_.write(body, headers)
        problem = api.problem(waiting, 409)
        assert problem["type"].endswith("/idempotency-key-in-use")
        assert int(waiting.headers["Retry-After"]) >= 1
        assert footprint(app) == before
        first = app.process_response(app.make_response(app.dispatch_request()))
    assert first.status_code == 201
    replay = scene_.write(body, headers)
    assert replay.status_code == 201
    assert replay.get_json() == first.get_json()
    assert replay.headers[REPLAYED_HEADER] == "true"


def test_without_the_header_every_request_runs(scene_: Scene) -> None:
    body = scene_.make_body()
    first = scene_.write(body, keyed(scene_.creator, "retry-0010"))
    assert first.status_code == 201
    assert_replay_of(scene_.write(body, keyed(scene_.creator, "retry-0010")), first)
    kept = records(scene_.app)
    # The same write without the header is never answered from a record: it runs, each time.
    for _ in range(2):
        plain = scene_.write(body)
        assert plain.status_code == scene_.repeat_status
        assert REPLAYED_HEADER not in plain.headers
        assert plain.get_json() != first.get_json()
    assert records(scene_.app) == kept


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "two words", "caf\u00e9", "tab\tinside"],
    ids=["empty", "256 characters", "a space", "not ASCII", "a tab"],
)
def test_a_malformed_key_is_refused_with_400_and_changes_nothing(scene_: Scene, key: str) -> None:
    before = footprint(scene_.app)
    problem = api.problem(scene_.write(headers=keyed(scene_.creator, key)), 400)
    assert problem["type"].endswith("/malformed-idempotency-key")
    assert set(problem["errors"]) == {HEADER}
    assert footprint(scene_.app) == before
    assert records(scene_.app) == []


def test_the_longest_key_is_taken(scene_: Scene) -> None:
    body = scene_.make_body()
    longest = "~" * 255
    if scene_.service == "leaderboards":
        # POST /awards keeps its key in the ledger entry's id, under a narrower rule of its own: 8-128
        # letters, digits or ._:-
        assert set(api.problem(scene_.write(body, keyed(scene_.creator, longest)), 422)["errors"]) == {HEADER}
        longest = "k" * 128
    first = scene_.write(body, keyed(scene_.creator, longest))
    assert first.status_code == 201
    assert_replay_of(scene_.write(body, keyed(scene_.creator, longest)), first)


def test_a_key_is_the_callers_own(scene_: Scene) -> None:
    body = scene_.make_body()
    first = scene_.write(body, keyed(scene_.creator, "same-key-0001"))
    assert first.status_code == 201
    other = scene_.write(body, keyed(scene_.other, "same-key-0001"))
    # The other caller's request ran: it answers for them (their own object, or their refusal), not a replay.
    assert REPLAYED_HEADER not in other.headers
    assert other.get_json() != first.get_json()
    assert_replay_of(scene_.write(body, keyed(scene_.creator, "same-key-0001")), first)


def test_a_refusal_is_not_kept_so_a_corrected_retry_runs(scene_: Scene) -> None:
    refused = scene_.refused_write(headers=keyed(scene_.creator, "retry-0004"))
    assert 400 <= refused.status_code < 500
    assert records(scene_.app) == []
    body = scene_.make_body()
    corrected = scene_.write(body, keyed(scene_.creator, "retry-0004"))
    assert corrected.status_code == 201, corrected.get_data(as_text=True)
    assert REPLAYED_HEADER not in corrected.headers
    assert_replay_of(scene_.write(body, keyed(scene_.creator, "retry-0004")), corrected)


def test_a_server_error_is_not_kept_so_the_retry_runs(scene_: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    app = scene_.app
    endpoint, _arguments = app.url_map.bind("localhost").match(scene_.path, method="POST")
    view = app.view_functions[endpoint]

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the view broke")

    monkeypatch.setitem(app.view_functions, endpoint, failing)
    body = scene_.make_body()
    api.problem(scene_.write(body, keyed(scene_.creator, "retry-0005")), 500)
    assert records(app) == []
    monkeypatch.setitem(app.view_functions, endpoint, view)
    retried = scene_.write(body, keyed(scene_.creator, "retry-0005"))
    assert retried.status_code == 201
    assert REPLAYED_HEADER not in retried.headers
    assert_replay_of(scene_.write(body, keyed(scene_.creator, "retry-0005")), retried)


def test_a_request_without_a_valid_token_is_not_recorded(scene_: Scene) -> None:
    body = scene_.make_body()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        api.problem(scene_.write(body, keyed(headers, "retry-0006")), 401)
    assert records(scene_.app) == []
    first = scene_.write(body, keyed(scene_.creator, "retry-0006"))
    assert first.status_code == 201
    assert REPLAYED_HEADER not in first.headers
    assert_replay_of(scene_.write(body, keyed(scene_.creator, "retry-0006")), first)


def test_a_record_expires_after_the_configured_time(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    scene_ = scene(service, make_app(service, backend_settings(service, idempotency_ttl_seconds="600")))
    assert scene_.write(headers=keyed(scene_.creator, "retry-0008")).status_code == 201
    connection = scene_.app.extensions["connective"].dependencies.runtime.redis.connection
    (record,) = records(scene_.app)
    assert 0 < connection.ttl(record) <= 600


def test_with_redis_down_a_keyed_post_answers_503_and_one_without_a_key_is_unaffected(
    make_app: Callable[[str, Settings], Flask], backend_settings: SettingsFactory, service: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(service, backend_settings(service, redis_url=dead)).test_client()
    path, body, headers = write_without_world(service)
    keyed_answer = client.post(path, json=body, headers=keyed(headers, "retry-0009"))
    api.problem(keyed_answer, 503)
    assert keyed_answer.headers["Retry-After"] == "5"
    plain = client.post(path, json=body, headers=headers)
    assert plain.status_code != 500
    if service == "challenges":
        # The challenges keep the write's events in its document until Redis is back.
        assert plain.status_code == 201


def test_the_docs_offer_the_header_on_every_post_once(
    make_app: Callable[[str, Settings], Flask], make_settings: SettingsFactory, service: str
) -> None:
    spec = make_app(service, make_settings(service)).test_client().get("/openapi.json").get_json()

    def resolved(parameter: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in parameter:
            found: dict[str, Any] = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
            return found
        return parameter

    posts = [(path, item["post"]) for path, item in spec["paths"].items() if "post" in item]
    assert posts
    for path, operation in posts:
        headers = [resolved(p) for p in operation.get("parameters", []) if resolved(p)["in"] == "header"]
        named = [p for p in headers if p["name"] == HEADER]
        assert len(named) == 1, path
        assert not named[0].get("required"), path
        assert {"400", "409", "422"} <= set(operation["responses"]), path
    others = [
        resolved(parameter)["name"]
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in {"get", "put", "patch", "delete"}
        for parameter in operation.get("parameters", [])
    ]
    assert HEADER not in others
