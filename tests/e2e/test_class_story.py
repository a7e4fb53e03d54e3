"""A class played from start to finish over HTTP only, through the gateway where nginx is installed.

The services run as real processes (gunicorn APIs and RQ workers, as `make run` starts them). A teacher
publishes a submission challenge for two cohorts and a knowledge challenge open to all; six learners
share resources (one of them a page shared already), submit, are handed work to review as they arrive
and pull more from the queue, review on time and (one of them) late, and rate the reviews they got; the
consensus grades reach the submissions. A learner flags a resource outdated ("Pluto is a planet"),
another proposes a revision, two peers verify it from the queue, and it becomes the current version with
the flag resolved.

At the end every learner's total is the sum of their ledger entries, every entry is traced to a row of
`GET /rules` (its points worked out again from that row), every board (global, both cohorts, both
challenges, both tags; all time and this week) holds exactly what the ledger says, before and after
`connective leaderboards rebuild`, and the badges the story earns are there.
"""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from devstack.gateway import find_nginx, local_gateway_config, nginx_command
from devstack.servers import free_port
from devstack.topology import SERVICES
from services.leaderboards.domain.boards import Window, window_periods
from tests.e2e.conftest import Stack, get_json
from tests.e2e.test_leaderboards_flow import badges_of, reader, rebuild, rounded
from tests.e2e.test_peer_review_flow import (
    RUBRIC,
    Learner,
    assignments_of,
    call,
    graded_at_challenges,
    open_challenge,
    pull,
    teacher,
    until,
    verified_and_current,
)
from tests.factories import flag_body, resource_body, revision_body, submission_body, token, unique

pytestmark = pytest.mark.e2e

COMMENT = "Clear, and the sources are good; say where the oxygen goes."
LATE_BY_SECONDS = 2 * 3600  # past the challenge's one-hour review window
# The gateway's access logs, when the story runs through one.
GATEWAY_LOGS: list[Path] = []


