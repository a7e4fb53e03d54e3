"""A worker that starts hands back at once what a worker of its queue killed on this host left behind."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Retry, SimpleWorker, Worker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from shared import worker as worker_module
from shared.queues import make_queue
from shared.redisconn import RedisProvider
from shared.worker import StuckJobs, _worker, recover_abandoned_jobs

QUEUE = "leaderboards"


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def ended_pid() -> int:
    """Return the pid of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def zombie_pid() -> Iterator[int]:
    """Return the pid of a process that has ended but is not reaped yet, as a killed worker's scheduler is."""
    process = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child did not end"
        time.sleep(0.01)
    yield process.pid
    process.wait()


@pytest.fixture
def live_pid() -> Iterator[int]:
    """Return the pid of a process that runs for the test."""
    process = subprocess.Popen(["sleep", "60"])
    yield process.pid
    process.kill()
    process.wait()


def registered_worker(connection: redis.Redis, name: str, pid: int, hostname: str | None = None) -> SimpleWorker:
    """Register a worker of the queue on this host (or another) under this pid, as it would register itself."""
    worker = _worker(SimpleWorker, QUEUE, connection, name)
    worker.pid = pid
    worker.hostname = hostname or worker.hostname
    worker.register_birth()
    return worker


def running(connection: redis.Redis, worker: SimpleWorker, *, retries: int) -> Job:
    """Return a job the worker has taken and is running (or was, when it died)."""
    queue = make_queue(QUEUE, connection)
    retry = Retry(max=retries, interval=5) if retries else None
    job = queue.enqueue_call("services.leaderboards.jobs.handle_events", args=([],), retry=retry)
    queue.remove(job)
    with connection.pipeline() as pipeline:
        Execution.create(job, ttl=3600, pipeline=pipeline, worker_name=worker.name)
        job.set_status(JobStatus.STARTED, pipeline=pipeline)
        pipeline.execute()
    worker.set_current_job_id(job.id)
    return job


def status(connection: redis.Redis, job: Job) -> JobStatus | None:
    return Job.fetch(job.id, connection=connection, serializer=JSONSerializer).get_status()


def test_a_dead_workers_jobs_are_retried_or_failed_and_its_scheduler_lock_released(
    connection: redis.Redis, ended_pid: int, zombie_pid: int, live_pid: int
) -> None:
    queue = make_queue(QUEUE, connection)
    dead = registered_worker(connection, "leaderboards-dead", ended_pid)
    alive = registered_worker(connection, "leaderboards-alive", live_pid)
    retried, failed = running(connection, dead, retries=2), running(connection, dead, retries=0)
    untouched = running(connection, alive, retries=2)
    scheduler = RQScheduler([queue], connection=connection, name="dead-scheduler")
    scheduler.register_birth()
    scheduler.pid = zombie_pid
    scheduler.save()
    lock = RQScheduler.get_locking_key(QUEUE)
    connection.set(lock, scheduler.name, ex=61)

    assert recover_abandoned_jobs(make_queue(QUEUE, connection)) == [dead.name]

    # As RQ's clean-up treats an abandoned job: retried while it has retries, failed otherwise.
    assert status(connection, retried) == JobStatus.SCHEDULED
    assert status(connection, failed) == JobStatus.FAILED
    assert queue.failed_job_registry.get_job_ids() == [failed.id]
    assert status(connection, untouched) == JobStatus.STARTED
    assert queue.started_job_registry.get_job_ids(cleanup=False) == [untouched.id]
    assert connection.get(lock) is None
    assert [worker.name for worker in Worker.all(queue=queue)] == [alive.name]
    # Nothing more to hand back the second time.
    assert recover_abandoned_jobs(make_queue(QUEUE, connection)) == []


def test_a_worker_started_again_under_its_predecessors_pid_and_name_can_register(connection: redis.Redis) -> None:
    # A container started again: the same hostname, and the worker is PID 1 again, so the same name. RQ
    # refuses a second registration of a name not marked dead; the predecessor's is marked dead first.
    predecessor = registered_worker(connection, "leaderboards", os.getpid())
    successor = _worker(SimpleWorker, QUEUE, connection, "leaderboards")
    assert successor.name == predecessor.name
    with pytest.raises(ValueError, match="exists an active worker"):
        successor.register_birth()

    assert recover_abandoned_jobs(make_queue(QUEUE, connection)) == [predecessor.name]
    successor.register_birth()
    assert [worker.name for worker in Worker.all(queue=make_queue(QUEUE, connection))] == [successor.name]


