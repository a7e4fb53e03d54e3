"""A small class in peer review, built the way it arrives: the challenges service's events, then reviews over HTTP.

`Classroom` delivers the challenges service's events (challenge.published, submission.submitted,
resource.revision_proposed, in the shapes the challenges service emits) as the worker would: real envelopes
through `shared.consumer.consume`, each type to the intake use case `services.peer_review.jobs` routes it to,
in the app's own context. Everything else goes through the API, and what peer review announces is read from the RQ
queues on the app's Redis (`enqueued`), never from stored documents.

`build_world` makes the world the role matrix and the bad-input table start from:
- teacher-1 owns two challenges of cohort 7a, three reviewers per submission, blind, rubric Accuracy and
  Clarity (0..5 each);
- alice (the author) submitted to both; bob (the reviewer) submitted after her to both, so give-to-get gave
  him her two submissions: he reviewed the first (still open: it wants three reviews) and not yet the second;
- alice proposed a revision of olga's resource (tags biology); bob, active in biology, was asked to verify it;
- carol is a learner of 7a on none of this, zoe one of 7b; teacher-2 another teacher; admin-1 an admin; a
  service token.

`PeerReviewHost` keeps one peer-review app per test module and hands out a fresh world (emptied and built
again, for requests that change something) or the module's shared world (built once, for requests that must
change nothing: each compares a snapshot of every collection and queue before and after).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job

from services.peer_review import jobs
from services.peer_review.app import create_app
from services.peer_review.usecases import intake
from shared.clock import utc_now
from shared.consumer import Handler, Received, consume
from shared.contracts.events import Event, EventType
from shared.queues import make_queue
from shared.settings import Settings
from tests.factories import NO_RATE_LIMITS, SECRET, bearer
from tests.integration import api

ANONYMOUS: dict[str, str] = {}
AUTHOR = bearer("alice", "learner", cohorts=("7a",))
REVIEWER = bearer("bob", "learner", cohorts=("7a",))
OTHER_LEARNER = bearer("carol", "learner", cohorts=("7a",))
OWNER_TEACHER = bearer("teacher-1", "teacher")
OTHER_TEACHER = bearer("teacher-2", "teacher")
ADMIN = bearer("admin-1", "admin")
SERVICE_TOKEN = bearer("challenges", "service")
# A learner of another cohort than the challenges' audience, on none of the world's work.
OTHER_COHORT = bearer("zoe", "learner", cohorts=("7b",))

# The callers of tests/integration/policy.py, by its column names: the learner is the author, the other
# learner of the cohort is her reviewer.
PRINCIPALS: dict[str, dict[str, str]] = {
    "anonymous": ANONYMOUS,
    "learner": AUTHOR,
    "other_learner": REVIEWER,
    "other_cohort": OTHER_COHORT,
    "owner_teacher": OWNER_TEACHER,
    "other_teacher": OTHER_TEACHER,
    "admin": ADMIN,
    "service": SERVICE_TOKEN,
}
# Who each column is (the anonymous caller names nobody).
USER_IDS = {
    "anonymous": "nobody",
    "learner": "alice",
    "other_learner": "bob",
    "other_cohort": "zoe",
    "owner_teacher": "teacher-1",
    "other_teacher": "teacher-2",
    "admin": "admin-1",
    "service": "challenges",
}

RUBRIC = ({"criterion": "Accuracy", "max_score": 5}, {"criterion": "Clarity", "max_score": 5})
SCORES = {"Accuracy": 4, "Clarity": 3}
COMMENT = "Clear explanation of the light reactions; cite where the sugar goes next."
# What the challenges service reads from peer review: reviewers' access, grades, verdicts on revisions.
CHALLENGES_QUEUE = "challenges"


def review_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid review of a submission of the world's rubric."""
    body: dict[str, Any] = {"scores": dict(SCORES), "comment": COMMENT}
    body.update(overrides)
    return body


def verdict_body(verdict: str = "approve", **overrides: Any) -> dict[str, Any]:
    """Return a valid verification of a revision."""
    body: dict[str, Any] = {"verdict": verdict, "comment": "Checked the IAU resolution: the new summary is right."}
    body.update(overrides)
    return body


