"""Faults under a steady load of real actions: workers killed, Redis restarted, FerretDB stopped, an API gone.

Each test runs a bounded load over HTTP (learners sharing resources, endorsing them, submitting to a
challenge, reviewing each other, reading boards; a fixed number of actions a second for a fixed time, each
recorded with its answer) and injects one kind of fault while it runs. Meanwhile every answer must be a 2xx,
a 4xx, or a 503 that says when to come back (`Retry-After`): never a 500, never a hang (every client call has
a timeout, and none may run into it). Once the load is over and the stack has settled (bounded):

- nothing is lost: every accepted action's event is reflected where it lands (each shared resource has its
  ledger entry, each endorsement its entry, each submission its target at peer review, each review its
  entry), and no outbox still holds an event;
- nothing is doubled: one entry per resource, endorsement and review, every learner's total the sum of
  their entries, every all-time board what the ledger says, and `connective leaderboards rebuild` changes
  nothing in Redis;
- a job that failed for good is in its queue's failed registry, and `rq requeue` runs it to success.

The faults are seeded (`SEED`), so a failing run can be replayed. Each test prints one line of figures and
writes them as JSON into its tmp dir (`faults.json`). The stack is this module's own (its own Redis and
FerretDB, which the tests stop and start); each test starts from a settled, consistent stack.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pymongo
import pytest
import requests
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from devstack.servers import FerretDBServer, RedisServer, ensure_ferretdb, free_port
from devstack.topology import SERVICES
from services.leaderboards.domain.boards import Window, decode_points
from services.leaderboards.repository.boards import board_key
from services.leaderboards.repository.pending import PENDING_KEY
from shared.outbox import OUTBOX_SINCE_FIELD
from shared.queues import make_queue
from shared.registry import service
from shared.settings import Settings
from tests.e2e.conftest import Stack, log_tails
from tests.e2e.test_leaderboards_flow import rebuild, redis_boards
from tests.e2e.test_peer_review_flow import RUBRIC, call, teacher
from tests.factories import SECRET, bearer, challenge_body, resource_body, resource_shared_event, submission_body

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

SEED = 20261202
# The load: this many actions a second, for this long, from this many learners (new ones in every test).
RATE = 8.0
LOAD_SECONDS = 16.0
LEARNERS = 16
SENDERS = 16
# Every client call gives up after this long; an answer this slow counts as a hang. It is above the APIs'
# own bound on a dependency that does not answer (the drivers' 5 s), with room for a queue of requests.
CLIENT_TIMEOUT = (3.0, 20.0)
# Settling normally takes seconds. The bound covers RQ's own slowest path: a worker killed in the moment
# between taking its queue's scheduler lock and registering the scheduler leaves a lock nobody can tell is
# dead, so retries wait for it to expire (61 s) and for the next maintenance pass to take it (up to 60 s).
SETTLE_TIMEOUT = 150.0
COMMENT = "Clear and correct; one more example of where the sugar goes would help."
WEIGHTS = {"share": 35, "endorse": 25, "submit": 15, "review": 15, "read": 10}


# ---------------------------------------------------------------------------------------------------------------
# The stack: its own Redis and FerretDB, so the tests may stop them.


@dataclass
class FaultStack(Stack):
    """The e2e stack, with the FerretDB it runs on and the API ports (to start an API again on its port)."""

    ferretdb: FerretDBServer | None = None
    ports: dict[str, int] = field(default_factory=dict)
    mongo_client: pymongo.MongoClient[Any] | None = None

    @property
    def mongo(self) -> FerretDBServer:
        """Return the stack's FerretDB."""
        assert self.ferretdb is not None
        return self.ferretdb

    def database(self, service_name: str) -> pymongo.database.Database[Any]:
        """Return a service's database (through one client, which the fixture closes)."""
        if self.mongo_client is None:
            self.mongo_client = pymongo.MongoClient(self.mongo.url)
        return self.mongo_client[Settings.from_env(service_name, self.env).database_name]

    def check_running(self) -> None:
        """Fail, with the logs, if a process of the stack has exited."""
        exited = [name for name, process in self.processes.items() if not process.is_running]
        assert not exited, f"exited: {exited}\n{log_tails(self, exited)}"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """Run the three APIs (two gunicorn workers each) and the three workers on a Redis and FerretDB of their own."""
    ensure_ferretdb()
    logs = tmp_path_factory.mktemp("fault-logs")
    redis_server = RedisServer(data_dir=logs / "redis")
    ferretdb = FerretDBServer(data_dir=logs / "ferretdb")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(logs)),
        "JWT_SECRET": SECRET,
        "MONGO_DB_PREFIX": f"faults{uuid.uuid4().hex[:6]}_",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "WEB_CONCURRENCY": "2",
        "OUTBOX_INTERVAL_SECONDS": "0.5",
        "OUTBOX_GRACE_SECONDS": "1",
        "REPAIR_INTERVAL_SECONDS": "1",
    }
    running = FaultStack(env=env, logs=logs, redis_server=redis_server, ferretdb=ferretdb)
    try:
        env["REDIS_URL"] = redis_server.start().url
        env["MONGO_URL"] = ferretdb.start().url
        running.ports = {spec.name: free_port() for spec in SERVICES}
        for spec in SERVICES:
            env[spec.url_variable] = f"http://127.0.0.1:{running.ports[spec.name]}"
        for spec in SERVICES:
            running.urls[spec.name] = running.start_api(spec.name, port=running.ports[spec.name])
            running.start_worker(spec.name)
        yield running
    finally:
        for name in list(running.processes):
            running.stop(name)
        if running.mongo_client is not None:
            running.mongo_client.close()
        ferretdb.stop()
        redis_server.stop()


