"""The challenges service with its worker as real processes: closing at ends_at, grades and reviewers arriving."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from shared.contracts.events import Event, EventType
from shared.queues import EventPublisher
from shared.redisconn import RedisProvider
from tests.e2e.conftest import Stack, eventually, get_json
from tests.factories import bearer, challenge_body, resource_body, token, unique

pytestmark = pytest.mark.e2e


def _challenge(stack: Stack, teacher: dict[str, str], **overrides: Any) -> str:
    created = requests.post(
        stack.url("challenges", "/challenges"), json=challenge_body(**overrides), headers=teacher, timeout=10
    )
    assert created.status_code == 201, created.text
    challenge_id: str = created.json()["id"]
    published = requests.post(
        stack.url("challenges", f"/challenges/{challenge_id}/publish"), headers=teacher, timeout=10
    )
    assert published.status_code == 200, published.text
    return challenge_id


def _submit(stack: Stack, challenge_id: str, learner: dict[str, str]) -> requests.Response:
    return requests.post(
        stack.url("challenges", f"/challenges/{challenge_id}/submissions"),
        json={"content": "Plants make sugar from light.", "links": []},
        headers=learner,
        timeout=10,
    )


def _publish(stack: Stack, event: Event) -> None:
    stack.wait_for_jobs(EventPublisher(RedisProvider(stack.env["REDIS_URL"])).publish([event]))


def _end_soon(stack: Stack, challenge_id: str, teacher: dict[str, str]) -> datetime:
    """Move the challenge's end a moment ahead and return it, allowing more time whenever the edit came too late."""
    for seconds in (2, 4, 8, 16, 32, 64):
        ends_at = datetime.now(UTC) + timedelta(seconds=seconds)
        moved = requests.patch(
            stack.url("challenges", f"/challenges/{challenge_id}"),
            json={"ends_at": ends_at.isoformat()},
            headers=teacher,
            timeout=10,
        )
        if moved.status_code == 200:
            return ends_at
        # 422 says the new end had already passed when the request arrived: try again with a later one.
        assert moved.status_code == 422, moved.text
    raise AssertionError("no edit arrived within 64 s of being sent")


def test_the_worker_closes_a_challenge_at_its_end_and_submissions_stop(stack: Stack) -> None:
    teacher_id = unique("teacher")
    teacher = bearer(teacher_id, "teacher")
    challenge_id = _challenge(stack, teacher)
    learner_id = unique("learner")
    submitted = _submit(stack, challenge_id, bearer(learner_id, "learner"))
    assert submitted.status_code == 201

    ends_at = _end_soon(stack, challenge_id, teacher)
    challenge_url = stack.url("challenges", f"/challenges/{challenge_id}")

    def closed_by_the_worker() -> dict[str, Any] | None:
        challenge: dict[str, Any] = get_json(challenge_url, token(teacher_id, "teacher"))
        # Past its end a challenge reads as closed at once; only the worker's close saves it again, after the end.
        # Both times are compared as stored (to the millisecond), as the worker compared them.
        saved_after_the_end = datetime.fromisoformat(challenge["updated_at"]) >= datetime.fromisoformat(
            challenge["ends_at"]
        )
        return challenge if challenge["status"] == "closed" and saved_after_the_end else None

    closed = eventually(closed_by_the_worker, timeout=(ends_at - datetime.now(UTC)).total_seconds() + 30)
    assert datetime.fromisoformat(closed["closed_at"]) == datetime.fromisoformat(closed["ends_at"])
    assert closed["open"] is False
    late = _submit(stack, challenge_id, bearer(unique("late"), "learner"))
    assert late.status_code == 409
    assert late.headers["Content-Type"].startswith("application/problem+json")
    kept = get_json(stack.url("challenges", f"/submissions/{submitted.json()['id']}"), token(learner_id, "learner"))
    assert kept["challenge_id"] == challenge_id


