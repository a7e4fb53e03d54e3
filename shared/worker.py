"""Queue workers: an RQ worker per service, plus housekeeping (outbox relay, repair) on a timer."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TypeVar

import redis
import structlog
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import SchedulerNotFound, StopRequested
from rq.executions import Execution
from rq.registry import StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from shared.queues import make_queue
from shared.redisconn import RedisProvider

log = structlog.get_logger(__name__)
W = TypeVar("W", bound=SimpleWorker)

# Abandoned jobs (a worker killed mid-job) are found by RQ's maintenance pass; run it every minute.
MAINTENANCE_INTERVAL_SECONDS = 60
# A worker whose RQ loop quit on a lost Redis is started again after this pause, doubled while it keeps failing.
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
# How often the worker looks for jobs taken from its queue but never started (StuckJobs). A job is taken and
# started within milliseconds; passes this far apart never mistake a worker starved of CPU for a lost one
# (handing back a job its worker then starts too would run it twice at once).
STUCK_JOBS_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class PeriodicTask:
    """Work a worker process repeats on a timer, such as relaying the outbox."""

    name: str
    interval_seconds: float
    run: Callable[[], object]


class Housekeeper:
    """Runs periodic tasks in a daemon thread beside the queue worker, each failure logged and survived."""

    def __init__(self, tasks: Sequence[PeriodicTask]) -> None:
        self.tasks = tuple(tasks)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """Run every task once (start-up repair runs before the worker takes jobs)."""
        for task in self.tasks:
            self._run(task)

    def _run(self, task: PeriodicTask) -> None:
        try:
            result = task.run()
            if result:
                log.info("housekeeping_done", task=task.name, result=result)
        except Exception as error:
            log.exception("housekeeping_failed", task=task.name, error=str(error))

    def _loop(self) -> None:
        if not self.tasks:
            return
        tick = min(task.interval_seconds for task in self.tasks)
        elapsed = dict.fromkeys((task.name for task in self.tasks), 0.0)
        while not self._stop.wait(tick):
            for task in self.tasks:
                elapsed[task.name] += tick
                if elapsed[task.name] >= task.interval_seconds:
                    elapsed[task.name] = 0.0
                    self._run(task)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the timer thread to stop."""
        self._stop.set()


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can run outside the main thread (the in-process fallback mode)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        """Leave signals to the host process: only the main thread may install handlers."""


def _worker(worker_class: type[W], queue_name: str, connection: redis.Redis, name: str) -> W:
    """Return a worker of the queue with the JSON serializer and RQ's maintenance every minute."""
    return worker_class(
        [make_queue(queue_name, connection)],
        connection=connection,
        serializer=JSONSerializer,
        name=f"{name}.{socket.gethostname()}.{threading.get_native_id()}",
        maintenance_interval=MAINTENANCE_INTERVAL_SECONDS,
    )


class ServiceWorker(SimpleWorker):
    """A SimpleWorker that remembers whether it was asked to stop, and keeps its scheduler running.

    RQ's scheduler is a child process of the worker that ends on any Redis error (a Redis restart, or
    Redis still loading its data), and while none runs, the queue's retries wait. RQ starts it again at
    its maintenance, which it runs between jobs and when its wait for a job times out: after
    `worker_ttl - 15` s, 405 s by default, on an idle queue. This worker waits no longer than a
    maintenance interval, so a dead scheduler is back within a minute.
    """

    stop_asked = False

    @property
    def dequeue_timeout(self) -> int:
        """Wait for a job no longer than the maintenance interval, so an idle worker still runs it."""
        return MAINTENANCE_INTERVAL_SECONDS

    def run_maintenance_tasks(self) -> None:
        """Say so if this worker's scheduler died, then run RQ's maintenance (which starts another)."""
        process = self.scheduler._process if self.scheduler is not None else None
        if process is not None and not process.is_alive():
            log.warning("scheduler_restarting", queue=self.queues[0].name, exit_code=process.exitcode)
        super().run_maintenance_tasks()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Note the request, then stop as RQ does: after the job in hand."""
        self.stop_asked = True
        super().request_stop(signum, frame)


def _ended(hostname: str | None, pid: int | None) -> bool:
    """Return whether a process registered from this host under this pid has certainly ended."""
    if hostname != socket.gethostname() or not pid:
        # Another host's process cannot be checked from here: RQ's own timeouts deal with it.
        return False
    if pid == os.getpid():
        # This process holds the pid now and has no worker running: the one registered with it is gone (an
        # earlier worker of this process, or a container started again, its worker PID 1 once more).
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # Killed but not yet reaped (a zombie, as a killed worker's scheduler is until init collects it): ended too.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in {"Z", "X"}


def _registered(connection: redis.Redis, worker_name: str) -> bool:
    """Return whether a worker of this name is registered and not marked dead."""
    key = f"{Worker.redis_worker_namespace_prefix}{worker_name}"
    return bool(connection.exists(key)) and not connection.hexists(key, "death")


def _abandon(registry: StartedJobRegistry, expired: dict[str, float]) -> None:
    """Give these entries of the started registry (`job id:execution id`) RQ's handling of an abandoned job."""
    if expired:
        # Entered as having run out, RQ's clean-up retries each job, or fails it when no retry is left.
        registry.connection.zadd(registry.key, expired)
        registry.cleanup()