def _intake_handlers(context: Callable[[], Any]) -> dict[str, Handler]:
    """Return the intake use cases by event type, as `services.peer_review.jobs.HANDLERS` routes them."""
    use_cases: dict[str, Callable[..., object]] = {
        EventType.CHALLENGE_PUBLISHED: intake.receive_challenges,
        EventType.CHALLENGE_CLOSED: intake.receive_challenges,
        EventType.SUBMISSION_SUBMITTED: intake.receive_submissions,
        EventType.SUBMISSION_REVISED: intake.receive_submissions,
        EventType.SUBMISSION_WITHDRAWN: intake.receive_submissions,
        EventType.RESOURCE_REVISION_PROPOSED: intake.receive_revisions,
        EventType.RESOURCE_REVISION_ACCEPTED: intake.receive_revisions,
        EventType.RESOURCE_REVISION_REJECTED: intake.receive_revisions,
    }
    # The worker's routing is the contract: a type added there and not here would be delivered nowhere.
    assert set(use_cases) == set(jobs.HANDLERS), "tests deliver events the worker would not, or miss some"
    shared: dict[Callable[..., object], Handler] = {}

    def bound(use_case: Callable[..., object]) -> Handler:
        def handle(received: Sequence[Received]) -> object:
            return use_case(received, context=context())

        return shared.setdefault(use_case, handle)

    return {event_type: bound(use_case) for event_type, use_case in use_cases.items()}


@dataclass
class _Submission:
    challenge_id: str
    author_id: str
    cohorts: tuple[str, ...]
    version: int = 1


