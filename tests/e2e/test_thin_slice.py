"""The thin slice across every boundary, with the services as real processes."""

from __future__ import annotations

import json
import re

import pytest
import requests

from shared.contracts.events import Event
from shared.queues import EventPublisher
from shared.redisconn import RedisProvider
from tests.e2e.conftest import Stack, eventually, ledger_in_mongodb, points_of, share_resource, standing_of
from tests.factories import bearer, challenge_body, resource_body, resource_shared_event, unique

pytestmark = pytest.mark.e2e


def test_a_shared_resource_shows_five_points_on_the_global_board(stack: Stack) -> None:
    teacher = bearer(unique("teacher"), "teacher")
    created = requests.post(stack.url("challenges", "/challenges"), json=challenge_body(), headers=teacher, timeout=10)
    assert created.status_code == 201
    published = requests.post(
        stack.url("challenges", f"/challenges/{created.json()['id']}/publish"), headers=teacher, timeout=10
    )
    assert published.json()["status"] == "published"

    learner = unique("learner")
    body = resource_body()
    shared = requests.post(
        stack.url("challenges", "/resources"), json=body, headers=bearer(learner, cohorts=("c1",)), timeout=10
    )
    assert shared.status_code == 201

    standing = eventually(lambda: standing_of(stack, learner))
    assert standing["points"] == 5
    assert standing_of(stack, learner, "cohort:c1") is not None
    points = points_of(stack, learner)
    assert points["total"] == 5
    assert [(entry["points"], entry["rule"]) for entry in points["entries"]] == [(5, "resource.shared")]

    again = requests.post(stack.url("challenges", "/resources"), json=body, headers=bearer(unique("other")), timeout=10)
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    assert again.json()["existing_id"] == shared.json()["id"]
    stack.wait_for_empty_queue("leaderboards")
    assert points_of(stack, learner)["total"] == 5


def test_the_same_event_delivered_twice_by_rq_counts_once(stack: Stack) -> None:
    learner = unique("learner")
    event = resource_shared_event(learner)
    publisher = EventPublisher(RedisProvider(stack.env["REDIS_URL"]))
    stack.wait_for_jobs(publisher.publish([event]) + publisher.publish([event]))
    eventually(lambda: standing_of(stack, learner))
    assert points_of(stack, learner)["count"] == 1
    assert points_of(stack, learner)["total"] == 5
    assert standing_of(stack, learner)["points"] == 5  # type: ignore[index]


def test_a_worker_killed_between_ledger_and_board_loses_and_doubles_nothing(stack: Stack) -> None:
    crashing = stack.start_worker("leaderboards", CONNECTIVE_CRASH_AT="leaderboards.after_ledger_write")
    learner = unique("learner")
    assert share_resource(stack, learner).status_code == 201
    # The worker wrote the ledger and died before touching Redis.
    assert crashing.wait(timeout=30) == 137
    # The ledger holds the entry; what the learner reads of their points is kept with the boards, so it follows them.
    assert [entry["points"] for entry in ledger_in_mongodb(stack, [learner])] == [5]
    assert (points_of(stack, learner)["total"], points_of(stack, learner)["entries"]) == (0, [])
    assert standing_of(stack, learner) is None

    stack.start_worker("leaderboards")
    standing = eventually(lambda: standing_of(stack, learner))
    assert standing["points"] == 5
    # RQ retries the abandoned job later: the same event again changes nothing.
    (entry,) = points_of(stack, learner)["entries"]
    envelope = resource_shared_event(learner).to_dict()
    envelope["id"] = entry["event_id"]
    stack.wait_for_jobs(EventPublisher(RedisProvider(stack.env["REDIS_URL"])).publish([Event.from_dict(envelope)]))
    assert points_of(stack, learner)["total"] == 5
    assert standing_of(stack, learner)["points"] == 5  # type: ignore[index]


def test_an_api_killed_between_its_write_and_the_enqueue_still_delivers_the_event(stack: Stack) -> None:
    crashing_api = stack.start_api(
        "challenges", name="challenges-api-crashing", CONNECTIVE_CRASH_AT="outbox.before_publish"
    )
    learner = unique("learner")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{crashing_api}/resources", json=resource_body(), headers=bearer(learner, cohorts=("c1",)), timeout=10
        )
    stack.stop("challenges-api-crashing")
    # The resource and its event were one write; the challenges worker's relay sends the event.
    standing = eventually(lambda: standing_of(stack, learner))
    assert standing["points"] == 5
    stack.wait_for_empty_queue("leaderboards")
    assert points_of(stack, learner)["total"] == 5


def test_boards_survive_a_redis_restart(stack: Stack) -> None:
    learner = unique("learner")
    assert share_resource(stack, learner).status_code == 201
    eventually(lambda: standing_of(stack, learner))
    stack.wait_for_empty_queue("leaderboards")
    stack.redis().bgrewriteaof()
    stack.redis_server.restart()
    assert eventually(lambda: standing_of(stack, learner))["points"] == 5
    assert share_resource(stack, unique("after-restart")).status_code == 201


def test_the_request_id_follows_the_event_into_the_worker_log(stack: Stack) -> None:
    request_id = unique("trace")
    learner = unique("learner")
    response = share_resource(stack, learner, **{"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id
    eventually(lambda: standing_of(stack, learner))
    log = stack.processes["leaderboards-worker"].read_log()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    applied = [record for record in records if record.get("message") == "events_applied"]
    assert any(request_id in str(record.get("request_id")) for record in applied)
    api_records = [
        json.loads(line) for line in stack.processes["challenges-api"].read_log().splitlines() if line.startswith("{")
    ]
    assert any(record.get("request_id") == request_id and record.get("status") == 201 for record in api_records)


@pytest.mark.parametrize("service_name", ["challenges", "peer_review", "leaderboards"])
def test_docs_load_every_asset_from_the_service_itself(stack: Stack, service_name: str) -> None:
    page = requests.get(stack.url(service_name, "/docs"), timeout=10)
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert references, "the docs page references its assets"
    for reference in references:
        assert reference.startswith("/"), f"{reference} would leave the machine"
        assert requests.get(stack.url(service_name, reference), timeout=10).status_code == 200
    assert '"validatorUrl": null' in page.text
    spec = requests.get(stack.url(service_name, "/openapi.json"), timeout=10).json()
    assert spec["openapi"].startswith("3.")
    assert "/healthz" in spec["paths"]


@pytest.mark.parametrize("service_name", ["challenges", "peer_review", "leaderboards"])
def test_every_service_is_ready_and_exports_metrics(stack: Stack, service_name: str) -> None:
    ready = requests.get(stack.url(service_name, "/readyz"), timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"mongo": "ok", "redis": "ok"}
    metrics = requests.get(stack.url(service_name, "/metrics"), timeout=10)
    assert "connective_http_requests_total" in metrics.text
