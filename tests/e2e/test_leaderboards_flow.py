"""The leaderboards with every service as real processes: each point source on the ledger and its boards, a
batch of events surviving a worker killed at every crash point, and a rebuild that changes nothing.

The crash tests deliver one fixed batch of events (every rule, four learners) to the leaderboards queue.
Each run uses learner, cohort, challenge, tag and object names of its own, and new event ids, so runs never
meet; a snapshot read over the HTTP API (ledgers, badges, every board the batch touches, in every window)
is written with the run's names replaced by placeholders, so two runs compare equal exactly when they
awarded the same points to the same learners on the same boards. One uninterrupted run is the reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import redis
from rq import Retry
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from devstack.processes import REPO_ROOT
from services.leaderboards.domain.boards import window_periods
from shared.contracts.events import Event, EventType
from shared.queues import RESULT_TTL_SECONDS, RETRY_INTERVALS, make_queue
from shared.registry import service
from tests.e2e import conftest
from tests.e2e.conftest import Stack, get_json, ledger_in_mongodb, points_of
from tests.e2e.test_peer_review_flow import (
    RUBRIC,
    Learner,
    assignments_of,
    call,
    graded_at_challenges,
    open_challenge,
    pull,
    review,
    submit,
    teacher,
    verified_and_current,
)
from tests.factories import flag_body, resource_body, revision_body, token, unique

pytestmark = pytest.mark.e2e

T = TypeVar("T")

LEADERBOARDS = "leaderboards"
WINDOWS = ("all", "week", "month")
LOGGED = ("leaderboards-worker", "leaderboards-api", "peer_review-worker", "challenges-worker")
# Every crash point of a leaderboards batch, in the order a batch passes them. The first one fires before
# the inbox says whether a batch was seen; it comes first, before RQ could retry any abandoned job of this
# module (a retried batch, already processed, stops at the inbox, before every later point).
CRASH_POINTS = (
    "leaderboards.after_inbox_write",
    "leaderboards.after_ledger_write",
    "leaderboards.after_board_update",
    "leaderboards.after_badges_recorded",
    "leaderboards.before_inbox_processed",
)
# The batch's events happen at these moments for every run, so all runs fall in the same week and month,
# and ties on a board (broken by when a total was reached) break the same way.
MOMENT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------------------------
# Waiting, reading


def log_tails(stack: Stack) -> str:
    """Return the last lines of the logs that explain a failed wait here."""
    return conftest.log_tails(stack, LOGGED, 30)


def until(stack: Stack, observe: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 30.0) -> T:
    """Return the first observation that is done (see conftest.until), with this module's logs on failure."""
    return conftest.until(stack, observe, done, timeout=timeout, logs=LOGGED)


def reader() -> str:
    """Return a token of someone who only reads boards."""
    return token("board-reader")


def periods(stack: Stack) -> dict[str, str]:
    """Return the period of each window that MOMENT falls in, in the deployment's time zone (the all-time
    window has none)."""
    zone = ZoneInfo(get_json(stack.url("leaderboards", "/rules"), reader())["timezone"])
    return {window.value: period for window, period in window_periods(MOMENT, zone).items() if window != "all"}


def in_window(window: str, windows: dict[str, str]) -> dict[str, str]:
    """Return the query parameters that read a window in the period of MOMENT."""
    return {"window": window, **({"period": windows[window]} if window in windows else {})}


def board(stack: Stack, name: str, **window: str) -> dict[str, Any]:
    """Return the first 100 rows of a board (all time unless a window and period are given)."""
    page: dict[str, Any] = get_json(stack.url("leaderboards", f"/leaderboards/{name}"), reader(), limit=100, **window)
    assert page["total"] <= 100, f"{name} holds more learners than one page"
    return page