@dataclass
class Classroom:
    """Builds peer review's world from the challenges service's events, and reads what peer review enqueued."""

    app: Flask
    client: FlaskClient = field(init=False)
    _challenges: dict[str, dict[str, Any]] = field(default_factory=dict)
    _submissions: dict[str, _Submission] = field(default_factory=dict)
    _revisions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = self.app.test_client()
        dependencies = self.app.extensions["connective"].dependencies
        self._handlers = _intake_handlers(dependencies.context)

    # -- events from the challenges service ------------------------------------------------------------------

    def deliver(self, *events: Event) -> int:
        """Deliver events as the worker does (envelopes, parsed and validated, batched by use case)."""
        return consume([event.to_dict() for event in events], service="peer_review", handlers=self._handlers)

    def publish_challenge(
        self,
        owner_id: str = "teacher-1",
        *,
        cohorts: Sequence[str] = ("7a",),
        reviewers: int = 3,
        due_hours: int = 72,
        blind: bool = True,
        rubric: Sequence[Mapping[str, Any]] = RUBRIC,
        tags: Sequence[str] = ("biology",),
    ) -> str:
        """Deliver `challenge.published` of a new submission challenge; return its id."""
        challenge_id = uuid.uuid4().hex[:24]
        data = {
            "challenge_id": challenge_id,
            "owner_id": owner_id,
            "kind": "submission",
            "title": "Explain photosynthesis",
            "points": 50,
            "tags": list(tags),
            "cohorts": list(cohorts),
            "rubric": [dict(criterion) for criterion in rubric],
            "review": {"reviewers_per_submission": reviewers, "due_hours": due_hours, "blind": blind},
            "starts_at": None,
            "ends_at": None,
            "closed_at": None,
        }
        self._challenges[challenge_id] = data
        self.deliver(Event(type=EventType.CHALLENGE_PUBLISHED, producer="challenges", actor_id=owner_id, data=data))
        return challenge_id

    def _submission_event(self, event_type: EventType, submission_id: str) -> Event:
        submission = self._submissions[submission_id]
        challenge = self._challenges[submission.challenge_id]
        data = {
            "submission_id": submission_id,
            "challenge_id": submission.challenge_id,
            "author_id": submission.author_id,
            "challenge_owner_id": challenge["owner_id"],
            "version": submission.version,
            "cohorts": list(submission.cohorts),
            "tags": challenge["tags"],
            "review": challenge["review"],
            "rubric": challenge["rubric"],
            "ends_at": None,
            "points": challenge["points"],
            "challenge_cohorts": challenge["cohorts"],
        }
        return Event(type=event_type, producer="challenges", actor_id=submission.author_id, data=data)

    def submit(self, challenge_id: str, author_id: str, cohorts: Sequence[str] = ("7a",)) -> str:
        """Deliver `submission.submitted` of a new submission (give-to-get assigns its author); return its id."""
        submission_id = uuid.uuid4().hex[:24]
        self._submissions[submission_id] = _Submission(challenge_id, author_id, tuple(cohorts))
        self.deliver(self._submission_event(EventType.SUBMISSION_SUBMITTED, submission_id))
        return submission_id

    def propose_revision(self, proposer_id: str, owner_id: str = "olga", *, tags: Sequence[str] = ("biology",)) -> str:
        """Deliver `resource.revision_proposed` (verifiers active in its tags are asked); return the revision's id."""
        revision_id = uuid.uuid4().hex[:24]
        data = {
            "revision_id": revision_id,
            "resource_id": uuid.uuid4().hex[:24],
            "owner_id": owner_id,
            "proposer_id": proposer_id,
            "changed_fields": ["summary"],
            "base_version": 1,
            "flagged_outdated": False,
            "tags": list(tags),
            "cohorts": ["7a"],
            "challenge_id": None,
            "changes": {"summary": {"old": "Pluto is the ninth planet.", "new": "Pluto is a dwarf planet."}},
            "note": "The IAU defined 'planet' in 2006.",
            "sources": ["https://www.iau.org/news/pressreleases/detail/iau0603/"],
        }
        self._revisions[revision_id] = data
        self.deliver(
            Event(type=EventType.RESOURCE_REVISION_PROPOSED, producer="challenges", actor_id=proposer_id, data=data)
        )
        return revision_id

    def revision(self, revision_id: str) -> dict[str, Any]:
        """Return the data the revision was proposed with (its resource and its change)."""
        return dict(self._revisions[revision_id])

    # -- the API --------------------------------------------------------------------------------------------

    def assignments(self, headers: Mapping[str, str], **query: Any) -> list[dict[str, Any]]:
        """Return the caller's assignments as GET /assignments lists them (one page of up to 100)."""
        response = self.client.get("/assignments", query_string={"limit": 100, **query}, headers=dict(headers))
        items: list[dict[str, Any]] = api.ok(response)["items"]
        return items

    def assignment_on(self, target_id: str, headers: Mapping[str, str], status: str = "assigned") -> dict[str, Any]:
        """Return the caller's one assignment of this status on a target, by the API."""
        found = [item for item in self.assignments(headers, status=status) if item["target_id"] == target_id]
        assert len(found) == 1, f"expected one {status} assignment on {target_id}, got {found}"
        return found[0]

    def review(self, assignment_id: str, headers: Mapping[str, str], **body: Any) -> dict[str, Any]:
        """Review an assignment through the API (the world's valid review unless told otherwise)."""
        response = self.client.post(
            f"/assignments/{assignment_id}/review", json=review_body(**body), headers=dict(headers)
        )
        return api.created(response)

    def verify(self, assignment_id: str, headers: Mapping[str, str], verdict: str = "approve") -> dict[str, Any]:
        """Give a verdict on a revision one is assigned to, through the API."""
        response = self.client.post(
            f"/assignments/{assignment_id}/review", json=verdict_body(verdict), headers=dict(headers)
        )
        return api.created(response)

    def claim(self, headers: Mapping[str, str], **body: Any) -> dict[str, Any]:
        """Claim something to review from the queue through the API (201 expected)."""
        return api.created(self.client.post("/assignments/next", json=body, headers=dict(headers)))

    def reviewers_of(self, target_id: str) -> list[str]:
        """Return who is on a target (its active assignments), as the challenge's teacher sees the allocation."""
        challenge_id = self._submissions[target_id].challenge_id
        listing = api.ok(
            self.client.get("/allocations", query_string={"challenge_id": challenge_id, "limit": 100}, headers=ADMIN)
        )
        (item,) = [item for item in listing["items"] if item["target_id"] == target_id]
        return sorted(a["reviewer_id"] for a in item["assignments"] if a["status"] in ("assigned", "submitted"))

    # -- what peer review announced ----------------------------------------------------------------------------

    def jobs(self, queue: str = CHALLENGES_QUEUE) -> list[Job]:
        """Return the jobs waiting on an RQ queue of the app's Redis, oldest first."""
        connection = self.app.extensions["connective"].dependencies.runtime.redis.connection
        return list(make_queue(queue, connection).jobs)

    def enqueued(self, event_type: str | None = None, queue: str = CHALLENGES_QUEUE) -> list[dict[str, Any]]:
        """Return the event envelopes waiting on an RQ queue (only one type's when named), oldest first."""
        envelopes = [envelope for job in self.jobs(queue) for envelope in job.args[0]]
        return [envelope for envelope in envelopes if event_type is None or envelope["type"] == event_type]

    def forget_enqueued(self) -> None:
        """Empty the app's RQ queues, so a test reads only what its own requests enqueued."""
        connection = self.app.extensions["connective"].dependencies.runtime.redis.connection
        connection.flushdb()

    def set_clock(self, moment: datetime) -> None:
        """Fix the app's clock at an aware datetime (due times, lateness and claims follow it)."""
        self.app.extensions["connective"].dependencies.runtime.clock = lambda: moment


@dataclass(frozen=True)
class PeerReviewWorld:
    """The ids of what the matrix world holds (see the module's docstring)."""

    challenge_id: str
    second_challenge_id: str
    submission_id: str
    second_submission_id: str
    reviewer_submission_id: str
    revision_id: str
    # bob's: reviewed (on the first submission), open (on the second), and open on the revision.
    reviewed_assignment_id: str
    open_assignment_id: str
    revision_assignment_id: str
    review_id: str

    def fill(self, path: str) -> str:
        """Replace the world's placeholders ({challenge}, {submission}, {assignment}, {review}...) in a path."""
        return path.format(
            challenge=self.challenge_id,
            second_challenge=self.second_challenge_id,
            submission=self.submission_id,
            second_submission=self.second_submission_id,
            revision=self.revision_id,
            assignment=self.open_assignment_id,
            reviewed_assignment=self.reviewed_assignment_id,
            revision_assignment=self.revision_assignment_id,
            review=self.review_id,
        )