def test_a_job_of_a_worker_no_longer_registered_is_retried_wherever_it_ran(connection: redis.Redis) -> None:
    # A worker of another host that quit mid-job (a cold shutdown): its pid cannot be checked from here, but
    # it marked itself dead, so nobody runs the job any more.
    gone = registered_worker(connection, "leaderboards-elsewhere", 4242, hostname="another-host")
    job = running(connection, gone, retries=1)
    gone.register_death()

    assert recover_abandoned_jobs(make_queue(QUEUE, connection)) == []
    assert status(connection, job) == JobStatus.SCHEDULED


def test_a_job_left_in_the_intermediate_list_by_a_worker_that_lost_redis_is_retried(connection: redis.Redis) -> None:
    # The worker's BLMOVE moved the job to the intermediate list, and Redis went away before the answer came.
    queue = make_queue(QUEUE, connection)
    job = queue.enqueue_call("services.leaderboards.jobs.handle_events", args=([],), retry=Retry(max=1, interval=5))
    connection.lmove(queue.key, queue.intermediate_queue.key)
    # Another job, taken by a live worker that has started it: never touched.
    alive = registered_worker(connection, "leaderboards-alive", os.getpid())
    connection.rpush(queue.intermediate_queue.key, running(connection, alive, retries=1).id)
    stuck = StuckJobs(queue)

    assert stuck.run() == 0, "a job seen once may be on its way to a worker"
    assert stuck.run() == 1
    assert status(connection, job) == JobStatus.SCHEDULED
    assert len(queue.intermediate_queue.get_job_ids()) == 1
    assert stuck.run() == 0


class FlakyWorker:
    """Stands in for the RQ worker: its loop quits as RQ's does on a lost Redis, until it is asked to stop."""

    made: list[FlakyWorker] = []
    outcomes: list[BaseException | None] = []

    def __init__(self) -> None:
        self.queues = [None]
        self.name = f"flaky-{len(self.made)}"
        self.stop_asked = False
        self.made.append(self)

    def work(self, **_options: object) -> bool:
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        self.stop_asked = not self.outcomes
        return True


def test_a_worker_whose_loop_quits_on_a_lost_redis_is_started_again_until_asked_to_stop(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    # First Redis is gone while the worker starts (an error out of work()), then RQ's loop quits on its own
    # (work() returns though nobody asked), then a stop is asked.
    FlakyWorker.made = []
    FlakyWorker.outcomes = [redis.exceptions.ConnectionError("gone"), None, None]
    pauses: list[float] = []
    monkeypatch.setattr(worker_module, "_worker", lambda *_args: FlakyWorker())
    monkeypatch.setattr(worker_module, "recover_abandoned_jobs", lambda _queue: [])
    monkeypatch.setattr(worker_module.time, "sleep", pauses.append)

    assert worker_module.run_worker(service="leaderboards", queue_name=QUEUE, redis_provider=RedisProvider(redis_url))
    assert len(FlakyWorker.made) == 3
    assert pauses == [1.0, 2.0]


def test_an_idle_worker_runs_its_maintenance_every_interval_so_a_dead_scheduler_is_started_again(
    connection: redis.Redis,
) -> None:
    # RQ starts a dead scheduler again (the queue's retries wait meanwhile) only at its maintenance, which
    # an idle RQ worker reaches when its wait for a job times out: after 405 s by default.
    service_worker = _worker(worker_module.ServiceWorker, QUEUE, connection, "leaderboards-idle")
    plain = _worker(SimpleWorker, QUEUE, connection, "leaderboards-plain")
    assert service_worker.dequeue_timeout <= worker_module.MAINTENANCE_INTERVAL_SECONDS < plain.dequeue_timeout
    assert service_worker.maintenance_interval == worker_module.MAINTENANCE_INTERVAL_SECONDS