# ---------------------------------------------------------------------------------------------------------------
# The load: actions sent at a fixed rate from a thread, each recorded with its answers.


@dataclass
class Action:
    """One thing a learner did: its number (unique in the run), kind, who, when (seconds into the load), every
    answer it got, and the id of what it made when accepted."""

    number: int
    kind: str
    user_id: str
    at: float
    statuses: list[str] = field(default_factory=list)
    made: str | None = None
    target: str | None = None

    @property
    def accepted(self) -> bool:
        """Return whether the action's last answer was a 2xx that made something."""
        return self.made is not None


@dataclass
class World:
    """What the learners know while the load runs (guarded by `lock`): the challenge, the resources shared."""

    run: str
    challenge_id: str
    learners: list[str]
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    resources: list[tuple[str, str]] = field(default_factory=list)
    endorsed: set[tuple[str, str]] = field(default_factory=set)
    # Resources with an endorsement in flight: one at a time each (see `Load._prepare`).
    endorsing: set[str] = field(default_factory=set)
    submitted: set[str] = field(default_factory=set)

    @property
    def cohort(self) -> str:
        """Return the learners' cohort (the challenge's audience)."""
        return f"{self.run}-cohort"

    def headers(self, user_id: str) -> dict[str, str]:
        """Return a learner's Authorization header."""
        return bearer(user_id, "learner", cohorts=(self.cohort,))