class StuckJobs:
    """Hands back jobs a worker took from the queue but never started, on two passes half a minute apart.

    A worker takes a job by moving it to the queue's intermediate list, then registers its execution
    within milliseconds. A worker that lost Redis before it heard the answer to the move (a Redis restart)
    never does, and RQ hands such a job back only after a minute, at a maintenance pass that comes once a
    minute. A job seen in the list on one pass and still not started on the next is stuck for certain.
    """

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._seen: set[str] = set()

    def run(self) -> int:
        """Hand back what was stuck since the last pass; return how many jobs."""
        registry = self.queue.started_job_registry
        started = set(registry.get_job_ids(cleanup=False))
        waiting = set(self.queue.intermediate_queue.get_job_ids()) - started
        stuck = waiting & self._seen
        self._seen = waiting - stuck
        for job_id in stuck:
            self.queue.intermediate_queue.remove(job_id)
        _abandon(registry, {f"{job_id}:{uuid.uuid4().hex}": 0 for job_id in stuck})
        return len(stuck)


def recover_abandoned_jobs(queue: Queue) -> list[str]:
    """Hand back at once what dead workers of the queue left; return the names of the dead ones of this host.

    RQ alone notices a SimpleWorker's job abandoned only after its heartbeat runs out (the job's timeout
    plus 60 s) at its next maintenance pass (up to a minute later), and a killed worker's scheduler lock
    keeps the queue's retries waiting for another 61 s. A worker that is starting can tell sooner: a worker
    of this host whose registered pid is no longer alive is dead (killed, or a container started again),
    and so is one no longer registered at all. Their unfinished executions get RQ's own handling of an
    abandoned job at once (retried, or failed when no retry is left); a dead scheduler's lock is released,
    and the dead registrations are closed.
    """
    connection = queue.connection
    dead = [other for other in Worker.all(queue=queue, serializer=JSONSerializer) if _ended(other.hostname, other.pid)]
    names = {other.name for other in dead}
    for other in dead:
        other.register_death()
    registry = queue.started_job_registry
    expired: dict[str, float] = {}
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        try:
            execution = Execution.fetch(execution_id, job_id, connection)
        except ValueError:
            continue
        if execution.worker_name in names or not _registered(connection, execution.worker_name):
            expired[execution.composite_key] = 0
    _abandon(registry, expired)
    lock_key = RQScheduler.get_locking_key(queue.name)
    holder = connection.get(lock_key)
    if holder:
        try:
            name = holder.decode() if isinstance(holder, bytes) else str(holder)
            scheduler: RQScheduler | None = RQScheduler.fetch(name, connection)
        except SchedulerNotFound:
            scheduler = None
        if scheduler is not None and _ended(scheduler.hostname, scheduler.pid):
            release_lock(connection, lock_key, scheduler.name)
            scheduler.register_death()
    if names or expired:
        log.warning("abandoned_jobs_recovered", queue=queue.name, dead_workers=sorted(names), jobs=len(expired))
    return sorted(names)


def run_worker(
    *,
    service: str,
    queue_name: str,
    redis_provider: RedisProvider,
    tasks: Sequence[PeriodicTask] = (),
    burst: bool = False,
    log_level: str = "INFO",
) -> bool:
    """Consume the service's queue in this process until stopped; return whether it ended cleanly."""
    connection = redis_provider.connection
    stuck = StuckJobs(make_queue(queue_name, connection))
    housekeeper = Housekeeper([*tasks, PeriodicTask("stuck_jobs", STUCK_JOBS_INTERVAL_SECONDS, stuck.run)])
    # Repair what a previous crash left before taking new jobs.
    housekeeper.run_once()
    housekeeper.start()
    delay = RESTART_DELAY_SECONDS
    try:
        while True:
            # SimpleWorker runs jobs in this process (about 3x the throughput of forking per job on two cores);
            # a crash mid-job is recovered by the abandoned-job handling and the idempotent consumers.
            worker = _worker(ServiceWorker, queue_name, connection, service)
            started = time.monotonic()
            try:
                recover_abandoned_jobs(worker.queues[0])
                log.info("worker_starting", queue=queue_name, worker=worker.name)
                worker.work(burst=burst, with_scheduler=True, logging_level=log_level)
            except redis.exceptions.RedisError as error:
                log.warning("worker_redis_lost", queue=queue_name, error=str(error))
            else:
                if burst or worker.stop_asked:
                    return True
            # RQ's loop quits on a Redis error it meets outside its wait for a job (recording a job's result,
            # a heartbeat, its maintenance): a Redis restart would end the process. Start a new worker instead,
            # after a pause that grows while it keeps failing at once.
            delay = RESTART_DELAY_SECONDS if time.monotonic() - started > MAX_RESTART_DELAY_SECONDS else delay
            log.warning("worker_restarting", queue=queue_name, after_seconds=delay)
            try:
                time.sleep(delay)
            except StopRequested:
                return True
            # A stop asked meanwhile reached the last worker's handlers, which are still installed.
            if worker.stop_asked:
                return True
            delay = min(2 * delay, MAX_RESTART_DELAY_SECONDS)
    finally:
        housekeeper.stop()


def start_inline_worker(
    *, service: str, queue_name: str, redis_provider: RedisProvider, tasks: Sequence[PeriodicTask] = ()
) -> threading.Thread:
    """Consume the queue in a thread of this process (fallback when there is no shared database)."""
    housekeeper = Housekeeper(tasks)
    housekeeper.start()

    def consume() -> None:
        worker = _worker(ThreadWorker, queue_name, redis_provider.connection, f"{service}.inline")
        log.warning("inline_worker_starting", queue=queue_name)
        worker.work(with_scheduler=True)

    thread = threading.Thread(target=consume, name=f"{service}-inline-worker", daemon=True)
    thread.start()
    return thread
