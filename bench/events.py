"""Events applied per second by one leaderboards worker, against RQ alone; and an action's delay to the board.

1. Throughput. N events (`resource.shared` and `review.submitted`, spread over ~300 learners, each earning
   an entry under the caps) are published as the producers publish them, `EventPublisher.publish`: one RQ
   job per call carrying its list, here --batch events a call. ONE worker process consumes them: the
   service's own `python -m services.leaderboards.worker` (RQ SimpleWorker) on real Redis and FerretDB.
   Timed from the first enqueue until every job has finished and the ledger holds every entry (or until
   --time-limit, when what was applied by then counts and the figure says so).
   One more batch is then applied in this process, by the service's use case, to count its database round
   trips (a pymongo CommandListener, redis-py's sends) and the time spent in MongoDB.
   The baseline is what RQ alone costs per job: the same N events enqueued one job each (with the
   publisher's options) for `noop`, a module-level function doing nothing, consumed by `rq worker` with
   the worker class (SimpleWorker) and serializer (JSON) the service uses. Target: >= 5x the baseline.
2. Latency. The challenges API and worker (its outbox relay) and the leaderboards worker and API run; new
   learners share a resource each (`POST /resources`) at a fixed rate, and the board is polled until each
   learner is on it. Prints the p50 and p99 of the delay from sending the POST to the points being on the
   board. The poller asks about up to 50 learners a request (`GET /leaderboards/global/members`, each
   learner's member view) every --poll-ms, so its load stays the same however many shares are in flight;
   every learner it saw is then checked to answer 200 on `GET /leaderboards/global/users/{learner}`.

Each measurement starts from nothing (Redis flushed, new databases) and is a steady-state figure: its
worker first takes a few warm-up jobs (imports, indexes, scripts). A missed target is reported, never fatal;
the exit status is 1 only when something went wrong (a failed job, a share refused, an entry counted twice).
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from pymongo import monitoring
from rq import Retry, Worker
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

from bench.harness import (
    BenchmarkError,
    MongoCommands,
    Stack,
    add_stack_arguments,
    bearer,
    counting_redis_round_trips,
    counts,
    percentile,
    print_machine,
    quiet_logging,
    received,
    resource_shared,
    review_submitted,
    run_main,
    stop_on_signals,
    verdict,
    wait_until,
)
from devstack.processes import REPO_ROOT
from devstack.servers import HOST
from services.leaderboards.domain.boards import MAX_MEMBERS
from shared.contracts.events import Event
from shared.queues import FAILURE_TTL_SECONDS, RESULT_TTL_SECONDS, RETRY_INTERVALS, EventPublisher, make_queue
from shared.redisconn import RedisProvider
from shared.registry import service
from shared.worker import MAINTENANCE_INTERVAL_SECONDS

LEADERBOARDS = service("leaderboards")
NOOP_QUEUE = "bench_noop"
NOOP_FUNCTION = "bench.events.noop"
LEDGER = "ledger"
WARMUP_EVENTS = 20
PROBE_WARMUP_EVENTS = 5
TARGET_RATIO = 5.0
WARMUP_SECONDS = 60.0
POLL_SECONDS = 0.01
POSTERS = 32
# Half shares (5 points, 10 a day at most), half reviews (10 points): 20 a learner stay under every daily cap.
MAX_EVENTS_PER_LEARNER = 20


def noop(envelope: Any) -> None:
    """Do nothing with an event: the baseline job, whose cost is RQ's alone."""
    del envelope