@dataclass
class Recorder:
    """Every HTTP answer of the load, counted per service and status; the slowest answer."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[str] = field(default_factory=Counter)
    without_retry_after: list[str] = field(default_factory=list)
    slowest: float = 0.0
    slowest_call: str = ""

    def call(self, action: Action, service_name: str, method: str, url: str, **kwargs: Any) -> requests.Response | None:
        """Send one request of an action and record its answer; return it, or None on a transport error."""
        started = time.monotonic()
        outcome: str
        response: requests.Response | None = None
        try:
            response = requests.request(method, url, timeout=CLIENT_TIMEOUT, **kwargs)
            outcome = str(response.status_code)
        except requests.Timeout:
            outcome = "timeout"
        except requests.ConnectionError:
            # Refused, or cut before the answer came.
            outcome = "connection-error"
        elapsed = time.monotonic() - started
        with self.lock:
            self.statuses[f"{service_name} {outcome}"] += 1
            if elapsed > self.slowest:
                self.slowest, self.slowest_call = elapsed, f"{method} {url.split('/', 3)[-1]} -> {outcome}"
            if response is not None and response.status_code == 503 and "Retry-After" not in response.headers:
                self.without_retry_after.append(f"{method} {url}")
        action.statuses.append(f"{service_name} {outcome}")
        return response


class Load:
    """Sends RATE actions a second for `seconds` from a thread; every action is recorded."""

    def __init__(self, stack: FaultStack, world: World, recorder: Recorder, seconds: float = LOAD_SECONDS) -> None:
        self.stack = stack
        self.world = world
        self.recorder = recorder
        self.seconds = seconds
        self.actions: list[Action] = []
        # What went wrong in the test's own code while sending (never an answer: those are recorded).
        self.errors: list[str] = []
        self.started = 0.0
        self._thread = threading.Thread(target=self._send_all, name="load", daemon=True)

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        # The last action is sent at `seconds`; each answer takes at most the client timeout.
        self._thread.join(timeout=self.seconds + 2 * CLIENT_TIMEOUT[1] + 10)
        assert not self._thread.is_alive(), "the load did not finish in time"
        assert not self.errors, self.errors

    def elapsed(self) -> float:
        """Return the seconds since the load started."""
        return time.monotonic() - self.started

    def _send_all(self) -> None:
        count = int(RATE * self.seconds)
        kinds = list(WEIGHTS)
        with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="learner") as senders:
            for number in range(count):
                time.sleep(max(0.0, self.started + number / RATE - time.monotonic()))
                with self.world.lock:
                    kind = self.world.rng.choices(kinds, weights=[WEIGHTS[kind] for kind in kinds])[0]
                    action = self._prepare(number, kind)
                self.actions.append(action)
                senders.submit(self._send_recording_errors, action)

    def _send_recording_errors(self, action: Action) -> None:
        try:
            self._send(action)
        except Exception as error:
            self.errors.append(f"action {action.number} ({action.kind}): {error!r}")

    def _prepare(self, number: int, kind: str) -> Action:
        """Choose who acts and on what (under the world's lock), falling back to a share when nothing fits."""
        world = self.world
        rng = world.rng
        at = round(time.monotonic() - self.started, 3)
        # One endorsement of a resource at a time. FerretDB 1.x answers an update by reading the matching
        # document and then writing all of it back, so two endorsements of one resource at the same moment
        # can both be acknowledged and the later write drop the earlier (MongoDB applies a filter and its
        # write as one step); the README's compatibility notes say so.
        free = [(resource, owner) for resource, owner in world.resources if resource not in world.endorsing]
        if kind == "endorse" and free:
            resource_id, owner = rng.choice(free)
            endorser = rng.choice([learner for learner in world.learners if learner != owner])
            if (resource_id, endorser) not in world.endorsed:
                world.endorsed.add((resource_id, endorser))
                world.endorsing.add(resource_id)
                return Action(number, kind, endorser, at, target=resource_id)
        if kind == "submit":
            waiting = [learner for learner in world.learners if learner not in world.submitted]
            if waiting:
                learner = rng.choice(waiting)
                world.submitted.add(learner)
                return Action(number, kind, learner, at)
        if kind == "review" and world.submitted:
            return Action(number, kind, rng.choice(sorted(world.submitted)), at)
        if kind == "read":
            return Action(number, kind, rng.choice(world.learners), at)
        return Action(number, "share", rng.choice(world.learners), at)

    def _send(self, action: Action) -> None:
        urls, world, headers = self.stack.urls, self.world, self.world.headers(action.user_id)
        record = self.recorder.call
        if action.kind == "share":
            response = record(
                action,
                "challenges",
                "POST",
                f"{urls['challenges']}/resources",
                json=resource_body(title=f"Resource {action.number}", tags=[world.run]),
                headers=headers,
            )
            if response is not None and response.status_code == 201:
                action.made = response.json()["id"]
                with world.lock:
                    world.resources.append((action.made, action.user_id))
        elif action.kind == "endorse":
            url = f"{urls['challenges']}/resources/{action.target}/endorsements"
            try:
                response = record(action, "challenges", "POST", url, json={}, headers=headers)
            finally:
                with world.lock:
                    world.endorsing.discard(str(action.target))
            if response is not None and response.status_code == 201:
                action.made = f"{action.target}:{action.user_id}"
        elif action.kind == "submit":
            url = f"{urls['challenges']}/challenges/{world.challenge_id}/submissions"
            body = submission_body(content=f"Leaves make sugar from light, explained by {action.user_id}.")
            response = record(action, "challenges", "POST", url, json=body, headers=headers)
            if response is not None and response.status_code == 201:
                action.made = response.json()["id"]
        elif action.kind == "review":
            self._review(action, headers)
        else:
            board = f"{urls['leaderboards']}/leaderboards/cohort:{world.cohort}"
            page = record(action, "leaderboards", "GET", board, headers=headers)
            found = record(
                action,
                "challenges",
                "GET",
                f"{urls['challenges']}/resources",
                params={"tag": world.run},
                headers=headers,
            )
            if all(response is not None and response.status_code == 200 for response in (page, found)):
                action.made = "read"

    def _review(self, action: Action, headers: dict[str, str]) -> None:
        """Review an assignment the learner holds, or one claimed from the queue (nothing due: a 204)."""
        peer_review = self.stack.urls["peer_review"]
        record = self.recorder.call
        held = record(
            action,
            "peer_review",
            "GET",
            f"{peer_review}/assignments",
            headers=headers,
            params={"status": "assigned", "challenge_id": self.world.challenge_id},
        )
        if held is None or held.status_code != 200:
            return
        items = held.json()["items"]
        if items:
            assignment_id = items[0]["id"]
        else:
            claimed = record(
                action,
                "peer_review",
                "POST",
                f"{peer_review}/assignments/next",
                headers=headers,
                json={"challenge_id": self.world.challenge_id},
            )
            if claimed is None or claimed.status_code != 201:
                return
            assignment_id = claimed.json()["id"]
        body = {"scores": {"Accuracy": 3 + action.number % 3, "Clarity": 4}, "comment": COMMENT}
        reviewed = record(
            action,
            "peer_review",
            "POST",
            f"{peer_review}/assignments/{assignment_id}/review",
            json=body,
            headers=headers,
        )
        if reviewed is not None and reviewed.status_code == 201:
            action.made = reviewed.json()["id"]


# ---------------------------------------------------------------------------------------------------------------
# Settling: queues, registries and outboxes empty; failed jobs requeued.


def queues_busy(stack: FaultStack) -> dict[str, int]:
    """Return, per queue, what still waits or runs: queued, taken, started, scheduled for a retry, deferred."""
    connection = stack.redis()
    busy: dict[str, int] = {}
    for spec in SERVICES:
        queue = make_queue(spec.queue, connection)
        count = (
            queue.count
            + int(connection.llen(queue.intermediate_queue_key))
            + queue.started_job_registry.count
            + queue.scheduled_job_registry.count
            + queue.deferred_job_registry.count
        )
        if count:
            busy[spec.queue] = count
    if connection.zcard(PENDING_KEY):
        busy["lb:pending"] = int(connection.zcard(PENDING_KEY))
    return busy


def outboxes_pending(stack: FaultStack) -> dict[str, int]:
    """Return, per service and collection, how many documents still hold events the relay has to send."""
    pending: dict[str, int] = {}
    for name in ("challenges", "peer_review"):
        database = stack.database(name)
        for collection in database.list_collection_names():
            count = database[collection].count_documents({OUTBOX_SINCE_FIELD: {"$exists": True}})
            if count:
                pending[f"{name}.{collection}"] = count
    return pending


def settle(stack: FaultStack, timeout: float = SETTLE_TIMEOUT) -> float:
    """Wait until nothing waits in a queue, registry or outbox, twice a second apart; return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    quiet_since: float | None = None
    last: dict[str, int] = {}
    while time.monotonic() < deadline:
        stack.check_running()
        try:
            last = {**queues_busy(stack), **outboxes_pending(stack)}
        except (pymongo.errors.PyMongoError, OSError) as error:
            last = {type(error).__name__: 1}
        if last:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"the stack did not settle within {timeout:g} s: {last}\n{log_tails(stack, lines=25)}")


def failed_jobs(stack: FaultStack) -> dict[str, list[str]]:
    """Return the ids of the jobs in each queue's failed registry."""
    connection = stack.redis()
    found = {spec.queue: make_queue(spec.queue, connection).failed_job_registry.get_job_ids() for spec in SERVICES}
    return {queue: ids for queue, ids in found.items() if ids}


def requeue_failed(stack: FaultStack) -> int:
    """Requeue the failed jobs with `rq requeue --all` (as the runbook says), wait until each finished; count them."""
    failed = failed_jobs(stack)
    rq = Path(sys.executable).parent / "rq"
    for queue in failed:
        done = subprocess.run(
            [
                str(rq),
                "requeue",
                "--all",
                "--queue",
                queue,
                "--url",
                stack.env["REDIS_URL"],
                "-S",
                "rq.serializers.JSONSerializer",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    job_ids = [job_id for ids in failed.values() for job_id in ids]
    if job_ids:
        settle(stack)
        jobs = Job.fetch_many(job_ids, connection=stack.redis(), serializer=JSONSerializer)
        statuses = {job.id: job.get_status() for job in jobs if job is not None}
        assert statuses == dict.fromkeys(job_ids, JobStatus.FINISHED), statuses
        assert failed_jobs(stack) == {}
    return len(job_ids)


# ---------------------------------------------------------------------------------------------------------------
# Lost and doubled: what the databases and Redis hold, against what the load was told.


def ledger(stack: FaultStack) -> list[dict[str, Any]]:
    """Return every ledger entry."""
    return list(stack.database("leaderboards")["ledger"].find({}))


@dataclass
class Stored:
    """What the services hold after the load: resources, reviews, targets, and the ledger by rule and object."""

    resources: dict[str, dict[str, Any]]
    reviews: set[str]
    targets: set[str]
    entries: list[dict[str, Any]]
    per_object: dict[tuple[str, str | None], list[dict[str, Any]]]

    @classmethod
    def read(cls, stack: FaultStack) -> Stored:
        """Read it from the services' databases."""
        entries = ledger(stack)
        per_object: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
        for entry in entries:
            per_object[(entry["rule"], entry.get("object_id"))].append(entry)
        challenges, peer_review = stack.database("challenges"), stack.database("peer_review")
        return cls(
            resources={document["_id"]: document for document in challenges["resources"].find({})},
            reviews={document["_id"] for document in peer_review["reviews"].find({}, {"_id": 1})},
            targets={document["_id"] for document in peer_review["targets"].find({}, {"_id": 1})},
            entries=entries,
            per_object=per_object,
        )

    def entries_of(self, rule: str, object_id: str) -> int:
        """Return how many entries of the rule are about the object."""
        return len(self.per_object.get((rule, object_id), []))


def unreflected(stored: Stored, actions: list[Action]) -> list[str]:
    """Return the accepted actions whose result is not where it lands."""
    lost = []
    for action in actions:
        if not action.accepted:
            continue
        if action.kind == "share" and action.made not in stored.resources:
            lost.append(f"share {action.made}: no resource")
        if action.kind == "endorse" and action.user_id not in stored.resources[str(action.target)]["endorsers"]:
            lost.append(f"endorsement {action.made}: not recorded on the resource")
        if action.kind == "submit" and f"submission:{action.made}" not in stored.targets:
            lost.append(f"submission {action.made}: no target at peer review")
        if action.kind == "review" and action.made not in stored.reviews:
            lost.append(f"review {action.made}: not stored")
    return lost


def unearned_and_doubled(stored: Stored) -> tuple[list[str], list[str]]:
    """Return what stored work has no entry for, and what has more than one.

    Every stored resource, endorsement and review counts, whether its request was answered 201 or a 503
    came after its write. A graded target earns its author one standing grade (a later grade reverses the
    earlier) and each of its reviewers one accuracy award.
    """
    lost: list[str] = []
    doubled: list[str] = []
    for resource_id, document in stored.resources.items():
        shared = stored.entries_of("resource.shared", resource_id)
        endorsed, endorsements = stored.entries_of("resource.endorsed", resource_id), document["endorsement_count"]
        if shared != 1:
            (lost if shared == 0 else doubled).append(f"resource {resource_id}: {shared} resource.shared entries")
        if endorsed != endorsements:
            named = f"resource {resource_id}: {endorsed} resource.endorsed entries for {endorsements} endorsements"
            (lost if endorsed < endorsements else doubled).append(named)
    for review_id in stored.reviews:
        count = stored.entries_of("review.submitted", review_id)
        if count != 1:
            (lost if count == 0 else doubled).append(f"review {review_id}: {count} review.submitted entries")
    reversed_keys = {entry["reverses"] for entry in stored.entries if entry.get("reverses")}
    for (rule, object_id), found in stored.per_object.items():
        standing = [entry for entry in found if not entry.get("reverses") and entry["_id"] not in reversed_keys]
        if rule in {"submission.graded", "review.accurate"} and len(standing) > 1:
            doubled.append(f"{rule} {object_id}: {len(standing)} standing entries")
    return lost, doubled


def assert_totals_and_boards_are_the_ledger(stack: FaultStack, world: World) -> None:
    """Each learner's total is the sum of their entries; each all-time board holds the ledger's sums."""
    entries = ledger(stack)
    for learner in world.learners:
        mine = [entry for entry in entries if entry["user_id"] == learner]
        body = requests.get(
            f"{stack.urls['leaderboards']}/users/{learner}/points", headers=world.headers(learner), timeout=10
        ).json()
        assert (body["total"], body["count"]) == (sum(entry["points"] for entry in mine), len(mine)), learner
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in entries:
        for board in entry["boards"]:
            expected[board][entry["user_id"]] += entry["points"]
    connection = stack.redis()
    for board, sums in expected.items():
        scores = cast(
            list[tuple[bytes, float]], connection.zrange(board_key(board, Window.ALL, "all"), 0, -1, withscores=True)
        )
        shown = {member.decode(): decode_points(score) for member, score in scores}
        assert {user: points for user, points in shown.items() if points} == {
            user: points for user, points in sums.items() if points
        }, board


def assert_a_rebuild_changes_nothing(stack: FaultStack) -> None:
    """The boards, balances, counters and markers in Redis are exactly what a rebuild from the ledger makes."""
    connection = stack.redis()
    before = redis_boards(connection)
    assert "Rebuilt the boards from" in rebuild(stack)
    after = redis_boards(connection)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    shown = "\n".join(f"{key}: {before.get(key)!r:.400} -> {after.get(key)!r:.400}" for key in changed[:10])
    assert not changed, f"a rebuild changed {len(changed)} keys:\n{shown}"


# What the processes' logs say happened, counted per test: the recoveries the faults set off.
LOGGED = (
    "abandoned_jobs_recovered",
    "housekeeping_done",
    "worker_restarting",
    "outbox_publish_deferred",
    "outbox_relayed",
    "dependency_unavailable",
    "scheduler_restarting",
    "events_already_processed",
)


def logged(stack: FaultStack) -> Counter[str]:
    """Return how often the processes logged each recovery in LOGGED so far, with the counts the lines carry."""
    found: Counter[str] = Counter()
    for path in stack.logs.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if not any(f'"message": "{message}"' in line for message in LOGGED):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                # Two processes (a worker and its scheduler) writing one log at once can run lines together.
                continue
            message = record["message"]
            if message == "abandoned_jobs_recovered":
                found["dead_workers_found"] += len(record["dead_workers"])
                found["abandoned_jobs_handed_back"] += record["jobs"]
            elif message == "housekeeping_done":
                found["stuck_jobs_handed_back"] += record["result"] if record.get("task") == "stuck_jobs" else 0
            elif message == "outbox_relayed":
                found["events_relayed"] += record["count"]
            elif message == "events_already_processed":
                # Delivered again, or announced twice under one id (a fact graded by two workers at once).
                found["events_taken_once"] += record["count"]
            else:
                found[message] += 1
    return found


# ---------------------------------------------------------------------------------------------------------------
# A test's run: a world, the load with its faults, then the checks and the figures.


@dataclass
class Run:
    """One test: its stack and world, what the load recorded, the faults injected, when it began."""

    name: str
    stack: FaultStack
    world: World
    recorder: Recorder = field(default_factory=Recorder)
    faults: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    logged_before: Counter[str] = field(default_factory=Counter)

    def load(self) -> Load:
        """Return the load of this run, to start with `with`."""
        return Load(self.stack, self.world, self.recorder)


def a_run(name: str, stack: FaultStack, rng: random.Random) -> Run:
    """Publish a challenge for a new cohort of learners (two reviewers per submission); return the run."""
    run = f"faults-{uuid.uuid4().hex[:6]}"
    world = World(run=run, challenge_id="", learners=[f"{run}-l{index:02d}" for index in range(LEARNERS)], rng=rng)
    teacher_id = f"{run}-teacher"
    body = challenge_body(
        cohorts=[world.cohort],
        tags=[run],
        rubric=RUBRIC,
        review={"reviewers_per_submission": 2, "due_hours": 1, "blind": True},
    )
    created = call("POST", f"{stack.urls['challenges']}/challenges", teacher(teacher_id), 201, json=body)
    call("POST", f"{stack.urls['challenges']}/challenges/{created['id']}/publish", teacher(teacher_id), 200)
    world.challenge_id = created["id"]
    return Run(name=name, stack=stack, world=world, logged_before=logged(stack))


def bad_answers(recorder: Recorder, absent: tuple[str, ...] = ()) -> list[str]:
    """Return the answers no fault excuses: a 5xx but 503, a 503 without Retry-After, a timeout (a hang), or a
    connection refused or cut by an API that was running."""
    bad = []
    for name, count in recorder.statuses.items():
        service_name, outcome = name.split()
        unreachable = outcome == "connection-error" and service_name not in absent
        if outcome == "timeout" or unreachable or (outcome.startswith("5") and outcome != "503"):
            bad.append(f"{count} x {name}")
    return bad + [f"503 without Retry-After: {answer}" for answer in recorder.without_retry_after]


def finish(run: Run, load: Load, tmp_path: Path, *, absent: tuple[str, ...] = ()) -> dict[str, Any]:
    """Settle, requeue failed jobs, check lost and doubled, print and keep the figures; return them."""
    stack, recorder = run.stack, run.recorder
    settled = settle(stack)
    requeued = requeue_failed(stack)
    stored = Stored.read(stack)
    unearned, doubled = unearned_and_doubled(stored)
    lost = unreflected(stored, load.actions) + unearned
    figures: dict[str, Any] = {
        "test": run.name,
        "seed": SEED,
        "faults": run.faults,
        "actions_sent": len(load.actions),
        "accepted": sum(action.accepted for action in load.actions),
        "accepted_by_kind": dict(Counter(action.kind for action in load.actions if action.accepted)),
        "lost": len(lost),
        "doubled": len(doubled),
        "statuses": dict(sorted(recorder.statuses.items())),
        "slowest_answer_s": round(recorder.slowest, 2),
        "slowest_call": recorder.slowest_call,
        "recoveries_logged": dict(sorted((logged(stack) - run.logged_before).items())),
        "failed_jobs_requeued": requeued,
        "settled_in_s": round(settled, 1),
        "seconds": round(time.monotonic() - run.started, 1),
    }
    actions = [dataclasses.asdict(action) for action in load.actions]
    kept = {**figures, "lost_items": lost, "doubled_items": doubled, "actions": actions}
    (tmp_path / "faults.json").write_text(json.dumps(kept, indent=1))
    print(
        f"\n[faults] {run.name}: faults={len(run.faults)} ({'; '.join(run.faults)}) sent={figures['actions_sent']} "
        f"accepted={figures['accepted']} lost={len(lost)} doubled={len(doubled)} statuses={figures['statuses']} "
        f"slowest={figures['slowest_answer_s']}s ({recorder.slowest_call}) "
        f"recoveries={figures['recoveries_logged']} requeued={requeued} settled={figures['settled_in_s']}s "
        f"time={figures['seconds']}s"
    )
    assert not bad_answers(recorder, absent), bad_answers(recorder, absent)
    assert (lost, doubled) == ([], []), (lost[:10], doubled[:10])
    assert_totals_and_boards_are_the_ledger(stack, run.world)
    assert_a_rebuild_changes_nothing(stack)
    return figures


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """Return the test's own seeded random source."""
    return random.Random(f"{SEED}:{request.node.name}")  # noqa: S311 - reproducible faults, not a secret


def test_workers_killed_at_random_moments_lose_and_double_nothing(
    faulty: FaultStack, rng: random.Random, tmp_path: Path
) -> None:
    run = a_run("workers killed", faulty, rng)
    # Each worker killed three times, at seeded moments of the load, and started again at once.
    moments = sorted((rng.uniform(1.0, LOAD_SECONDS - 1.0), spec.name) for spec in SERVICES for _ in range(3))
    with run.load() as load:
        for moment, name in moments:
            time.sleep(max(0.0, moment - load.elapsed()))
            assert faulty.processes[f"{name}-worker"].kill() == -signal.SIGKILL
            faulty.start_worker(name)
            run.faults.append(f"kill -9 {name}-worker at {moment:.1f}s")
    finish(run, load, tmp_path)


def test_redis_restarted_mid_load_with_its_append_only_file_loses_and_doubles_nothing(
    faulty: FaultStack, rng: random.Random, tmp_path: Path
) -> None:
    run = a_run("Redis restarted", faulty, rng)
    assert faulty.redis().config_get("appendonly") == {"appendonly": "yes"}
    with run.load() as load:
        for moment in sorted(rng.uniform(low, low + 3.0) for low in (3.0, 9.0)):
            time.sleep(max(0.0, moment - load.elapsed()))
            faulty.redis_server.restart()
            run.faults.append(f"restart Redis (appendonly yes, same port and data dir) at {moment:.1f}s")
    finish(run, load, tmp_path)


def test_ferretdb_stopped_for_seconds_mid_load_loses_and_doubles_nothing(
    faulty: FaultStack, rng: random.Random, tmp_path: Path
) -> None:
    run = a_run("FerretDB stopped", faulty, rng)
    # A job that fails for good while FerretDB is away (it has no retries): the failed registry keeps it,
    # and `rq requeue` runs it to success once FerretDB is back.
    probe = resource_shared_event(f"{run.world.run}-probe", cohorts=[run.world.cohort])
    with run.load() as load:
        moment = rng.uniform(4.0, 7.0)
        time.sleep(max(0.0, moment - load.elapsed()))
        stopped = time.monotonic()
        with faulty.mongo.stopped():
            job = make_queue("leaderboards", faulty.redis()).enqueue_call(
                service("leaderboards").consumer_entrypoint,
                args=([probe.to_dict()],),
                timeout=2,
                meta={"event_ids": [probe.id]},
                at_front=True,
            )
            # Down for a few seconds at least, and until the probe has failed (the job before it may take the
            # driver's 5 s to give up).
            deadline = stopped + 20.0
            while job.get_status(refresh=True) != JobStatus.FAILED and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(max(0.0, stopped + 3.0 - time.monotonic()))
        assert job.get_status(refresh=True) == JobStatus.FAILED
        run.faults.append(
            f"FerretDB stopped at {moment:.1f}s for {time.monotonic() - stopped:.1f}s (same port, data dir)"
        )
    figures = finish(run, load, tmp_path)
    assert figures["failed_jobs_requeued"] >= 1
    (entry,) = [entry for entry in ledger(faulty) if entry["event_id"] == probe.id]
    assert entry["user_id"] == probe.data["owner_id"]


def test_an_api_gone_or_frozen_for_seconds_leaves_the_other_services_and_the_points_unharmed(
    faulty: FaultStack, rng: random.Random, tmp_path: Path
) -> None:
    # No service calls another over HTTP (they talk through events), so a neighbour gone or slow is an API its
    # clients cannot reach or wait for: the leaderboards API stopped (its calls refused at once), then the peer
    # review API frozen (SIGSTOP: connections wait in its backlog until SIGCONT). The other services answer as
    # before, and the points of what they accepted meanwhile still land: the workers never needed the APIs.
    run = a_run("an API gone, another frozen", faulty, rng)
    with run.load() as load:
        moment = rng.uniform(2.0, 4.0)
        time.sleep(max(0.0, moment - load.elapsed()))
        faulty.stop("leaderboards-api")
        time.sleep(4.0)
        faulty.start_api("leaderboards", port=faulty.ports["leaderboards"])
        run.faults.append(f"leaderboards API stopped at {moment:.1f}s for 4 s, started again on its port")
        moment = rng.uniform(9.0, 11.0)
        time.sleep(max(0.0, moment - load.elapsed()))
        frozen = faulty.processes["peer_review-api"]
        assert frozen.pid is not None
        os.killpg(frozen.pid, signal.SIGSTOP)
        try:
            time.sleep(3.0)
        finally:
            os.killpg(frozen.pid, signal.SIGCONT)
        run.faults.append(f"peer_review API frozen (SIGSTOP) at {moment:.1f}s for 3 s")
    figures = finish(run, load, tmp_path, absent=("leaderboards",))
    assert figures["statuses"].get("leaderboards connection-error"), "the absent API was called"
