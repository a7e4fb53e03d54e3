"""End-to-end fixtures: every service as real processes (gunicorn APIs, RQ workers) on real servers."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pymongo
import pytest
import redis
import requests

from devstack.processes import ManagedProcess
from devstack.servers import RedisServer, free_port
from devstack.topology import SERVICES, service
from shared.settings import Settings
from tests.factories import SECRET, bearer, resource_body, token

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2) -> T:
    """Return the first truthy result of `probe`, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s; last result: {last!r}")


def log_tails(stack: Stack, names: Sequence[str] = (), lines: int = 40) -> str:
    """Return the last lines of these processes' logs (every process's, if none is named), to explain a failure."""
    chosen = [name for name in names if name in stack.processes] if names else list(stack.processes)
    return "\n".join(f"--- {name} ---\n{stack.processes[name].log_tail(lines)}" for name in chosen)


def until(
    stack: Stack,
    observe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    logs: Sequence[str] = (),
) -> T:
    """Return the first observation that is done, failing after `timeout` s with the last one and the logs."""
    seen: list[T] = []

    def probe() -> bool:
        seen[:] = [observe()]
        return done(seen[0])

    try:
        eventually(probe, timeout=timeout)
    except AssertionError as error:
        last = repr(seen[0]) if seen else "nothing"
        raise AssertionError(f"{error}\nlast observed: {last}\n{log_tails(stack, logs)}") from None
    return seen[0]


@dataclass
class Stack:
    """The running system: service URLs, the processes, and the environment they share."""

    env: dict[str, str]
    logs: Path
    redis_server: RedisServer
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def url(self, service_name: str, path: str) -> str:
        """Return the URL of a path on a service."""
        return f"{self.urls[service_name]}{path}"

    def start_api(self, service_name: str, *, port: int | None = None, name: str | None = None, **extra: str) -> str:
        """Start a service's API under gunicorn (on a free port unless given); return its base URL."""
        port = port or free_port()
        name = name or f"{service_name}-api"
        process = ManagedProcess(
            name,
            service(service_name).api_command(host="127.0.0.1", port=port),
            {**self.env, **extra},
            log_path=self.logs / f"{name}.log",
        ).start()
        base = f"http://127.0.0.1:{port}"
        process.wait_http_ok(f"{base}/healthz", timeout=60)
        self.processes[name] = process
        return base

    def start_worker(self, service_name: str, **extra: str) -> ManagedProcess:
        """Start (or restart) a service's queue worker with extra environment."""
        name = f"{service_name}-worker"
        previous = self.processes.pop(name, None)
        if previous is not None:
            previous.stop()
        process = ManagedProcess(
            name, service(service_name).worker_command(), {**self.env, **extra}, log_path=self.logs / f"{name}.log"
        ).start()
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        """Stop one process."""
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    def redis(self) -> redis.Redis:
        """Return a client of the stack's Redis."""
        return redis.Redis.from_url(self.env["REDIS_URL"])

    def wait_for_jobs(self, job_ids: list[str], timeout: float = 30.0) -> None:
        """Wait until these jobs have finished."""
        from rq.job import Job, JobStatus
        from rq.serializers import JSONSerializer

        connection = self.redis()

        def finished() -> bool:
            jobs = Job.fetch_many(job_ids, connection=connection, serializer=JSONSerializer)
            return all(job is not None and job.get_status() == JobStatus.FINISHED for job in jobs)

        eventually(finished, timeout=timeout)

    def wait_for_empty_queue(self, queue_name: str, timeout: float = 30.0) -> None:
        """Wait until nothing waits in the queue (jobs already taken may still be running)."""
        from shared.queues import make_queue

        queue = make_queue(queue_name, self.redis())
        eventually(lambda: queue.count == 0, timeout=timeout)

    def finished_jobs_carrying(self, queue_name: str, event_id: str) -> list[str]:
        """Return the ids of the queue's finished jobs whose batch carried this event."""
        from rq.job import Job
        from rq.registry import FinishedJobRegistry
        from rq.serializers import JSONSerializer

        connection = self.redis()
        registry = FinishedJobRegistry(queue_name, connection=connection, serializer=JSONSerializer)
        jobs = Job.fetch_many(registry.get_job_ids(), connection=connection, serializer=JSONSerializer)
        return [job.id for job in jobs if job is not None and event_id in job.meta.get("event_ids", [])]


@pytest.fixture(scope="module")
def stack(mongo_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Run the three APIs and three workers as `make run` and compose do, on a Redis of their own."""
    with running_stack(mongo_server_url, tmp_path_factory.mktemp("stack-logs")) as running:
        yield running


@contextlib.contextmanager
def running_stack(mongo_url: str, logs: Path, **settings: str) -> Iterator[Stack]:
    """Run the three APIs and three workers with these settings on top of the tests' own; stop them after."""
    redis_server = RedisServer().start()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(logs)),
        "MONGO_URL": mongo_url,
        "REDIS_URL": redis_server.url,
        "JWT_SECRET": SECRET,
        "MONGO_DB_PREFIX": f"e2e{uuid.uuid4().hex[:8]}_",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "WEB_CONCURRENCY": "1",
        "OUTBOX_INTERVAL_SECONDS": "0.5",
        "OUTBOX_GRACE_SECONDS": "1",
        "REPAIR_INTERVAL_SECONDS": "1",
        **settings,
    }
    running = Stack(env=env, logs=logs, redis_server=redis_server)
    ports = {spec.name: free_port() for spec in SERVICES}
    for spec in SERVICES:
        env[spec.url_variable] = f"http://127.0.0.1:{ports[spec.name]}"
    try:
        for spec in SERVICES:
            running.urls[spec.name] = running.start_api(spec.name, port=ports[spec.name])
            running.start_worker(spec.name)
        yield running
    finally:
        for name in list(running.processes):
            running.stop(name)
        redis_server.stop()


def get_json(url: str, token: str, **params: Any) -> Any:
    """GET a JSON document with a bearer token."""
    response = requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def standing_of(stack: Stack, user_id: str, board: str = "global") -> dict[str, Any] | None:
    """Return the user's row on a leaderboard, or None while they are not on it."""
    page = get_json(stack.url("leaderboards", f"/leaderboards/{board}"), token("reader"), limit=100)
    return next((entry for entry in page["entries"] if entry["user_id"] == user_id), None)


def points_of(stack: Stack, user_id: str) -> dict[str, Any]:
    """Return the user's points ledger: total, count and entries."""
    body: dict[str, Any] = get_json(stack.url("leaderboards", f"/users/{user_id}/points"), token(user_id))
    return body


def ledger_in_mongodb(stack: Stack, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Return these learners' ledger entries as MongoDB holds them (the API shows only those on the boards)."""
    settings = Settings.from_env("leaderboards", stack.env)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_url)
    try:
        return list(client[settings.database_name]["ledger"].find({"user_id": {"$in": list(user_ids)}}))
    finally:
        client.close()


def share_resource(stack: Stack, user_id: str, *, base_url: str | None = None, **headers: str) -> requests.Response:
    """Share a new resource as a learner of cohort c1, through the stack's challenges API unless told another."""
    return requests.post(
        f"{base_url or stack.urls['challenges']}/resources",
        json=resource_body(),
        headers={**bearer(user_id, "learner", cohorts=("c1",)), **headers},
        timeout=10,
    )
