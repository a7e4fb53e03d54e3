"""Privacy and self-dealing across the services, over HTTP, with events carried between them as the workers do.

- Blind review never names the other party: every answer a blind reviewer gets from either service (the work
  at the challenges service, the assignment, the review and the target at peer review) is searched, keys,
  values and headers, for the author's id, and every answer the author gets for the reviewers' ids.
- A learner of the cohort who is on none of the work is told no more than a learner of another cohort.
- Nobody reviews their own work: allocation, the queue and a teacher's reassignment never hand it to its
  author, and the author cannot review or edit a review of it through someone else's assignment.
- A reciprocal review (the author reviews the reviewer's work too) earns half on the ledger.

Who may read whose ledger, endorse or award what is the declared policy (tests/integration/policy.py, with
its matrices and test_policy.py's checks that the table lets nobody deal with themselves).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from devstack.servers import RedisServer
from services.challenges.usecases import revisions as challenge_revisions
from services.challenges.usecases import submissions as challenge_submissions
from services.leaderboards.usecases.awarding import apply_events
from shared.consumer import Handler, Received, consume
from shared.contracts.events import Event, EventType
from shared.queues import make_queue
from shared.registry import service
from tests.factories import bearer, challenge_body, submission_body
from tests.integration import api
from tests.integration.leaderboards_world import LeaderboardsHost, hosted_leaderboards
from tests.integration.peer_review_world import (
    ADMIN,
    COMMENT,
    OTHER_COHORT,
    OTHER_LEARNER,
    OWNER_TEACHER,
    Classroom,
    PeerReviewHost,
    Unchanged,
    hosted_peer_review,
)
from tests.integration.policy import Row, rows_of
from tests.integration.world import WorldHost

pytestmark = pytest.mark.integration

RUBRIC = [{"criterion": "Accuracy", "max_score": 5, "description": "Facts are right"}]
REVIEW = {"scores": {"Accuracy": 4}, "comment": COMMENT}
QUEUES = ("peer_review", "challenges", "leaderboards")


@pytest.fixture(scope="module")
def review_host(
    redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any
) -> Iterator[PeerReviewHost]:
    """Return this module's peer-review app on FerretDB (mongo_client: the session drops its databases)."""
    with hosted_peer_review(redis_server.url, mongo_server_url, database_prefix) as host:
        yield host


@pytest.fixture(scope="module")
def board_host(
    redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any
) -> Iterator[LeaderboardsHost]:
    """Return this module's leaderboards app on FerretDB."""
    with hosted_leaderboards(redis_server.url, mongo_server_url, database_prefix) as host:
        yield host


def _in(app: Flask, use_case: Callable[..., object]) -> Handler:
    def handle(received: Sequence[Received]) -> object:
        return use_case(received, context=app.extensions["connective"].dependencies.context())

    return handle