def test_a_grade_and_a_reviewer_arrive_through_the_challenges_worker(stack: Stack) -> None:
    teacher_id = unique("teacher")
    challenge_id = _challenge(stack, bearer(teacher_id, "teacher"))
    author_id = unique("author")
    submitted = _submit(stack, challenge_id, bearer(author_id, "learner"))
    assert submitted.status_code == 201
    submission_id = submitted.json()["id"]
    reviewer_id = unique("reviewer")
    submission_url = stack.url("challenges", f"/submissions/{submission_id}")
    assert requests.get(submission_url, headers=bearer(reviewer_id, "learner"), timeout=10).status_code == 404

    assigned = Event(
        type=EventType.REVIEW_ASSIGNED,
        producer="peer_review",
        actor_id=None,
        data={
            "assignment_id": uuid.uuid4().hex[:24],
            "target_kind": "submission",
            "target_id": submission_id,
            "reviewer_id": reviewer_id,
            "challenge_id": challenge_id,
        },
    )
    _publish(stack, assigned)
    seen = get_json(submission_url, token(reviewer_id, "learner"))
    assert seen["author_id"] is None  # the challenge's review is blind by default

    graded = Event(
        type=EventType.TARGET_GRADED,
        producer="peer_review",
        actor_id=None,
        data={
            "target_kind": "submission",
            "target_id": submission_id,
            "author_id": author_id,
            "challenge_id": challenge_id,
            "grade": 0.8,
            "scores": {"Accuracy": 4},
            "feedback": "Clear, with one source missing.",
            "review_count": 3,
        },
    )
    _publish(stack, graded)
    _publish(stack, graded)  # delivered twice: the same grade, stored once
    mine = get_json(submission_url, token(author_id, "learner"))
    assert mine["status"] == "graded"
    assert mine["grade"]["grade"] == 0.8
    assert mine["grade"]["feedback"] == "Clear, with one source missing."


def test_an_accept_killed_between_its_two_writes_is_finished_by_the_retry(stack: Stack) -> None:
    owner_id = unique("owner")
    owner = bearer(owner_id, "learner")
    proposer = bearer(unique("proposer"), "learner")
    shared = requests.post(stack.url("challenges", "/resources"), json=resource_body(), headers=owner, timeout=10)
    assert shared.status_code == 201
    resource_id = shared.json()["id"]
    proposed = requests.post(
        stack.url("challenges", f"/resources/{resource_id}/revisions"),
        json={"summary": "Pluto has been a dwarf planet since 2006.", "note": "IAU resolution B5"},
        headers=proposer,
        timeout=10,
    )
    assert proposed.status_code == 201
    revision_id = proposed.json()["id"]
    decision_path = f"/resources/{resource_id}/revisions/{revision_id}/decision"

    crashing = stack.start_api(
        "challenges", name="challenges-api-crashing", CONNECTIVE_CRASH_AT="revisions.decide.after_resource_write"
    )
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{crashing}{decision_path}", json={"decision": "accept"}, headers=owner, timeout=10)
    stack.stop("challenges-api-crashing")

    # The resource took the revision in (with its event in the same write); the revision is still pending.
    resource_url = stack.url("challenges", f"/resources/{resource_id}")
    assert get_json(resource_url, token(unique("reader")))["version"] == 2
    revision = get_json(f"{resource_url}/revisions/{revision_id}", token(owner_id))
    assert (revision["status"], revision["version"]) == ("pending", None)

    # The retry finds the resource already at the revision and finishes the accept.
    retried = requests.post(
        stack.url("challenges", decision_path), json={"decision": "accept"}, headers=owner, timeout=10
    )
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["version"]) == ("accepted", 2)
    current = get_json(stack.url("challenges", f"/resources/{resource_id}"), token(unique("reader")))
    assert (current["version"], current["summary"]) == (2, "Pluto has been a dwarf planet since 2006.")