@pytest.fixture(scope="module")
def story(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Return the stack as a front-end sees it: through the gateway (compose's config) where nginx is installed."""
    nginx = find_nginx()
    if nginx is None:
        yield stack
        return
    port = free_port()
    upstreams = {spec.name: int(stack.urls[spec.name].rsplit(":", 1)[1]) for spec in SERVICES}
    wrapper = local_gateway_config(tmp_path_factory.mktemp("gateway"), port, upstreams)
    GATEWAY_LOGS.append(wrapper.parent / "access.log")
    process = subprocess.Popen(nginx_command(nginx, wrapper), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        gateway = f"http://127.0.0.1:{port}"
        yield replace(stack, urls={name: gateway for name in stack.urls})
    finally:
        process.terminate()
        process.wait(timeout=10)


def rules_of(stack: Stack) -> dict[str, Any]:
    rules: dict[str, Any] = get_json(stack.url("leaderboards", "/rules"), reader())
    return rules


def points_of(stack: Stack, learner: Learner) -> dict[str, Any]:
    body: dict[str, Any] = get_json(
        stack.url("leaderboards", f"/users/{learner.user_id}/points"), token(learner.user_id), limit=100
    )
    return body


def page_of(stack: Stack, board: str, window: str) -> dict[str, int]:
    page = get_json(stack.url("leaderboards", f"/leaderboards/{board}"), reader(), limit=100, window=window)
    assert page["total"] <= 100
    return {row["user_id"]: row["points"] for row in page["entries"]}


def expected_points(entry: dict[str, Any], row: dict[str, Any], scaled: dict[str, float]) -> int:
    """Work an entry's points out again from its row of GET /rules and the notes its reason gives."""
    if row.get("points_from"):
        base = float(scaled[entry["key"]])
    else:
        base = float(row["points"])
        if row.get("scale"):
            base *= scaled[entry["key"]]
    notes = entry["reason"].rsplit(" (", 1)[1].rstrip(")").split("; ") if entry["reason"].endswith(")") else []
    for adjustment in row.get("adjustments") or ():
        if adjustment.get("note") in notes:
            base = base * (adjustment.get("factor") or 1) + (adjustment.get("points") or 0)
    return rounded(round(base, 6))


@dataclass
class Class:
    """The story's people, challenges and what happened, filled in as it is played."""

    stack: Stack
    run: str = field(default_factory=lambda: unique("story"))
    submission_of: dict[str, str] = field(default_factory=dict)
    grades: dict[str, float] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)
    late_review: dict[str, Any] = field(default_factory=dict)
    verifiers: list[Learner] = field(default_factory=list)
    submissions_challenge: str = ""
    knowledge_challenge: str = ""

    def __post_init__(self) -> None:
        self.cohort_a, self.cohort_b = f"{self.run}-a", f"{self.run}-b"
        self.bio, self.astro = f"{self.run}-biology", f"{self.run}-astronomy"
        self.teacher_id = f"{self.run}-teacher"
        self.a1, self.a2, self.a3 = (Learner(f"{self.run}-a{index}", self.cohort_a) for index in (1, 2, 3))
        self.b1, self.b2, self.b3 = (Learner(f"{self.run}-b{index}", self.cohort_b) for index in (1, 2, 3))
        self.everyone = [self.a1, self.b1, self.a2, self.b2, self.a3, self.b3]

    def url(self, service_name: str, path: str) -> str:
        return self.stack.url(service_name, path)

    def assigned(self, learner: Learner) -> list[dict[str, Any]]:
        return assignments_of(self.stack, learner, challenge_id=self.submissions_challenge, status="assigned")

    @property
    def boards(self) -> set[str]:
        return {
            "global",
            f"cohort:{self.cohort_a}",
            f"cohort:{self.cohort_b}",
            f"challenge:{self.submissions_challenge}",
            f"challenge:{self.knowledge_challenge}",
            f"tag:{self.bio}",
            f"tag:{self.astro}",
        }


def a_teacher_publishes_two_challenges(story: Class) -> None:
    """A submission challenge for both cohorts (a one-hour review window) and a knowledge challenge for all."""
    story.submissions_challenge = open_challenge(
        story.stack,
        story.teacher_id,
        cohorts=[story.cohort_a, story.cohort_b],
        tags=[story.bio],
        rubric=RUBRIC,
        points=50,
        review={"reviewers_per_submission": 2, "due_hours": 1, "blind": True},
    )
    story.knowledge_challenge = open_challenge(
        story.stack, story.teacher_id, kind="knowledge", cohorts=[], tags=[story.astro], rubric=[]
    )


def learners_share_resources(story: Class) -> None:
    """Three learners share resources; a page shared already (another spelling of its URL) is refused."""
    for learner, title, tags, challenge in (
        (story.a1, "Pluto is a planet", [story.astro], story.knowledge_challenge),
        (story.b1, "The Kuiper belt", [story.astro], story.knowledge_challenge),
        (story.a2, "How leaves make sugar", [story.bio], None),
    ):
        body = resource_body(title=title, tags=tags, **({"challenge_id": challenge} if challenge else {}))
        story.shared[learner.user_id] = call(
            "POST", story.url("challenges", "/resources"), learner.headers, 201, json=body
        )
    pluto = story.shared[story.a1.user_id]
    again = requests.post(
        story.url("challenges", "/resources"),
        json=resource_body(url=pluto["url"].replace("https://", "http://www.") + "?utm_source=class", title="again"),
        headers=story.b2.headers,
        timeout=10,
    )
    assert (again.status_code, again.json()["existing_id"]) == (409, pluto["id"])


def everyone_submits_and_is_handed_work(story: Class) -> None:
    """Each arrival is handed earlier work (give-to-get); two learners pull more; closing hands out the rest."""
    for learner in story.everyone:
        url = story.url("challenges", f"/challenges/{story.submissions_challenge}/submissions")
        body = submission_body(content=f"Leaves turn light into sugar, as {learner.user_id} explains.")
        story.submission_of[learner.user_id] = call("POST", url, learner.headers, 201, json=body)["id"]
    allocations = story.url("peer_review", "/allocations")
    query = {"challenge_id": story.submissions_challenge, "limit": 100}
    until(
        story.stack,
        lambda: call("GET", allocations, teacher(story.teacher_id), 200, params=query)["items"],
        lambda items: len(items) == len(story.everyone),
    )
    # The last to arrive are short of reviewers: learners pull them from the queue.
    pulled = [pull(story.stack, learner, challenge_id=story.submissions_challenge) for learner in (story.a1, story.b1)]
    assert any(response.status_code == 201 for response in pulled), [response.text for response in pulled]
    assert all(response.json()["mode"] == "pull" for response in pulled if response.status_code == 201)
    call(
        "POST",
        story.url("challenges", f"/challenges/{story.submissions_challenge}/close"),
        teacher(story.teacher_id),
        200,
    )
    until(
        story.stack,
        lambda: sum(len(story.assigned(learner)) for learner in story.everyone),
        lambda count: count == 2 * len(story.everyone),
    )


def everyone_reviews_one_of_them_late(story: Class, stack: Stack) -> None:
    """Every assignment is reviewed; one review goes to a peer-review API whose clock is two hours on."""
    # The variable is shared.clock.CLOCK_OFFSET_VARIABLE, named here as a keyword.
    later = stack.start_api(
        "peer_review", name="peer-review-api-later", CONNECTIVE_CLOCK_OFFSET_SECONDS=str(LATE_BY_SECONDS)
    )
    try:
        for index, learner in enumerate(story.everyone):
            for assignment in story.assigned(learner):
                base = later if not story.late_review and learner is story.b2 else story.url("peer_review", "")
                body = {"scores": {"Accuracy": 3 + (index % 3), "Clarity": 4}, "comment": COMMENT}
                stored = call("POST", f"{base}/assignments/{assignment['id']}/review", learner.headers, 201, json=body)
                if base == later:
                    story.late_review = stored
    finally:
        stack.stop("peer-review-api-later")
    assert story.late_review["late"] is True


def grades_reach_the_submissions_and_authors_rate_their_reviews(story: Class) -> None:
    """Each submission is graded by the consensus; its author rates one review helpful (5) and one not (2)."""
    for learner in story.everyone:
        submission = story.submission_of[learner.user_id]
        story.grades[learner.user_id] = graded_at_challenges(story.stack, learner, submission)["grade"]["grade"]
        reviews = call(
            "GET", story.url("peer_review", f"/targets/submission/{submission}/reviews"), learner.headers, 200
        )
        assert len(reviews["reviews"]) == 2
        for position, given in enumerate(reviews["reviews"]):
            url = story.url("peer_review", f"/reviews/{given['id']}/rating")
            call("POST", url, learner.headers, 201, json={"helpfulness": 5 if position == 0 else 2})
        staff = call(
            "GET", story.url("peer_review", f"/targets/submission/{submission}/reviews"), teacher(story.teacher_id), 200
        )
        story.accuracy.update({given["id"]: given["accuracy"] for given in staff["reviews"]})


def pluto_is_brought_up_to_date(story: Class) -> None:
    """a3 flags "Pluto is a planet" outdated, b3 proposes a revision, two peers verify it from the queue."""
    pluto = story.shared[story.a1.user_id]
    call("POST", story.url("challenges", f"/resources/{pluto['id']}/flags"), story.a3.headers, 201, json=flag_body())
    proposal = revision_body()
    revisions = story.url("challenges", f"/resources/{pluto['id']}/revisions")
    revision = call("POST", revisions, story.b3.headers, 201, json=proposal)
    # Nobody is active in the tag yet, so the revision waits in the queue for verifiers.
    for learner in (story.a2, story.b1):
        claimed = until(
            story.stack,
            lambda learner=learner: pull(story.stack, learner, kind="revision"),  # type: ignore[misc]
            lambda response: response.status_code != 204,
        )
        assert (claimed.status_code, claimed.json()["target_id"]) == (201, revision["id"]), claimed.text
        verdict = {"verdict": "approve", "comment": "The IAU resolution says so."}
        call(
            "POST",
            story.url("peer_review", f"/assignments/{claimed.json()['id']}/review"),
            learner.headers,
            201,
            json=verdict,
        )
        story.verifiers.append(learner)
    verified_and_current(story.stack, pluto["id"], revision["id"], proposal, story.verifiers)
    assert call("GET", story.url("challenges", f"/resources/{pluto['id']}"), story.b2.headers, 200)["open_flags"] == []


def settled_ledgers(story: Class, stack: Stack) -> dict[str, dict[str, Any]]:
    """Return every learner's points once the last events are in (and nothing moves for a second)."""
    stack.wait_for_empty_queue("leaderboards")

    def entries(seen: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [entry for body in seen.values() for entry in body["entries"]]

    ledgers = until(
        story.stack,
        lambda: {learner.user_id: points_of(story.stack, learner) for learner in story.everyone},
        lambda seen: (
            all(body["count"] == len(body["entries"]) for body in seen.values())
            and any(entry["rule"] == "knowledge.updated" for entry in entries(seen))
            and sum(entry["rule"] == "review.helpful" for entry in entries(seen)) == len(story.everyone)
        ),
        timeout=60,
    )
    time.sleep(1)
    assert {learner.user_id: points_of(story.stack, learner) for learner in story.everyone} == ledgers, "still moving"
    return ledgers


def assert_every_entry_is_traced_to_its_rule(story: Class, ledgers: dict[str, dict[str, Any]]) -> None:
    """Each total is its entries' sum; each entry's points are worked out again from its row of GET /rules."""
    rules = rules_of(story.stack)
    rows = {row["name"]: row for row in rules["rules"]}
    scaled: dict[str, float] = {}
    for user_id, body in ledgers.items():
        assert body["total"] == sum(entry["points"] for entry in body["entries"]), user_id
        for entry in body["entries"]:
            assert entry["rule_version"] == rules["version"]
            if entry["rule"] == "submission.graded":
                scaled[entry["key"]] = 50 * story.grades[user_id]
            elif entry["rule"] == "review.accurate":
                scaled[entry["key"]] = story.accuracy[entry["object_id"]]
            assert entry["points"] == expected_points(entry, rows[entry["rule"]], scaled), entry


def assert_each_action_earned_what_it_should(story: Class, ledgers: dict[str, dict[str, Any]]) -> None:
    earned = {user: [entry["rule"] for entry in body["entries"]] for user, body in ledgers.items()}
    # Shares earned their sharers points; the refused duplicate earned nothing.
    assert {user for user, rules in earned.items() if "resource.shared" in rules} == {
        story.a1.user_id,
        story.b1.user_id,
        story.a2.user_id,
    }
    # Every learner was graded once; the twelve reviews (two per submission) and the two verifications (a
    # verification is a review of the revision) each earned their reviewer.
    assert all(rules.count("submission.graded") == 1 for rules in earned.values()), earned
    reviews_written = sum(rules.count("review.submitted") for rules in earned.values())
    assert reviews_written == 2 * len(story.everyone) + len(story.verifiers)
    assert sum(rules.count("review.accurate") for rules in earned.values()) == 2 * len(story.everyone)
    late = [
        entry
        for body in ledgers.values()
        for entry in body["entries"]
        if entry["rule"] == "review.submitted" and "late" in entry["reason"]
    ]
    assert [entry["object_id"] for entry in late] == [story.late_review["id"]]
    (updated,) = [entry for entry in ledgers[story.b3.user_id]["entries"] if entry["rule"] == "knowledge.updated"]
    assert updated["points"] == 20 and "flagged outdated" in updated["reason"]
    assert {user for user, rules in earned.items() if "revision.verified_correctly" in rules} == {
        story.a2.user_id,
        story.b1.user_id,
    }


def assert_every_board_is_the_ledger_before_and_after_a_rebuild(
    story: Class, stack: Stack, ledgers: dict[str, dict[str, Any]]
) -> None:
    zone = ZoneInfo(rules_of(story.stack)["timezone"])
    this_week = window_periods(datetime.now(zone), zone)[Window.WEEK]
    expected: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for user_id, body in ledgers.items():
        for entry in body["entries"]:
            in_this_week = window_periods(datetime.fromisoformat(entry["occurred_at"]), zone)[Window.WEEK] == this_week
            for name in entry["boards"]:
                expected[(name, "all")][user_id] += entry["points"]
                if in_this_week:
                    expected[(name, "week")][user_id] += entry["points"]
    assert {name for name, _ in expected} == story.boards
    boards = {(name, window): page_of(story.stack, name, window) for name in story.boards for window in ("all", "week")}
    for key, standings in boards.items():
        assert standings == {user: points for user, points in expected[key].items() if points}, key
    assert "Rebuilt the boards from" in rebuild(stack)
    again = {(name, window): page_of(story.stack, name, window) for name in story.boards for window in ("all", "week")}
    assert again == boards


def assert_the_logs_carry_ids_never_tokens_or_content(stack: Stack, story: Class) -> None:
    """Every log line of the run (APIs, workers, the gateway) names ids; no token, no learner's words."""
    # The classroom screen carries its token in the URL: open it (through the gateway) before reading the logs.
    minted = call("POST", story.url("leaderboards", "/leaderboards/global/view-tokens"), teacher(story.teacher_id), 201)
    screen = requests.get(story.url("leaderboards", minted["view_path"]), timeout=10)
    assert screen.status_code == 200
    logs = {name: process.read_log() for name, process in stack.processes.items()}
    logs.update({str(path): path.read_text() for path in GATEWAY_LOGS if path.exists()})
    assert any(story.submission_of[story.a1.user_id] in text for text in logs.values()), "the ids are logged"
    words = [COMMENT, "Leaves turn light into sugar", "The IAU resolution says so", "Pluto has been a dwarf planet"]
    for name, text in logs.items():
        assert "Bearer " not in text and "eyJ" not in text and minted["token"] not in text, f"{name} logs a token"
        for said in words:
            assert said not in text, f"{name} logs what a learner wrote: {said!r}"


def test_a_class_from_the_first_share_to_the_last_point(story: Stack, stack: Stack) -> None:
    played = Class(story)
    a_teacher_publishes_two_challenges(played)
    learners_share_resources(played)
    everyone_submits_and_is_handed_work(played)
    everyone_reviews_one_of_them_late(played, stack)
    grades_reach_the_submissions_and_authors_rate_their_reviews(played)
    pluto_is_brought_up_to_date(played)

    ledgers = settled_ledgers(played, stack)
    assert_every_entry_is_traced_to_its_rule(played, ledgers)
    assert_each_action_earned_what_it_should(played, ledgers)
    assert_every_board_is_the_ledger_before_and_after_a_rebuild(played, stack, ledgers)
    assert_the_logs_carry_ids_never_tokens_or_content(stack, played)
    # The badges the story earned: a first share each for the three sharers, Pluto for b3's update.
    sharers = {played.a1.user_id, played.b1.user_id, played.a2.user_id}
    assert all("first-share" in badges_of(story, user) for user in sharers)
    assert "pluto" in badges_of(story, played.b3.user_id)