@dataclass
class School:
    """The three services on one Redis, and the events between them carried as their workers would."""

    challenges_app: Flask
    classroom: Classroom
    leaderboards_app: Flask

    @property
    def challenges(self) -> FlaskClient:
        """Return the challenges service's test client."""
        return self.challenges_app.test_client()

    @property
    def peer_review(self) -> FlaskClient:
        """Return the peer-review service's test client."""
        return self.classroom.client

    @property
    def leaderboards(self) -> FlaskClient:
        """Return the leaderboards service's test client."""
        return self.leaderboards_app.test_client()

    def _deliver(self, queue: str, envelopes: list[dict[str, Any]]) -> None:
        if queue == "peer_review":
            self.classroom.deliver(*(Event.from_dict(envelope) for envelope in envelopes))
            return
        if queue == "challenges":
            app = self.challenges_app
            handlers: dict[str, Handler] = {
                EventType.REVIEW_ASSIGNED: _in(app, challenge_submissions.record_assignments),
                EventType.REVIEW_DECLINED: _in(app, challenge_submissions.revoke_assignments),
                EventType.TARGET_GRADED: _in(app, challenge_submissions.record_grades),
                EventType.REVISION_VERIFIED: _in(app, challenge_revisions.apply_verifications),
            }
        else:
            handlers = {name: _in(self.leaderboards_app, apply_events) for name in service("leaderboards").consumes}
        consume(envelopes, service=queue, handlers=handlers)

    def relay(self) -> None:
        """Carry every event waiting on the services' queues to its consumer, until no queue holds any."""
        connection = self.challenges_app.extensions["connective"].dependencies.runtime.redis.connection
        for _ in range(10):
            moved = False
            for name in QUEUES:
                queue = make_queue(name, connection)
                envelopes = [envelope for job in queue.jobs for envelope in job.args[0]]
                queue.empty()
                if envelopes:
                    moved = True
                    self._deliver(name, envelopes)
            if not moved:
                return
        raise AssertionError("the services kept announcing events to each other")

    def publish_challenge(self, **review: Any) -> str:
        """Create and publish a challenge of cohort 7a as teacher-1; return its id."""
        body = challenge_body(cohorts=["7a"], rubric=RUBRIC, review=review)
        challenge_id: str = api.created(self.challenges.post("/challenges", json=body, headers=OWNER_TEACHER))["id"]
        api.ok(self.challenges.post(f"/challenges/{challenge_id}/publish", headers=OWNER_TEACHER))
        self.relay()
        return challenge_id

    def submit(self, challenge_id: str, headers: dict[str, str]) -> str:
        """Submit as the learner at the challenges service and let peer review hear of it; return the id."""
        response = self.challenges.post(
            f"/challenges/{challenge_id}/submissions", json=submission_body(), headers=headers
        )
        submission_id: str = api.created(response)["id"]
        self.relay()
        return submission_id

    def allocation(self, challenge_id: str) -> dict[str, list[dict[str, Any]]]:
        """Return each target's active assignments, as the challenge's teacher sees the allocation."""
        listing = api.ok(
            self.peer_review.get(
                "/allocations", query_string={"challenge_id": challenge_id, "limit": 100}, headers=OWNER_TEACHER
            )
        )
        return {
            item["target_id"]: [a for a in item["assignments"] if a["status"] in ("assigned", "submitted")]
            for item in listing["items"]
        }


@pytest.fixture
def school(host: WorldHost, review_host: PeerReviewHost, board_host: LeaderboardsHost) -> School:
    """Return the three services emptied (the challenges app is the matrix's module host)."""
    host.empty()
    board_host.empty()
    classroom = review_host.empty_classroom()
    return School(host.app, classroom, board_host.app)