def badges_of(
    stack: Stack, user_id: str, written: Callable[[str], str] = str
) -> dict[str, list[tuple[int, int, list[str]]]]:
    """Return the badge tiers a learner earned: per badge, each tier with its threshold and evidence (as written)."""
    body = get_json(stack.url("leaderboards", f"/users/{user_id}/badges"), token(user_id))
    return {
        badge["name"]: [
            (tier["tier"], tier["threshold"], sorted(map(written, tier["evidence"]))) for tier in badge["earned"]
        ]
        for badge in body["badges"]
        if badge["earned"]
    }


def ledger_of(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    """Return a learner's ledger entries, each without the moment it was recorded (a run's own)."""
    entries = get_json(stack.url("leaderboards", f"/users/{user_id}/points"), token(user_id), limit=100)["entries"]
    return [{name: value for name, value in entry.items() if name != "created_at"} for entry in entries]


# ---------------------------------------------------------------------------------------------------------------
# Every point source, through the services' APIs


@dataclass(frozen=True)
class Expected:
    """An entry a learner should find on their ledger: its rule, points and boards."""

    rule: str
    points: int
    boards: tuple[str, ...]


def rounded(value: float) -> int:
    """Round as the rules do: half a point and above up."""
    return int(value + 0.5)


def a_submission_reviewed_graded_and_rated(stack: Stack) -> dict[str, list[Expected]]:
    """Have two peers review a learner's work through the APIs, and the author rate them; return what each earns.

    A challenge of 50 points with two reviewers, which sets its own points for a helpful review (7, not the
    rule's 5): the author is of cohort A, one reviewer of B (outside the author's cohorts), one of A. The
    author rates the first review very helpful and the second not.
    """
    tag = unique("photosynthesis")
    cohort_a, cohort_b = unique("ka"), unique("kb")
    teacher_id = unique("teacher")
    challenge_id = open_challenge(
        stack,
        teacher_id,
        tags=[tag],
        rubric=RUBRIC,
        points=50,
        rule_points={"review.helpful": 7},
        review={"reviewers_per_submission": 2, "due_hours": 48, "blind": True},
    )
    author = Learner(unique("author"), cohort_a)
    outsider, insider = Learner(unique("reviewer-b"), cohort_b), Learner(unique("reviewer-a"), cohort_a)
    submission_id = submit(stack, challenge_id, author)
    # Give-to-get: each later arrival is handed the author's submission (the first one short of reviewers).
    submit(stack, challenge_id, outsider)
    submit(stack, challenge_id, insider)
    scores = {outsider.user_id: {"Accuracy": 5, "Clarity": 5}, insider.user_id: {"Accuracy": 1, "Clarity": 5}}
    for reviewer in (outsider, insider):
        mine = until(
            stack,
            partial(assignments_of, stack, reviewer, challenge_id=challenge_id),
            lambda found: any(item["target_id"] == submission_id for item in found),
        )
        (assignment,) = [item for item in mine if item["target_id"] == submission_id]
        review(stack, reviewer, assignment["id"], scores=scores[reviewer.user_id])
    grade = graded_at_challenges(stack, author, submission_id)["grade"]["grade"]
    reviews_url = stack.url("peer_review", f"/targets/submission/{submission_id}/reviews")
    shown = {
        json.dumps(item["scores"], sort_keys=True): item["id"]
        for item in call("GET", reviews_url, author.headers, 200)["reviews"]
    }
    for reviewer, helpfulness in ((outsider, 5), (insider, 2)):
        review_id = shown[json.dumps(scores[reviewer.user_id], sort_keys=True)]
        call(
            "POST",
            stack.url("peer_review", f"/reviews/{review_id}/rating"),
            author.headers,
            201,
            json={"helpfulness": helpfulness},
        )
    staff = call("GET", reviews_url, teacher(teacher_id), 200)
    accuracy = {item["reviewer_id"]: item["accuracy"] for item in staff["reviews"]}
    # The consensus is the median of the two reviews (3 and 5 of 5, so 0.8), each review 0.8 accurate.
    assert (grade, accuracy) == (
        pytest.approx(0.8),
        {outsider.user_id: pytest.approx(0.8), insider.user_id: pytest.approx(0.8)},
    )

    of_challenge = (f"challenge:{challenge_id}", f"tag:{tag}")
    of_a, of_b = ("global", f"cohort:{cohort_a}", *of_challenge), ("global", f"cohort:{cohort_b}", *of_challenge)
    return {
        author.user_id: [Expected("submission.graded", rounded(50 * grade), of_a)],
        outsider.user_id: [
            Expected("review.submitted", 12, of_b),  # 10, x1.2 outside the author's cohorts
            Expected("review.accurate", rounded(5 * accuracy[outsider.user_id]), of_b),
            Expected("review.helpful", 7, of_b),  # the challenge's own points, carried by its events
        ],
        insider.user_id: [
            Expected("review.submitted", 10, of_a),
            Expected("review.accurate", rounded(5 * accuracy[insider.user_id]), of_a),
        ],
    }


def a_knowledge_update_verified_by_peers(stack: Stack) -> tuple[dict[str, list[Expected]], str]:
    """Share a resource, flag it outdated, update it, and have two peers verify the update from the queue.

    Return what each learner earns and the revision's id.
    """
    tag = unique("astronomy")
    cohort_k, cohort_l = unique("kk"), unique("kl")
    owner, proposer, flagger = (Learner(unique(name), cohort_k) for name in ("owner", "proposer", "flagger"))
    verifiers = [Learner(unique("verifier-k"), cohort_k), Learner(unique("verifier-l"), cohort_l)]
    shared = call("POST", stack.url("challenges", "/resources"), owner.headers, 201, json=resource_body(tags=[tag]))
    resource_id = shared["id"]
    call("POST", stack.url("challenges", f"/resources/{resource_id}/flags"), flagger.headers, 201, json=flag_body())
    proposal = revision_body()
    revisions_url = stack.url("challenges", f"/resources/{resource_id}/revisions")
    revision_id: str = call("POST", revisions_url, proposer.headers, 201, json=proposal)["id"]
    claims = []
    for verifier in verifiers:
        claimed = until(
            stack, partial(pull, stack, verifier, kind="revision"), lambda response: response.status_code != 204
        )
        assert claimed.status_code == 201, claimed.text
        assert claimed.json()["target_id"] == revision_id
        claims.append(claimed.json()["id"])
    first, second = verifiers
    review(stack, first, claims[0], verdict="approve")
    # The first verifier's review reaches the leaderboards (naming their cohort) before the decision does.
    until(stack, lambda: ledger_of(stack, first.user_id), lambda entries: len(entries) == 1)
    review(stack, second, claims[1], verdict="approve")
    verified_and_current(stack, resource_id, revision_id, proposal, verifiers)

    of_k, of_l = ("global", f"cohort:{cohort_k}", f"tag:{tag}"), ("global", f"cohort:{cohort_l}", f"tag:{tag}")
    return {
        owner.user_id: [Expected("resource.shared", 5, of_k)],
        proposer.user_id: [Expected("knowledge.updated", 20, of_k)],  # 15, +5 for a resource flagged outdated
        # Each verification is a review too; the verifiers' points land on their own cohorts' boards.
        first.user_id: [Expected("review.submitted", 10, of_k), Expected("revision.verified_correctly", 3, of_k)],
        second.user_id: [Expected("review.submitted", 12, of_l), Expected("revision.verified_correctly", 3, of_l)],
        flagger.user_id: [],
    }, revision_id


def ledger_and_balance(stack: Stack, user_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return a learner's ledger entries and balance."""
    return ledger_of(stack, user_id), points_of(stack, user_id)


def settled(count: int, total: int, seen: tuple[list[dict[str, Any]], dict[str, Any]]) -> bool:
    """Return whether a ledger holds `count` entries and a balance of `total` (or more: then it fails after)."""
    return len(seen[0]) >= count and seen[1]["total"] >= total


def test_every_point_source_lands_on_the_ledger_and_the_boards_its_rule_names(stack: Stack) -> None:
    expected = a_submission_reviewed_graded_and_rated(stack)
    updates, revision_id = a_knowledge_update_verified_by_peers(stack)
    expected.update(updates)

    boards: dict[str, dict[str, int]] = defaultdict(dict)
    entries_of: dict[str, list[dict[str, Any]]] = {}
    for user_id, wanted in expected.items():
        total = sum(entry.points for entry in wanted)
        entries, balance = until(
            stack, partial(ledger_and_balance, stack, user_id), partial(settled, len(wanted), total), timeout=45
        )
        found = sorted((entry["rule"], entry["points"], tuple(entry["boards"])) for entry in entries)
        assert found == sorted((entry.rule, entry.points, entry.boards) for entry in wanted), user_id
        assert (balance["total"], balance["count"]) == (total, len(wanted)), user_id
        for entry in entries:
            assert entry["key"] == f"{entry['event_id']}:{entry['rule']}:{user_id}"
            for name in entry["boards"]:
                boards[name][user_id] = boards[name].get(user_id, 0) + entry["points"]
        entries_of[user_id] = entries
    reasons = {
        entry["rule"]: entry["reason"] for entries in entries_of.values() for entry in entries if entry["points"] == 12
    }
    assert reasons == {"review.submitted": "Reviewed a peer's work (outside your cohorts)"}
    (updated,) = [entry for entries in entries_of.values() for entry in entries if entry["rule"] == "knowledge.updated"]
    assert updated["reason"] == "Your update of a resource was accepted (it had been flagged outdated)"
    assert updated["object_id"] == revision_id

    # Every board but the global one is the test's own: each holds exactly these learners with these points,
    # ranked by points. On the global board each learner has their balance.
    assert len(boards) == 1 + 4 + 3  # global, four cohorts, the challenge and two tags
    for name, standings in boards.items():
        if name == "global":
            members = get_json(
                stack.url("leaderboards", "/leaderboards/global/members"), reader(), user_id=sorted(standings), around=0
            )
            assert (members["missing"], {item["user_id"]: item["points"] for item in members["items"]}) == (
                [],
                standings,
            )
            continue
        rows = board(stack, name)["entries"]
        assert {row["user_id"]: row["points"] for row in rows} == standings, name
        assert [row["points"] for row in rows] == sorted(standings.values(), reverse=True), name

    # The badges the points earned: a first share, and an update of a resource flagged outdated.
    for rule, badge in (("resource.shared", "first-share"), ("knowledge.updated", "pluto")):
        ((user_id, entries),) = [
            (user, entries) for user, entries in entries_of.items() if any(e["rule"] == rule for e in entries)
        ]
        assert badges_of(stack, user_id) == {badge: [(1, 1, [entries[0]["key"]])]}


# ---------------------------------------------------------------------------------------------------------------
# One batch of events, crashed at every point


@dataclass(frozen=True)
class Batch:
    """A run's events, its learners and every board they touch besides the global one."""

    run: str
    events: tuple[Event, ...]
    learners: tuple[str, ...]
    boards: tuple[str, ...]

    def normalised(self, value: Any) -> Any:
        """Return the value with the run's names and event ids replaced by placeholders (run-free)."""
        if isinstance(value, str):
            for index, event in enumerate(self.events):
                value = value.replace(event.id, f"<event {index}>")
            return value.replace(self.run, "<run>")
        if isinstance(value, dict):
            return {self.normalised(key): self.normalised(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.normalised(item) for item in value]
        return value


def a_batch() -> Batch:
    """Return the batch with names no other run uses: four learners of two cohorts, every rule of the book."""
    run = uuid.uuid4().hex[:8]
    sharer, reviewer, author, updater = (f"lb{run}-{name}" for name in ("sharer", "reviewer", "author", "updater"))
    cohort_a, cohort_b = f"k{run}a", f"k{run}b"
    challenge_id, tag = f"ch{run}", f"t{run}"
    resource_id, submission_id = f"res{run}", f"sub{run}"
    reviewed = {"target_kind": "submission", "target_id": submission_id, "author_id": author}
    on_challenge = {"challenge_id": challenge_id, "tags": [tag]}
    reviews = [
        {"review_id": f"rv{run}1", "reviewer_id": reviewer, "accuracy": 0.8},
        {"review_id": f"rv{run}2", "reviewer_id": updater, "accuracy": 0.6},
    ]
    decided = {
        "resource_id": resource_id,
        "owner_id": sharer,
        "changed_fields": ["summary"],
        "base_version": 1,
        "decided_by": "peers",
        "tags": [tag],
        "challenge_id": None,
    }
    steps: list[tuple[EventType, str, str | None, dict[str, Any]]] = [
        (
            EventType.RESOURCE_SHARED,
            "challenges",
            sharer,
            {
                "resource_id": resource_id,
                "owner_id": sharer,
                "url": f"https://example.org/{run}",
                "canonical_url": f"https://example.org/{run}",
                "title": "A page",
                "tags": [tag],
                "cohorts": [cohort_a],
                "challenge_id": None,
            },
        ),
        (
            EventType.RESOURCE_ENDORSED,
            "challenges",
            reviewer,
            {
                "resource_id": resource_id,
                "owner_id": sharer,
                "endorser_id": reviewer,
                "tags": [tag],
                "cohorts": [cohort_b],
            },
        ),
        (
            EventType.REVIEW_SUBMITTED,
            "peer_review",
            None,
            {
                **reviewed,
                **on_challenge,
                "review_id": f"rv{run}1",
                "assignment_id": f"as{run}1",
                "reviewer_id": reviewer,
                "cohorts": [cohort_b],
                "late": False,
                "outside_cohorts": True,
                "author_cohorts": [cohort_a],
            },
        ),
        (
            EventType.REVIEW_SUBMITTED,
            "peer_review",
            None,
            {
                **reviewed,
                **on_challenge,
                "review_id": f"rv{run}2",
                "assignment_id": f"as{run}2",
                "reviewer_id": updater,
                "cohorts": [cohort_a],
                "late": True,
                "outside_cohorts": False,
                "author_cohorts": [cohort_a],
            },
        ),
        (
            EventType.REVIEW_RATED,
            "peer_review",
            None,
            {
                **reviewed,
                **on_challenge,
                "review_id": f"rv{run}1",
                "assignment_id": f"as{run}1",
                "reviewer_id": reviewer,
                "cohorts": [cohort_b],
                "helpfulness": 5,
            },
        ),
        (
            EventType.REVIEW_RATED,
            "peer_review",
            None,
            {
                **reviewed,
                **on_challenge,
                "review_id": f"rv{run}2",
                "assignment_id": f"as{run}2",
                "reviewer_id": updater,
                "cohorts": [cohort_a],
                "helpfulness": 3,
            },
        ),
        (
            EventType.TARGET_GRADED,
            "peer_review",
            None,
            {**reviewed, **on_challenge, "grade": 0.7, "points": 50, "cohorts": [cohort_a], "reviews": reviews},
        ),
        # A teacher's override replaces the grade's points (a reversal and a new award); reviews earn nothing.
        (
            EventType.TARGET_GRADED,
            "peer_review",
            None,
            {
                **reviewed,
                **on_challenge,
                "grade": 0.9,
                "points": 50,
                "cohorts": [cohort_a],
                "reviews": reviews,
                "overridden": True,
            },
        ),
        (
            EventType.RESOURCE_REVISION_ACCEPTED,
            "challenges",
            None,
            {
                **decided,
                "revision_id": f"rev{run}1",
                "proposer_id": updater,
                "flagged_outdated": True,
                "version": 2,
                "verifier_ids": [sharer, reviewer],
                "cohorts": [cohort_a],
            },
        ),
        (
            EventType.RESOURCE_REVISION_REJECTED,
            "challenges",
            None,
            {
                **decided,
                "revision_id": f"rev{run}2",
                "proposer_id": author,
                "flagged_outdated": False,
                "verifier_ids": [updater],
                "cohorts": [cohort_a],
            },
        ),
        # The reviewer's own work, graded in full: 50 points take them to level 2.
        (
            EventType.TARGET_GRADED,
            "peer_review",
            None,
            {
                **reviewed,
                **on_challenge,
                "target_id": f"sub{run}b",
                "author_id": reviewer,
                "grade": 1.0,
                "points": 50,
                "cohorts": [cohort_b],
            },
        ),
    ]
    events = tuple(
        Event(type=kind, producer=producer, actor_id=actor, data=data, occurred_at=MOMENT + timedelta(seconds=index))
        for index, (kind, producer, actor, data) in enumerate(steps)
    )
    boards = (f"cohort:{cohort_a}", f"cohort:{cohort_b}", f"challenge:{challenge_id}", f"tag:{tag}")
    return Batch(run, events, (sharer, reviewer, author, updater), boards)


# What the batch earns, by the rules file: worked out by hand, to know the reference run is right.
EXPECTED_TOTALS = {
    "sharer": 5 + 2 + 3,  # shared, endorsed, verified an accepted update
    # Reviewed outside their cohorts, rated helpful, accuracy 0.8, verified, their own work graded in full.
    "reviewer": 12 + 5 + 4 + 3 + 50,
    "author": 35 - 35 + 45,  # graded 0.7 of 50, then overridden to 0.9
    "updater": 5 + 3 + 20 + 3,  # a late review, accuracy 0.6, an update of a resource flagged outdated, a rejection
}
EXPECTED_BADGES = {"sharer": {"first-share"}, "updater": {"pluto"}}


def deliver(stack: Stack, batch: Batch) -> list[str]:
    """Enqueue the batch as one job on the leaderboards queue only, as EventPublisher does; return the job's id.

    (Some of its events have other consumers too, which must not see these made-up targets and revisions.)
    """
    queue = make_queue(LEADERBOARDS, stack.redis())
    envelopes = [event.to_dict() for event in batch.events]
    job = queue.enqueue_call(
        service(LEADERBOARDS).consumer_entrypoint,
        args=(envelopes,),
        timeout=30,
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        result_ttl=RESULT_TTL_SECONDS,
        meta={"event_ids": [envelope["id"] for envelope in envelopes]},
    )
    return [job.id]


def snapshot(stack: Stack, batch: Batch) -> dict[str, Any]:
    """Read what the batch awarded over the API, run-free: ledgers, balances, badges, boards in every window."""
    windows = periods(stack)
    ledgers = {}
    for user_id in batch.learners:
        balance = points_of(stack, user_id)
        ledgers[user_id] = {
            "balance": {key: balance[key] for key in ("total", "count", "level")},
            # In an order of their own, once written run-free (keys hold the run's event ids).
            "entries": sorted(batch.normalised(ledger_of(stack, user_id)), key=json.dumps),
        }
    badges = {user_id: badges_of(stack, user_id, batch.normalised) for user_id in batch.learners}
    boards: dict[str, Any] = {}
    for window in WINDOWS:
        for name in batch.boards:
            page = board(stack, name, **in_window(window, windows))
            boards[f"{name} {window}"] = (
                page["total"],
                [(row["rank"], row["user_id"], row["points"]) for row in page["entries"]],
            )
        members = get_json(
            stack.url("leaderboards", "/leaderboards/global/members"),
            reader(),
            user_id=list(batch.learners),
            around=0,
            **in_window(window, windows),
        )
        boards[f"global {window}"] = (
            sorted((item["user_id"], item["points"]) for item in members["items"]),
            sorted(members["missing"]),
        )
    normalised: dict[str, Any] = batch.normalised({"ledgers": ledgers, "badges": badges, "boards": boards})
    return normalised


def without_badges(seen: dict[str, Any]) -> dict[str, Any]:
    """Return a snapshot without its badges (awarded last of a batch)."""
    return {part: value for part, value in seen.items() if part != "badges"}


def nothing_of(seen: dict[str, Any]) -> bool:
    """Return whether a snapshot shows no points at all: an empty ledger and no board."""
    # A board page is (total, rows); the global board's members are (on it, missing).
    return (
        all(not ledger["entries"] and ledger["balance"]["count"] == 0 for ledger in seen["ledgers"].values())
        and all(not badges for badges in seen["badges"].values())
        and all(not part[0] for part in seen["boards"].values())
    )


def repairs_logged(stack: Stack, since: int) -> int:
    """Return how many entries the leaderboards worker's repair sweeps put on the boards after log offset `since`."""
    records = [
        json.loads(line)
        for line in stack.processes["leaderboards-worker"].read_log()[since:].splitlines()
        if line.startswith("{")
    ]
    return sum(
        int(record.get("result") or 0)
        for record in records
        if record.get("message") == "housekeeping_done" and record.get("task") == "board_repair"
    )


@pytest.fixture(scope="module")
def reference(stack: Stack) -> Iterator[dict[str, Any]]:
    """Deliver the batch once to the running worker, uninterrupted; return what it awarded."""
    batch = a_batch()
    stack.wait_for_jobs(deliver(stack, batch))
    seen = snapshot(stack, batch)
    roles = {batch.normalised(user_id): user_id.rsplit("-", 1)[1] for user_id in batch.learners}
    totals = {roles[user]: ledger["balance"]["total"] for user, ledger in seen["ledgers"].items()}
    assert totals == EXPECTED_TOTALS, seen["ledgers"]
    assert sum(ledger["balance"]["count"] for ledger in seen["ledgers"].values()) == 15
    assert {roles[user]: ledger["balance"]["level"] for user, ledger in seen["ledgers"].items()} == {
        "sharer": 1,
        "reviewer": 2,
        "author": 1,
        "updater": 1,
    }
    assert {roles[user]: set(badges) for user, badges in seen["badges"].items() if badges} == EXPECTED_BADGES
    yield seen


def test_a_batch_delivered_twice_counts_once(stack: Stack, reference: dict[str, Any]) -> None:
    batch = a_batch()
    stack.wait_for_jobs(deliver(stack, batch) + deliver(stack, batch))
    assert snapshot(stack, batch) == reference


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_worker_killed_at_a_crash_point_ends_exactly_where_an_uninterrupted_run_does(
    stack: Stack, reference: dict[str, Any], crash_at: str
) -> None:
    batch = a_batch()
    # The armed worker must take this batch first: nothing else waits, and every earlier entry is applied.
    stack.wait_for_empty_queue("leaderboards")
    crashing = stack.start_worker("leaderboards", CONNECTIVE_CRASH_AT=crash_at)
    (job_id,) = deliver(stack, batch)
    try:
        assert crashing.wait(timeout=30) == 137
    except (AssertionError, subprocess.TimeoutExpired):
        raise AssertionError(f"the worker did not die at {crash_at}\n{log_tails(stack)}") from None
    job = Job.fetch(job_id, connection=stack.redis(), serializer=JSONSerializer)
    assert job.get_status() == JobStatus.STARTED, "the worker died on this batch"

    crashed = snapshot(stack, batch)
    if crash_at == "leaderboards.after_inbox_write":
        assert nothing_of(crashed), crashed
    elif crash_at == "leaderboards.after_ledger_write":
        # The ledger holds every entry, but the boards and what learners read of their points (the balance
        # and newest entries kept with the boards) hold none yet.
        assert nothing_of(crashed), crashed
        expected = sum(ledger["balance"]["count"] for ledger in reference["ledgers"].values())
        assert len(ledger_in_mongodb(stack, batch.learners)) == expected
    elif crash_at == "leaderboards.after_board_update":
        assert without_badges(crashed) == without_badges(reference)
    else:
        assert crashed == reference

    since = len(stack.processes["leaderboards-worker"].read_log())
    stack.start_worker("leaderboards")
    if crash_at in ("leaderboards.after_ledger_write", "leaderboards.after_board_update"):
        # The restarted worker's repair sweep finds the batch left pending (once the dead worker's lock has
        # expired) and finishes it on its own: boards, balances and badges, nothing counted twice.
        entries = sum(ledger["balance"]["count"] for ledger in reference["ledgers"].values())
        until(stack, lambda: repairs_logged(stack, since), lambda repaired: repaired >= entries, timeout=45)
        assert repairs_logged(stack, since) == entries
        assert snapshot(stack, batch) == reference
    # RQ retries the abandoned job in a minute or two: deliver the same batch again as that retry would.
    stack.wait_for_jobs(deliver(stack, batch), timeout=45)
    assert snapshot(stack, batch) == reference


# ---------------------------------------------------------------------------------------------------------------
# Rebuilding from the ledger


def text(value: bytes | str) -> str:
    """Return a Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value


def redis_boards(connection: redis.Redis) -> dict[str, Any]:
    """Return the boards' whole state in Redis: every board's scores, balances, levels and entry markers."""
    state: dict[str, Any] = {}
    markers: list[str] = []
    for raw in connection.scan_iter(match="lb:*", count=1000):
        key = text(raw)
        # Announcement markers and the writer lock are no part of the boards; rendered pages are a cache of them;
        # processed-event markers only save work (an event seen again without one finds its entries recorded);
        # board versions only tell rendered pages from stale ones, and only ever grow.
        if key.startswith(("lb:published:", "lb:writer", "lb:page:", "lb:processed:", "lb:v:")):
            continue
        if key.startswith("lb:applied:"):
            markers.append(key)
            continue
        kind = text(connection.type(raw))
        if kind == "zset":
            state[key] = connection.zrange(raw, 0, -1, withscores=True)
        elif kind == "hash":
            state[key] = dict(sorted(connection.hgetall(raw).items()))
        elif kind == "list":
            state[key] = connection.lrange(raw, 0, -1)
        else:
            state[key] = (kind, connection.dump(raw))
    state["markers"] = sorted(markers)
    return state


def all_time_boards(stack: Stack, state: dict[str, Any]) -> dict[str, Any]:
    """Return every all-time board as the API shows it."""
    names = sorted(key.removeprefix("lb:").removesuffix(":all") for key in state if key.endswith(":all"))
    return {name: board(stack, name)["entries"] for name in names}


def rebuild(stack: Stack) -> str:
    """Run `connective leaderboards rebuild` with the stack's environment; return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "leaderboards", "rebuild"],
        env=stack.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_rebuild_from_the_ledger_leaves_every_board_exactly_as_it_was(
    stack: Stack, reference: dict[str, Any]
) -> None:
    # After the tests above (or on its own, after the reference batch at least): boards of many learners.
    stack.wait_for_empty_queue("leaderboards")
    connection = stack.redis()
    before = redis_boards(connection)
    assert any(key.endswith(":week:" + periods(stack)["week"]) for key in before)
    assert b"2" in before["lb:levels"].values(), "some learners reached level 2"
    entries = sum(int(count) for count in before["lb:entries"].values())
    shown = all_time_boards(stack, before)
    assert len(shown) >= 5, "the global board and the reference batch's four at least"
    stream_length = connection.xlen("events:leaderboards")

    # Every key of the boards is gone (the stream and its published markers stay); the ledger puts them back.
    connection.delete(*(key for key in connection.scan_iter(match="lb:*") if not key.startswith(b"lb:published:")))
    assert board(stack, "global")["total"] == 0
    assert f"Rebuilt the boards from {entries} ledger entries" in rebuild(stack)
    # The same scores (points and when each total was reached) on every board and window, the same balances,
    # levels and entry markers; the same pages over the API; and nothing announced again. (Levels too: entries
    # go back in the order they were recorded, so a grade's reversal comes before the award replacing it, and
    # an author at 45 points is not marked as having reached level 2 on the way.)
    assert redis_boards(connection) == before
    assert all_time_boards(stack, before) == shown
    assert connection.xlen("events:leaderboards") == stream_length