def make_events(count: int, learners: int, run: str) -> tuple[list[Event], list[str]]:
    """Return `count` events over `learners` learners in turn (ten cohorts), each sharing and reviewing alike."""
    names = [f"{run}-learner-{number:04d}" for number in range(learners)]
    events = [
        (resource_shared if (number // learners) % 2 == 0 else review_submitted)(
            names[number % learners], cohorts=(f"c{number % learners % 10}",)
        )
        for number in range(count)
    ]
    return events, names


# --------------------------------------------------------------------------------------------------------------
# Throughput


@dataclass(frozen=True)
class Drained:
    """One timed run: events applied out of those sent, in how many jobs, how long, and whether all were done."""

    events: int
    applied: int
    jobs: int
    seconds: float
    failed: int
    complete: bool

    @property
    def per_second(self) -> float:
        """Return events applied per second."""
        return self.applied / self.seconds

    def describe(self) -> str:
        """Return the run's details as printed after its rate."""
        jobs = f"{self.jobs:,} jobs in {self.seconds:.2f} s, {self.failed} failed"
        if self.complete:
            return f"({jobs}; {self.applied:,} of {self.events:,} applied)"
        return f"({jobs}; only {self.applied:,} of {self.events:,} applied within the time limit)"


class Jobs:
    """A queue with its finished and failed jobs, and the worker that consumes it."""

    def __init__(self, stack: Stack, queue_name: str) -> None:
        connection = stack.redis()
        self.queue_name = queue_name
        self.queue = make_queue(queue_name, connection)
        self._finished = FinishedJobRegistry(queue_name, connection=connection, serializer=JSONSerializer)
        self._failed = FailedJobRegistry(queue_name, connection=connection, serializer=JSONSerializer)
        self._connection = connection

    def done(self) -> tuple[int, int]:
        """Return how many jobs have finished and failed so far (a job being retried is neither)."""
        return self._finished.count, self._failed.count

    def wait_for_worker(self, timeout: float = 60.0) -> None:
        """Wait until a worker has registered for the queue."""
        wait_until(
            lambda: Worker.all(connection=self._connection, queue=self.queue),
            timeout=timeout,
            what=f"a worker of {self.queue_name}",
        )

    def wait_for(self, jobs: int, timeout: float) -> None:
        """Wait until `jobs` jobs in all have finished or failed; raise BenchmarkError after `timeout` seconds."""
        wait_until(lambda: sum(self.done()) >= jobs, timeout=timeout, what=f"{jobs} jobs of {self.queue_name}")


def drain(done: Callable[[], int], expected: int, started: float, limit: float) -> tuple[float, int, bool]:
    """Wait until `done()` reaches `expected` or `limit` seconds after `started` (perf_counter) have passed.

    Return how long it took, how many were done, and whether that was all of them.
    """
    while True:
        count = done()
        now = time.perf_counter()
        if count >= expected:
            return now - started, count, True
        if now - started >= limit:
            return now - started, count, False
        time.sleep(POLL_SECONDS)


def enqueue_one_per_event(jobs: Jobs, events: Sequence[Event], timeout: int) -> int:
    """Enqueue each event as its own no-op job, with the options the publisher gives its jobs; return the count."""
    for event in events:
        jobs.queue.enqueue_call(
            NOOP_FUNCTION,
            args=([event.to_dict()],),
            timeout=timeout,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
            failure_ttl=FAILURE_TTL_SECONDS,
            result_ttl=RESULT_TTL_SECONDS,
            description=f"1 event(s): {event.type}",
            meta={"event_ids": [event.id]},
        )
    return len(events)


def batched_throughput(stack: Stack, arguments: argparse.Namespace) -> Drained:
    """Time one leaderboards worker applying the events published in batches, until the ledger holds them all."""
    settings = stack.settings("leaderboards")
    publisher = EventPublisher(RedisProvider(stack.redis_url), job_timeout=settings.job_timeout_seconds)
    ledger = stack.mongo()[settings.database_name][LEDGER]
    jobs = Jobs(stack, LEADERBOARDS.queue)
    stack.start_process("leaderboards-worker", LEADERBOARDS.worker_command())
    jobs.wait_for_worker()

    warmup, warmup_learners = make_events(WARMUP_EVENTS, 10, "warmup")
    warmup_jobs = len(publisher.publish(warmup))
    jobs.wait_for(warmup_jobs, timeout=WARMUP_SECONDS)
    wait_until(
        lambda: _entries(ledger, warmup_learners) >= WARMUP_EVENTS,
        timeout=WARMUP_SECONDS,
        what="the warm-up entries in the ledger",
    )

    events, learners = make_events(arguments.events, arguments.learners, "run")
    started = time.perf_counter()
    batches = 0
    for first in range(0, len(events), arguments.batch):
        batches += len(publisher.publish(events[first : first + arguments.batch]))
    # Redis first (cheap to ask often), then the ledger once (each count is a query of FerretDB).
    seconds, _, _ = drain(lambda: sum(jobs.done()) - warmup_jobs, batches, started, arguments.time_limit)
    seconds, applied, complete = drain(
        lambda: _entries(ledger, learners), len(events), started, max(seconds, arguments.time_limit)
    )
    _, failed = jobs.done()
    stack.check_running()
    stack.stop_process("leaderboards-worker")
    return Drained(len(events), applied, batches, seconds, failed, complete)


@dataclass(frozen=True)
class BatchProbe:
    """One batch applied in this process, as the worker applies it: its time and its database round trips."""

    events: int
    ledger: int
    seconds: float
    mongo: dict[str, int]
    mongo_seconds: float
    redis: dict[str, int]

    def describe(self) -> str:
        """Return the probe as printed."""
        return (
            f"one batch of {self.events} applied in-process after the run (ledger of {self.ledger:,} entries): "
            f"{self.seconds:.2f} s, {self.mongo_seconds:.2f} s of it in MongoDB\n"
            f"    MongoDB {counts(self.mongo)}\n    Redis {counts(self.redis)}"
        )


def probe_batch(stack: Stack, arguments: argparse.Namespace) -> BatchProbe:
    """Apply one more batch for the run's learners with the service's use case here, counting what it sends."""
    from services.leaderboards.bootstrap import build  # noqa: PLC0415 - service code, only once the stack runs
    from services.leaderboards.usecases.awarding import apply_events  # noqa: PLC0415

    listener = MongoCommands()
    # Listeners registered globally apply to clients made afterwards: the one built here, connecting lazily.
    monitoring.register(listener)
    dependencies = build(stack.settings("leaderboards"))
    context = dependencies.context()
    # The first batch connects, creates the indexes and loads the scripts, as the worker's warm-up did.
    warmup, _ = make_events(PROBE_WARMUP_EVENTS, PROBE_WARMUP_EVENTS, "probe-warmup")
    apply_events(received(warmup), context=context)
    size = int(stack.mongo()[dependencies.runtime.settings.database_name][LEDGER].count_documents({}))
    events, _ = make_events(min(arguments.batch, arguments.learners), arguments.learners, "run")
    with counting_redis_round_trips() as sent:
        listener.armed = True
        started = time.perf_counter()
        apply_events(received(events), context=context)
        seconds = time.perf_counter() - started
        listener.armed = False
    dependencies.runtime.mongo.close()
    dependencies.runtime.redis.close()
    return BatchProbe(len(events), size, seconds, dict(listener.commands), listener.microseconds / 1e6, dict(sent))


def _entries(ledger: Any, learners: Sequence[str]) -> int:
    return int(ledger.count_documents({"user_id": {"$in": list(learners)}}))


def bare_rq_throughput(stack: Stack, arguments: argparse.Namespace) -> Drained:
    """Time `rq worker` (the service's worker class and serializer) running one no-op job per event."""
    jobs = Jobs(stack, NOOP_QUEUE)
    stack.start_process(
        "rq-noop-worker",
        [
            "rq",
            "worker",
            "--url",
            stack.redis_url,
            "--worker-class",
            "rq.SimpleWorker",
            "--serializer",
            "rq.serializers.JSONSerializer",
            "--with-scheduler",
            "--maintenance-interval",
            str(MAINTENANCE_INTERVAL_SECONDS),
            "--logging_level",
            arguments.log_level,
            "--path",
            str(REPO_ROOT),
            NOOP_QUEUE,
        ],
    )
    jobs.wait_for_worker()
    timeout = stack.settings("leaderboards").job_timeout_seconds
    warmup, _ = make_events(WARMUP_EVENTS, 10, "noop-warmup")
    warmup_jobs = enqueue_one_per_event(jobs, warmup, timeout)
    jobs.wait_for(warmup_jobs, timeout=WARMUP_SECONDS)

    events, _ = make_events(arguments.events, arguments.learners, "noop")
    started = time.perf_counter()
    enqueue_one_per_event(jobs, events, timeout)
    seconds, done, complete = drain(lambda: jobs.done()[0] - warmup_jobs, len(events), started, arguments.time_limit)
    _, failed = jobs.done()
    stack.check_running()
    stack.stop_process("rq-noop-worker")
    return Drained(len(events), done, len(events), seconds, failed, complete)


# --------------------------------------------------------------------------------------------------------------
# Latency at a sustained rate


@dataclass
class Action:
    """One learner's share: when it was sent, how it went, and when its points were seen on the board."""

    learner: str
    sent: float = 0.0
    answered: float | None = None
    status: int | None = None
    seen: float | None = None


@dataclass
class Tracker:
    """The actions of a run, shared by the poster threads and the poller."""

    actions: list[Action] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    posting_done: threading.Event = field(default_factory=threading.Event)
    polls: int = 0


def _share(base: str, action: Action) -> None:
    action.sent = time.perf_counter()
    url = f"https://example.org/bench/{action.learner}"
    try:
        response = requests.post(
            f"{base}/resources",
            json={"url": url, "title": "Pluto is a dwarf planet", "summary": "Since 2006.", "tags": ["astronomy"]},
            headers=bearer(action.learner, cohorts=("c1",)),
            timeout=10,
        )
        action.status = response.status_code
    except requests.RequestException:
        action.status = 0
    action.answered = time.perf_counter()


def _poll(members_url: str, tracker: Tracker, deadline: float, interval: float) -> None:
    """Ask the board about every shared-but-unseen learner each interval, until all are seen or time is up.

    One request names up to 50 learners (`/members`, the member view of each), so polling adds a request or
    two per interval to the machine, however many shares are in flight: it does not slow what it measures.
    """
    headers = bearer("bench-reader")
    with requests.Session() as session:
        while time.monotonic() < deadline:
            round_started = time.monotonic()
            with tracker.lock:
                pending = [action for action in tracker.actions if action.status == 201 and action.seen is None]
                finished = tracker.posting_done.is_set() and all(
                    action.seen is not None or (action.answered is not None and action.status != 201)
                    for action in tracker.actions
                )
            if finished:
                return
            for first in range(0, len(pending), MAX_MEMBERS):
                chunk = pending[first : first + MAX_MEMBERS]
                try:
                    response = session.get(
                        members_url,
                        params=[("around", "0"), *(("user_id", action.learner) for action in chunk)],
                        headers=headers,
                        timeout=10,
                    )
                except requests.RequestException:
                    continue
                answered = time.perf_counter()
                tracker.polls += 1
                if response.status_code != 200:
                    continue
                found = {item["user_id"] for item in response.json()["items"]}
                for action in chunk:
                    if action.learner in found:
                        action.seen = answered
            time.sleep(max(0.0, round_started + interval - time.monotonic()))


def _wait_on_board(board_url: str, learner: str, timeout: float = 30.0) -> None:
    def on_board() -> bool:
        return requests.get(f"{board_url}/{learner}", headers=bearer("bench-reader"), timeout=10).status_code == 200

    wait_until(on_board, timeout=timeout, what=f"{learner}'s member view answering 200")


def sustained_latency(stack: Stack, arguments: argparse.Namespace) -> tuple[Tracker, float]:
    """Share resources at a fixed rate and time each until its points are on the board; return them, seconds."""
    challenges = service("challenges")
    challenges_port = stack.ports["challenges"]
    challenges_url = stack.start_api(
        "challenges-api", challenges.api_command(host=HOST, port=challenges_port), challenges_port
    )
    stack.start_process("challenges-worker", challenges.worker_command())
    stack.start_process("leaderboards-worker", LEADERBOARDS.worker_command())
    leaderboards_port = stack.ports["leaderboards"]
    leaderboards_url = stack.start_api(
        "leaderboards-api", LEADERBOARDS.api_command(host=HOST, port=leaderboards_port), leaderboards_port
    )
    board_url = f"{leaderboards_url}/leaderboards/global/users"
    Jobs(stack, LEADERBOARDS.queue).wait_for_worker()

    # Warm-up: a few shares seen on the board, so every process has connected and loaded what it needs.
    warmup = [Action(f"warmup-sharer-{number}") for number in range(4)]
    for action in warmup:
        _share(challenges_url, action)
        if action.status != 201:
            raise BenchmarkError(f"POST /resources answered {action.status} in the warm-up")
    for action in warmup:
        _wait_on_board(board_url, action.learner)

    tracker = Tracker()
    count = int(arguments.rate * arguments.seconds)
    deadline = time.monotonic() + arguments.seconds + arguments.timeout
    poller = threading.Thread(
        target=_poll,
        args=(f"{leaderboards_url}/leaderboards/global/members", tracker, deadline, arguments.poll_ms / 1000),
        name="poller",
        daemon=True,
    )
    poller.start()
    started = time.perf_counter()
    # Enough posters that slow answers do not hold back the schedule (a share is sent when it is due).
    with ThreadPoolExecutor(max_workers=POSTERS, thread_name_prefix="poster") as posters:
        for number in range(count):
            due = started + number / arguments.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            action = Action(f"sharer-{number:05d}")
            with tracker.lock:
                tracker.actions.append(action)
            posters.submit(_share, challenges_url, action)
    tracker.posting_done.set()
    poller.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    stack.check_running()
    # What the poller saw, each learner's own member view must show too.
    for action in tracker.actions:
        if action.seen is not None:
            _wait_on_board(board_url, action.learner, timeout=5)
    sent = [action.sent for action in tracker.actions]
    return tracker, max(sent) - min(sent) if sent else 0.0


# --------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the events benchmark and print its figures; exit 1 if a job failed, a share was refused or counted twice."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.events", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000, help="events applied in the throughput runs")
    parser.add_argument("--learners", type=int, default=300, help="learners the events are spread over")
    parser.add_argument("--batch", type=int, default=100, help="events per published job")
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds a throughput run may take; then what was done counts"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="shares per second in the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the latency run shares for")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds polling goes on after the last share was sent"
    )
    parser.add_argument("--poll-ms", type=float, default=20.0, help="how often the board is asked about shares")
    add_stack_arguments(parser)
    arguments = parser.parse_args(argv)
    if min(arguments.events, arguments.learners, arguments.batch) < 1 or arguments.rate <= 0:
        parser.error("--events, --learners, --batch and --rate must be positive")
    if arguments.events > arguments.learners * MAX_EVENTS_PER_LEARNER:
        parser.error(f"over {MAX_EVENTS_PER_LEARNER} events a learner would run into the daily caps; raise --learners")
    stop_on_signals()
    quiet_logging()
    with Stack(
        mongo_url=arguments.mongo_url, log_level=arguments.log_level, web_concurrency=arguments.web_concurrency
    ) as stack:
        print_machine(stack, "Python: threads posting at a fixed rate, one thread polling (latency run)")
        print("workers: RQ SimpleWorker, JSON serializer, one process per queue")
        print(
            f"\nevents applied per second: {arguments.events:,} events (resource.shared, review.submitted) over "
            f"{arguments.learners} learners",
            flush=True,
        )
        bare = bare_rq_throughput(stack, arguments)
        stack.reset()
        batched = batched_throughput(stack, arguments)
        print(
            f"  one leaderboards worker, jobs of {arguments.batch:<5}{batched.per_second:9.1f} events/s  "
            f"{batched.describe()}"
        )
        print(f"  RQ alone, one no-op job per event {bare.per_second:9.1f} events/s  {bare.describe()}")
        ratio = batched.per_second / bare.per_second
        print(
            f"  ratio                             {ratio:9.2f}x RQ alone   target >= {TARGET_RATIO:g}x: "
            f"{verdict(ratio >= TARGET_RATIO)}",
            flush=True,
        )
        print(f"  {probe_batch(stack, arguments).describe()}", flush=True)

        stack.reset()
        print(
            f"\nlatency from POST /resources to the points on the board: {arguments.rate:g}/s for "
            f"{arguments.seconds:g} s, each by a new learner (fresh databases)",
            flush=True,
        )
        tracker, posted = sustained_latency(stack, arguments)
        actions = tracker.actions
        shared = [action for action in actions if action.status == 201]
        delays = [1000 * (action.seen - action.sent) for action in shared if action.seen is not None]
        posts = [1000 * (action.answered - action.sent) for action in shared if action.answered is not None]
        print(
            f"  delay to the board   p50 {percentile(delays, 0.5):8.1f} ms   p99 {percentile(delays, 0.99):8.1f} ms"
            f"   max {max(delays, default=math.nan):8.1f} ms"
        )
        print(f"  POST /resources      p50 {percentile(posts, 0.5):8.1f} ms   p99 {percentile(posts, 0.99):8.1f} ms")
        print(
            f"  {len(actions)} shares sent over {posted:.1f} s ({(len(actions) - 1) / max(posted, 1e-9):.1f}/s), "
            f"{len(shared)} answered "
            f"201, {len(delays)} seen on the board"
        )
        print(
            f"  the board was polled every {arguments.poll_ms:g} ms ({tracker.polls:,} requests) until "
            f"{arguments.timeout:g} s after the last share"
        )
        wrong = batched.failed + bare.failed + (len(actions) - len(shared)) + max(0, batched.applied - batched.events)
        return 1 if wrong else 0


if __name__ == "__main__":
    run_main(main, "bench.events")