def build_world(classroom: Classroom) -> PeerReviewWorld:
    """Build the matrix world through events and the API; return its ids."""
    first = classroom.publish_challenge()
    second = classroom.publish_challenge()
    submission = classroom.submit(first, "alice")
    reviewer_submission = classroom.submit(first, "bob")
    second_submission = classroom.submit(second, "alice")
    classroom.submit(second, "bob")
    revision = classroom.propose_revision("alice")
    reviewed = classroom.assignment_on(submission, REVIEWER)["id"]
    review = classroom.review(reviewed, REVIEWER)
    return PeerReviewWorld(
        challenge_id=first,
        second_challenge_id=second,
        submission_id=submission,
        second_submission_id=second_submission,
        reviewer_submission_id=reviewer_submission,
        revision_id=revision,
        reviewed_assignment_id=reviewed,
        open_assignment_id=classroom.assignment_on(second_submission, REVIEWER)["id"],
        revision_assignment_id=classroom.assignment_on(revision, REVIEWER)["id"],
        review_id=review["id"],
    )


@dataclass
class Unchanged:
    """A test's view of the shared world: the classroom, the world, and every collection and queue before."""

    classroom: Classroom
    world: PeerReviewWorld
    before: dict[str, Any]
    # None until compared: then whether anything differed from `before`, and what was there after.
    changed: bool | None = None
    after: dict[str, Any] | None = None

    @property
    def client(self) -> FlaskClient:
        """Return the app's test client."""
        return self.classroom.client

    def assert_unchanged(self) -> None:
        """Assert that every collection and queue is as it was before the test's request."""
        self.after = api.snapshot(self.classroom.app)
        self.changed = self.after != self.before
        assert self.after == self.before


class PeerReviewHost:
    """One peer-review app for a test module and the worlds built in it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.classroom = Classroom(app)
        self._shared: PeerReviewWorld | None = None
        # The snapshot the last test of the shared world left it in, when it changed nothing.
        self._settled: dict[str, Any] | None = None

    @property
    def client(self) -> FlaskClient:
        """Return the app's test client."""
        return self.classroom.client

    def empty(self) -> None:
        """Empty every collection (keeping the indexes) and the app's Redis database; reset the clock."""
        database = api.database(self.app)
        for name in database.list_collection_names():
            database[name].delete_many({})
        runtime = self.app.extensions["connective"].dependencies.runtime
        runtime.redis.connection.flushdb()
        runtime.clock = utc_now

    def empty_classroom(self) -> Classroom:
        """Empty everything and return a classroom with nothing in it, for a test that builds its own."""
        self._shared = None
        self._settled = None
        self.empty()
        self.classroom = Classroom(self.app)
        return self.classroom

    def fresh(self) -> PeerReviewWorld:
        """Build the world again from nothing, for a request that changes it."""
        return build_world(self.empty_classroom())

    @contextmanager
    def shared(self) -> Iterator[Unchanged]:
        """Yield the module's shared world, built once, with a snapshot taken now.

        A test that changed it (whether or not it got as far as comparing) makes the next test build it
        afresh, so a request that wrongly changes something fails its own test and no other. One that
        changed nothing hands its closing snapshot on as the next test's opening one (nothing runs between
        two tests of a module, and this halves the snapshots a module of refusals takes).
        """
        if self._shared is None:
            self._shared = self.fresh()
        before, self._settled = self._settled or api.snapshot(self.app), None
        view = Unchanged(self.classroom, self._shared, before)
        try:
            yield view
        finally:
            if view.changed is None:
                view.after = api.snapshot(self.app)
                view.changed = view.after != view.before
            if view.changed:
                self._shared = None
            else:
                self._settled = view.after


def peer_review_settings(redis_url: str, mongo_url: str, database_prefix: str) -> Settings:
    """Return the peer-review service's settings on these servers, as tests/conftest.py makes them."""
    environ = {
        "MONGO_URL": mongo_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": SECRET,
        "MONGO_DB_PREFIX": database_prefix,
        **NO_RATE_LIMITS,
    }
    return Settings.from_env("peer_review", environ)


@contextmanager
def hosted_peer_review(redis_url: str, mongo_url: str, database_prefix: str) -> Iterator[PeerReviewHost]:
    """Run a peer-review app for one module; its data is wiped when the module is done."""
    host = PeerReviewHost(create_app(peer_review_settings(redis_url, mongo_url, database_prefix)))
    try:
        yield host
    finally:
        host.empty()
        host.app.extensions["connective"].dependencies.runtime.mongo.close()