def learners(*names: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Return unique user ids for these learners of 7a (found in no other text) and their tokens."""
    suffix = uuid.uuid4().hex[:8]
    ids = [f"{name}-{suffix}" for name in names]
    return ids, {user: bearer(user, "learner", cohorts=("7a",)) for user in ids}


def named_at(value: Any, needle: str, path: str = "$") -> list[str]:
    """Return where a JSON value holds the needle, in any key or string, however deeply nested."""
    if isinstance(value, dict):
        found = [f"{path} (key)" for key in value if needle in str(key)]
        for key, inner in value.items():
            found += named_at(inner, needle, f"{path}.{key}")
        return found
    if isinstance(value, list):
        return [place for index, inner in enumerate(value) for place in named_at(inner, needle, f"{path}[{index}]")]
    return [path] if isinstance(value, str) and needle in value else []


@dataclass(frozen=True)
class Answer:
    """One request a party made and what it was answered: status, headers, JSON body."""

    request: str
    status: int
    headers: dict[str, str]
    body: Any

    def naming(self, needle: str) -> list[str]:
        """Return where the answer names the needle: the body's keys and values, and the headers."""
        headers = [f"header {name}" for name, value in self.headers.items() if needle in value]
        return headers + named_at(self.body, needle)


def ask(client: FlaskClient, headers: dict[str, str], requests: Sequence[tuple[str, str, Any]]) -> list[Answer]:
    """Send each (method, path, body) as the caller; every answer must be JSON, or empty (204)."""
    answers = []
    for method, path, body in requests:
        response = client.open(path, method=method, json=body, headers=headers)
        parsed = None if response.status_code == 204 else response.get_json(silent=True)
        assert parsed is not None or response.status_code == 204, (method, path, response.get_data(as_text=True))
        answers.append(Answer(f"{method} {path}", response.status_code, dict(response.headers), parsed))
    return answers


def leaks(answers: Sequence[Answer], *needles: str) -> dict[str, list[str]]:
    """Return, by request, where any answer names any of the needles."""
    found = {}
    for answer in answers:
        places = [f"{needle} at {place}" for needle in needles for place in answer.naming(needle)]
        if places:
            found[answer.request] = places
    return found


# ---------------------------------------------------------------------------------------------------------------
# Blind review


def test_blind_review_names_neither_party_to_the_other_at_either_service(school: School) -> None:
    (author, first, second), tokens = learners("author", "first", "second")
    challenge_id = school.publish_challenge(reviewers_per_submission=2, blind=True)
    work = {user: school.submit(challenge_id, tokens[user]) for user in (author, first, second)}
    api.ok(school.peer_review.post("/allocations", json={"challenge_id": challenge_id}, headers=OWNER_TEACHER))
    school.relay()
    mine = work[author]
    on_mine = {a["reviewer_id"]: a["id"] for a in school.allocation(challenge_id)[mine]}
    assert set(on_mine) == {first, second}

    def as_reviewer() -> list[Answer]:
        reviewing = on_mine[first]
        peer_review = ask(
            school.peer_review,
            tokens[first],
            [
                ("GET", "/assignments?limit=100", None),
                ("GET", f"/assignments?challenge_id={challenge_id}&status=submitted", None),
                ("GET", f"/assignments/{reviewing}", None),
                ("GET", f"/targets/submission/{mine}/reviews", None),
                ("GET", f"/reviewers/{first}", None),
                ("POST", "/assignments/next", {}),
            ],
        )
        challenges = ask(
            school.challenges,
            tokens[first],
            [
                ("GET", f"/submissions/{mine}", None),
                ("GET", f"/submissions/{mine}/versions", None),
                ("GET", f"/submissions/{mine}/versions/1", None),
                ("GET", "/submissions", None),
                ("GET", f"/challenges/{challenge_id}/submissions", None),
                ("GET", f"/challenges/{challenge_id}", None),
            ],
        )
        return peer_review + challenges

    seen = as_reviewer()
    reviews = {}
    for reviewer in (first, second):
        posted = school.peer_review.post(
            f"/assignments/{on_mine[reviewer]}/review", json=REVIEW, headers=tokens[reviewer]
        )
        reviews[reviewer] = api.created(posted)
        seen.append(Answer(f"POST review as {reviewer}", 201, dict(posted.headers), reviews[reviewer]))
        if reviewer == first:
            seen += ask(school.peer_review, tokens[first], [("PUT", f"/reviews/{reviews[first]['id']}", REVIEW)])
            seen += as_reviewer()
    school.relay()
    # Graded now (both reviews in), the grade recorded by the challenges service: the reviewer still sees neither.
    seen += as_reviewer()
    assert leaks(seen, author) == {}
    # The reviewer did read the work, and the review, and its target is graded.
    read = {answer.request: answer for answer in seen}
    assert read[f"PUT /reviews/{reviews[first]['id']}"].status == 200
    assert read[f"GET /submissions/{mine}"].status == 200
    assert read[f"GET /submissions/{mine}"].body["author_id"] is None
    assert read[f"GET /targets/submission/{mine}/reviews"].body["status"] == "graded"
    assert api.ok(school.challenges.get(f"/submissions/{mine}", headers=tokens[author]))["status"] == "graded"

    heard = ask(
        school.peer_review,
        tokens[author],
        [
            ("GET", f"/targets/submission/{mine}/reviews", None),
            ("GET", "/assignments?limit=100", None),
            ("GET", f"/reviewers/{author}", None),
            *[("POST", f"/reviews/{review['id']}/rating", {"helpfulness": 5}) for review in reviews.values()],
            ("GET", f"/targets/submission/{mine}/reviews", None),
        ],
    ) + ask(
        school.challenges,
        tokens[author],
        [
            ("GET", f"/submissions/{mine}", None),
            ("GET", f"/submissions/{mine}/versions", None),
            ("GET", "/submissions", None),
            ("GET", f"/challenges/{challenge_id}/submissions", None),
        ],
    )
    assert leaks(heard, first, second) == {}
    assert all(answer.status in (200, 201) for answer in heard), [(a.request, a.status) for a in heard]
    shown = json.dumps(heard[0].body)
    assert all(review["id"] in shown for review in reviews.values())
    # The check finds names where they are shown: staff see both parties.
    staff = ask(school.peer_review, OWNER_TEACHER, [("GET", f"/targets/submission/{mine}/reviews", None)])
    staff += ask(school.challenges, OWNER_TEACHER, [("GET", f"/submissions/{mine}", None)])
    assert set(leaks(staff, author)) == {staff[0].request, staff[1].request}
    assert set(leaks(staff, first, second)) == {staff[0].request}


# ---------------------------------------------------------------------------------------------------------------
# A learner of the cohort who is on none of the work


@pytest.fixture
def unchanged(review_host: PeerReviewHost) -> Iterator[Unchanged]:
    """Return peer review's shared matrix world and a snapshot of every collection and queue taken before."""
    with review_host.shared() as view:
        yield view


BYSTANDER_ROWS = [row for row in rows_of("peer_review") if row.name != "claim from the queue"]


@pytest.mark.parametrize("row", BYSTANDER_ROWS, ids=[row.name for row in BYSTANDER_ROWS])
def test_a_learner_of_the_cohort_on_none_of_the_work_is_told_what_one_of_another_cohort_is(
    unchanged: Unchanged, row: Row
) -> None:
    """Sharing the author's cohort opens nothing: carol (7a) gets zoe's (7b) answer, and nothing changes.

    Claiming from the queue is left out: the challenges are open to 7a, so carol may claim alice's work.
    """
    world = unchanged.world
    body = row.body(world, "carol") if row.body else None
    response = unchanged.client.open(world.fill(row.path), method=row.method, json=body, headers=OTHER_LEARNER)
    assert response.status_code == row.expected()["other_cohort"], response.get_data(as_text=True)
    answer = Answer(row.name, response.status_code, dict(response.headers), response.get_json())
    assert leaks([answer], "alice", "bob") == {}
    unchanged.assert_unchanged()


def test_the_learner_of_another_cohort_is_refused_everything_of_the_world() -> None:
    """The comparison above means something only while the policy refuses zoe whatever names the world's work."""
    assert OTHER_COHORT != OTHER_LEARNER
    about_the_work = [row for row in BYSTANDER_ROWS if "{" in row.path or "/reviewers/" in row.path]
    assert about_the_work
    assert [row.name for row in about_the_work if row.expected()["other_cohort"] < 400] == []


# ---------------------------------------------------------------------------------------------------------------
# Nobody reviews their own work


def test_allocation_the_queue_and_a_reassignment_never_hand_anyone_their_own_work(review_host: PeerReviewHost) -> None:
    classroom = review_host.empty_classroom()
    names, tokens = learners("ann", "ben", "cat", "dan", "eve")
    challenge_id = classroom.publish_challenge(reviewers=3)
    own = {classroom.submit(challenge_id, name): name for name in names}
    api.ok(classroom.client.post("/allocations", json={"challenge_id": challenge_id}, headers=OWNER_TEACHER))
    for name in names:
        for _ in range(len(names)):
            if classroom.client.post("/assignments/next", json={}, headers=tokens[name]).status_code == 204:
                break
        else:
            raise AssertionError(f"{name} could claim without end")
    listing = api.ok(
        classroom.client.get(
            "/allocations", query_string={"challenge_id": challenge_id, "limit": 100}, headers=OWNER_TEACHER
        )
    )
    pairs = [(own[item["target_id"]], a["reviewer_id"]) for item in listing["items"] for a in item["assignments"]]
    assert len(pairs) >= 3 * len(names)
    assert [pair for pair in pairs if pair[0] == pair[1]] == []
    for name in names:
        assert [a for a in classroom.assignments(tokens[name]) if own[a["target_id"]] == name] == []
    # A teacher cannot hand a submission to its author either.
    (item, *_) = listing["items"]
    moved = classroom.client.post(
        f"/allocations/{item['assignments'][0]['id']}/reassign",
        json={"reviewer_id": own[item["target_id"]]},
        headers=OWNER_TEACHER,
    )
    assert set(api.problem(moved, 422)["errors"]) == {"reviewer_id"}


def test_an_author_cannot_review_or_edit_a_review_of_their_own_work(review_host: PeerReviewHost) -> None:
    """Through the assignments and reviews of the peers on it, the author is told they do not exist."""
    classroom = review_host.empty_classroom()
    (author, first, second), tokens = learners("author", "first", "second")
    challenge_id = classroom.publish_challenge(reviewers=2)
    mine = classroom.submit(challenge_id, author)
    for peer in (first, second):
        classroom.submit(challenge_id, peer)
    open_one = classroom.assignment_on(mine, tokens[first])["id"]
    reviewed = classroom.review(classroom.assignment_on(mine, tokens[second])["id"], tokens[second])
    before = api.snapshot(classroom.app)
    attempts = [
        classroom.client.post(f"/assignments/{open_one}/review", json=REVIEW, headers=tokens[author]),
        classroom.client.post(f"/assignments/{reviewed['assignment_id']}/review", json=REVIEW, headers=tokens[author]),
        classroom.client.put(f"/reviews/{reviewed['id']}", json=REVIEW, headers=tokens[author]),
        classroom.client.post(f"/assignments/{open_one}/decline", json={}, headers=tokens[author]),
    ]
    assert [response.status_code for response in attempts] == [404, 404, 404, 404]
    assert api.snapshot(classroom.app) == before


def test_a_revision_is_never_given_to_its_proposer_or_its_resources_owner_to_verify(
    review_host: PeerReviewHost,
) -> None:
    classroom = review_host.empty_classroom()
    (proposer, owner, peer), tokens = learners("proposer", "owner", "peer")
    challenge_id = classroom.publish_challenge(tags=("astronomy",))
    for name in (proposer, owner, peer):
        classroom.submit(challenge_id, name)
    revision_id = classroom.propose_revision(proposer, owner, tags=("astronomy",))
    for name in (proposer, owner):
        claimed = classroom.client.post("/assignments/next", json={"kind": "revision"}, headers=tokens[name])
        assert claimed.status_code == 204, claimed.get_data(as_text=True)
        assert [a for a in classroom.assignments(tokens[name]) if a["target_id"] == revision_id] == []
    claimed = classroom.client.post("/assignments/next", json={"kind": "revision"}, headers=tokens[peer])
    asked = [a for a in classroom.assignments(tokens[peer]) if a["target_id"] == revision_id]
    assert claimed.status_code == 201 or asked, "the peer was neither asked nor let claim the revision"


# ---------------------------------------------------------------------------------------------------------------
# Reciprocal reviews earn half


def test_a_review_of_someone_who_reviews_you_earns_half_on_the_ledger(school: School) -> None:
    """From the review at peer review to the entry on the leaderboards: `reciprocal` halves review.submitted."""
    (ann, ben, cat), tokens = learners("ann", "ben", "cat")
    challenge_id = school.publish_challenge(reviewers_per_submission=1, blind=True)
    work = {user: school.submit(challenge_id, tokens[user]) for user in (ann, ben, cat)}
    api.ok(school.peer_review.post("/allocations", json={"challenge_id": challenge_id}, headers=OWNER_TEACHER))
    school.relay()
    reviewer_of = {author: [a["reviewer_id"] for a in school.allocation(challenge_id)[work[author]]] for author in work}
    # Give-to-get and the allocation avoid reciprocity: a ring.
    assert reviewer_of == {ann: [ben], ben: [cat], cat: [ann]}
    # A teacher moves cat's submission from ann to ben: ben and cat now review each other.
    (moving,) = school.allocation(challenge_id)[work[cat]]
    api.created(
        school.peer_review.post(
            f"/allocations/{moving['id']}/reassign", json={"reviewer_id": ben}, headers=OWNER_TEACHER
        )
    )
    school.relay()
    for reviewer, author in ((ben, ann), (ben, cat), (cat, ben)):
        assignment = school.classroom.assignment_on(work[author], tokens[reviewer])["id"]
        school.classroom.review(assignment, tokens[reviewer], scores={"Accuracy": 4})
    school.relay()
    earned = {
        user: sorted(
            (entry["points"], entry["object_id"], entry["reason"])
            for entry in api.ok(school.leaderboards.get(f"/users/{user}/points", headers=ADMIN))["entries"]
            if entry["rule"] == "review.submitted"
        )
        for user in (ben, cat)
    }
    assert [points for points, *_ in earned[ben]] == [5, 10]
    assert [points for points, *_ in earned[cat]] == [5]
    halved = [reason for points, _, reason in (*earned[ben], *earned[cat]) if points == 5]
    assert all("you and the author review each other" in reason for reason in halved)
    assert "review each other" not in next(reason for points, _, reason in earned[ben] if points == 10)
