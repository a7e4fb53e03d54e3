"""Crash points no other test arms: each kills a real process at its line, and the points still count once.

These run on a stack of their own: a worker killed mid-job in another module leaves an abandoned job that RQ
retries later, and that retry must not be the job a crash point here fires on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.contracts.events import Event
from shared.queues import EventPublisher
from shared.redisconn import RedisProvider
from tests.e2e.conftest import Stack, eventually, points_of, share_resource, standing_of
from tests.factories import resource_shared_event, unique

pytestmark = pytest.mark.e2e


def assert_five_points_once(stack: Stack, learner: str) -> None:
    """Assert the learner has one ledger entry of 5 points and 5 points on the global and cohort boards."""
    ledger = points_of(stack, learner)
    assert (ledger["count"], ledger["total"]) == (1, 5)
    assert [entry["points"] for entry in ledger["entries"]] == [5]
    for board in ("global", "cohort:c1"):
        assert (standing_of(stack, learner, board) or {}).get("points") == 5, board


def test_an_api_killed_between_the_enqueue_and_clearing_its_outbox_has_the_event_counted_once(stack: Stack) -> None:
    crashing_api = stack.start_api(
        "challenges", name="challenges-api-crashing", CONNECTIVE_CRASH_AT="outbox.after_publish"
    )
    learner = unique("learner")
    with pytest.raises(requests.ConnectionError):
        share_resource(stack, learner, base_url=crashing_api)
    stack.stop("challenges-api-crashing")

    # The event reached the queue before the process died, so the points arrive from that first delivery.
    eventually(lambda: standing_of(stack, learner))
    (entry,) = points_of(stack, learner)["entries"]
    # It also stayed in the resource's outbox, so the challenges worker's relay sends it a second time.
    eventually(lambda: len(stack.finished_jobs_carrying("leaderboards", entry["event_id"])) >= 2)
    assert_five_points_once(stack, learner)


def test_a_worker_killed_between_the_boards_and_closing_its_batch_doubles_nothing(stack: Stack) -> None:
    stack.wait_for_empty_queue("leaderboards")
    crashing = stack.start_worker("leaderboards", CONNECTIVE_CRASH_AT="leaderboards.after_board_update")
    learner = unique("learner")
    assert share_resource(stack, learner).status_code == 201
    # The worker wrote the ledger and the boards, then died before closing its pending batch.
    assert crashing.wait(timeout=30) == 137
    assert_five_points_once(stack, learner)
    (entry,) = points_of(stack, learner)["entries"]

    # A starting worker finishes the pending batches older than the repair grace before it takes a job;
    # once ours is past the grace, the sweep of the worker started next finds its entry on the boards.
    grace = timedelta(seconds=float(stack.env["REPAIR_INTERVAL_SECONDS"]))
    recorded = datetime.fromisoformat(entry["created_at"])
    eventually(lambda: datetime.now(UTC) > recorded + grace, timeout=grace.total_seconds() + 30)
    stack.start_worker("leaderboards")
    # RQ retries the abandoned job too: the same event, delivered again and handled after the sweep, adds nothing.
    envelope = resource_shared_event(learner).to_dict()
    envelope["id"] = entry["event_id"]
    stack.wait_for_jobs(EventPublisher(RedisProvider(stack.env["REDIS_URL"])).publish([Event.from_dict(envelope)]))
    assert_five_points_once(stack, learner)
