"""Shared plumbing of the benchmarks: real servers and processes, load generation, and the report's figures.

Everything a benchmark starts (redis-server, FerretDB, gunicorn APIs, RQ workers) listens on 127.0.0.1 on a
free port, runs in its own process group and is stopped when the benchmark ends: normally, on an error, on
Ctrl-C or on SIGTERM. Every wait and every load run is bounded in time. Benchmarks print figures; they are
never tests (pytest collects `tests/` only).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self, TypeVar

import pymongo
import redis
import requests
from pymongo import monitoring

from devstack.processes import ManagedProcess
from devstack.servers import HOST, FerretDBServer, RedisServer, ensure_ferretdb, free_port
from shared.auth import mint_token
from shared.contracts.events import Event, EventType
from shared.contracts.payloads import load_payload
from shared.registry import SERVICES
from shared.settings import Settings

T = TypeVar("T")

# The benchmarks' own development secret; tokens are minted with it for the processes they start.
SECRET = "connective-benchmark-secret-of-at-least-32-bytes"  # noqa: S105 - development only
DEFAULT_WEB_CONCURRENCY = 2
STARTUP_TIMEOUT_SECONDS = 60.0
# A load run may overrun its duration by this much (wrk's last requests, a slow server) before it is killed.
LOAD_GRACE_SECONDS = 30.0
# Requests slower than this count as errors (wrk's --timeout, the Python generator's read timeout).
REQUEST_TIMEOUT_SECONDS = 10
GENERATORS = ("auto", "wrk", "python")


class BenchmarkError(RuntimeError):
    """Something a benchmark needs did not happen in time, or answered wrongly."""


def _terminate(signal_number: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signal_number)


def run_main(main: Callable[[], int], name: str) -> None:
    """Run a benchmark's main and exit with its status: 1 on a BenchmarkError, 130 on Ctrl-C (all stopped)."""
    try:
        status = main()
    except BenchmarkError as error:
        print(f"{name}: {error}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; every process it started has been stopped", file=sys.stderr)
        status = 130
    sys.exit(status)


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so `with` blocks stop every process (Ctrl-C already does)."""
    for signal_number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signal_number, _terminate)


def quiet_logging() -> None:
    """Keep the services' code run in this process (use cases, probe requests) from logging into the report."""
    from shared.observability import configure_logging  # noqa: PLC0415 - only benchmarks that run service code

    configure_logging("bench", "ERROR")


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Return the first truthy result of `probe`; raise BenchmarkError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise BenchmarkError(f"{what}: not done within {timeout:g} s (last: {result!r})")
        time.sleep(interval)


def token(user_id: str, *roles: str, cohorts: Sequence[str] = ()) -> str:
    """Return a token the started processes accept."""
    return mint_token(SECRET, user_id, roles or ("learner",), cohorts=tuple(cohorts))


def bearer(user_id: str, *roles: str, cohorts: Sequence[str] = ()) -> dict[str, str]:
    """Return an Authorization header the started processes accept."""
    return {"Authorization": f"Bearer {token(user_id, *roles, cohorts=cohorts)}"}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile (0 < fraction <= 1) of the values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def verdict(met: bool) -> str:
    """Return how a target is reported: met, or missed (a missed target never fails the run)."""
    return "met" if met else "MISSED"


# --------------------------------------------------------------------------------------------------------------
# The stack: servers and processes, all stopped at the end.


def _new_prefix() -> str:
    return f"bench{uuid.uuid4().hex[:8]}_"


class Stack:
    """Redis and FerretDB (or a given MongoDB) on free loopback ports, plus the processes started on them."""

    def __init__(
        self, *, mongo_url: str | None = None, log_level: str = "INFO", web_concurrency: int = DEFAULT_WEB_CONCURRENCY
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="connective-bench-"))
        self.prefix = _new_prefix()
        self._prefixes = [self.prefix]
        self.log_level = log_level
        self.web_concurrency = web_concurrency
        self.ports = {spec.name: free_port() for spec in SERVICES}
        self.redis_server: RedisServer | None = None
        self.ferretdb: FerretDBServer | None = None
        self._external_mongo = mongo_url
        self._processes: dict[str, ManagedProcess] = {}
        self._clients: list[Any] = []

    # Lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start Redis and, unless a MongoDB URL was given, FerretDB (building it first if it must)."""
        try:
            self.redis_server = RedisServer().start()
            # Automatic AOF rewrites fork Redis; one in the middle of a timed run would measure the fork.
            self.redis().config_set("auto-aof-rewrite-percentage", 0)
            if self._external_mongo is None:
                ensure_ferretdb()
                self.ferretdb = FerretDBServer().start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process (last started first), then the servers; drop the databases of a given MongoDB."""
        for name in reversed(list(self._processes)):
            self.stop_process(name)
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        if self._external_mongo is not None:
            with contextlib.suppress(Exception), pymongo.MongoClient(self._external_mongo) as client:
                for name in client.list_database_names():
                    if name.startswith(tuple(self._prefixes)):
                        client.drop_database(name)
        if self.ferretdb is not None:
            self.ferretdb.stop()
            self.ferretdb = None
        if self.redis_server is not None:
            self.redis_server.stop()
            self.redis_server = None

    def reset(self) -> None:
        """Start the next measurement from nothing: Redis flushed, new (empty) databases; no process may run."""
        if self._processes:
            raise RuntimeError(f"stop {', '.join(self._processes)} before resetting the stack")
        self.redis().flushall()
        self.prefix = _new_prefix()
        self._prefixes.append(self.prefix)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        failed = exception is not None and not isinstance(exception, KeyboardInterrupt | SystemExit)
        if failed:
            self._report_logs()
        self.stop()
        if failed:
            print(f"bench: the processes' logs are kept in {self.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _report_logs(self) -> None:
        for name, process in self._processes.items():
            tail = process.log_tail(15)
            if tail:
                print(f"bench: last lines of {name}:\n{tail}", file=sys.stderr)

    # What the processes share ------------------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        """Return the URL of the stack's Redis."""
        if self.redis_server is None:
            raise RuntimeError("the stack has not been started")
        return self.redis_server.url

    @property
    def mongo_url(self) -> str:
        """Return the URL of the stack's MongoDB wire-protocol server."""
        if self._external_mongo is not None:
            return self._external_mongo
        if self.ferretdb is None:
            raise RuntimeError("the stack has not been started")
        return self.ferretdb.url

    @property
    def env(self) -> dict[str, str]:
        """Return the environment every started process gets, as compose and `make run` give it."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.directory)),
            "MONGO_URL": self.mongo_url,
            "REDIS_URL": self.redis_url,
            "JWT_SECRET": SECRET,
            "MONGO_DB_PREFIX": self.prefix,
            "LOG_LEVEL": self.log_level,
            "PYTHONUNBUFFERED": "1",
            "WEB_CONCURRENCY": str(self.web_concurrency),
            "INLINE_WORKER": "false",
            "TIMEZONE": "UTC",
        }
        for spec in SERVICES:
            env[spec.url_variable] = f"http://{HOST}:{self.ports[spec.name]}"
        return env

    def settings(self, service_name: str) -> Settings:
        """Return a service's settings as its processes read them, for code run in this process."""
        return Settings.from_env(service_name, self.env)

    def redis(self) -> redis.Redis:
        """Return a client of the stack's Redis (closed when the stack stops)."""
        client = redis.Redis.from_url(self.redis_url, socket_timeout=30)
        self._clients.append(client)
        return client

    def mongo(self) -> pymongo.MongoClient[Any]:
        """Return a client of the stack's MongoDB (closed when the stack stops)."""
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(
            self.mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True
        )
        self._clients.append(client)
        return client

    # Processes ---------------------------------------------------------------------------------------------

    def start_process(self, name: str, command: Sequence[str], **extra: str) -> ManagedProcess:
        """Start a process with the stack's environment (and extra variables); its output goes to a log file."""
        if name in self._processes:
            raise RuntimeError(f"{name} is running already")
        process = ManagedProcess(name, command, {**self.env, **extra}, log_path=self.directory / f"{name}.log")
        self._processes[name] = process.start()
        return process

    def start_api(self, name: str, command: Sequence[str], port: int, **extra: str) -> str:
        """Start a gunicorn API on the port and wait until its /healthz answers; return its base URL."""
        metrics = self.directory / f"{name}-metrics"
        metrics.mkdir(exist_ok=True)
        process = self.start_process(name, command, PROMETHEUS_MULTIPROC_DIR=str(metrics), **extra)
        base = f"http://{HOST}:{port}"
        process.wait_http_ok(f"{base}/healthz", timeout=STARTUP_TIMEOUT_SECONDS)
        return base

    def stop_process(self, name: str) -> None:
        """Stop one process started by the stack, if it runs."""
        process = self._processes.pop(name, None)
        if process is not None:
            process.stop()

    def check_running(self) -> None:
        """Raise BenchmarkError naming any started process that has exited."""
        for name, process in self._processes.items():
            if not process.is_running:
                raise BenchmarkError(
                    f"{name} exited with status {process.returncode}; log tail:\n{process.log_tail(20)}"
                )

    # Versions ----------------------------------------------------------------------------------------------

    def redis_version(self) -> str:
        """Return the Redis server's version."""
        return str(self.redis().info("server").get("redis_version", "unknown"))

    def mongo_version(self) -> str:
        """Return the wire-protocol server's name and version (FerretDB names its own)."""
        info = self.mongo().admin.command("buildInfo")
        if "ferretdbVersion" in info:
            return f"FerretDB {info['ferretdbVersion']} (SQLite backend)"
        return f"MongoDB {info.get('version', 'unknown')}"


# --------------------------------------------------------------------------------------------------------------
# The machine


def cpu_model() -> str:
    """Return the CPU's model name from /proc/cpuinfo (or what the platform says)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def wrk_version(binary: str) -> str:
    """Return wrk's version line (`wrk -v` prints it and exits non-zero)."""
    completed = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    first = (completed.stdout + completed.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def print_machine(stack: Stack, generator: str | None) -> None:
    """Print what the figures were measured on: CPUs, Python, the servers and the load generator."""
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; {platform.system()} {platform.release()}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()}")
    load_average = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"busy:    load average {load_average} when this started (other processes skew absolute figures)")
    print(f"servers: Redis {stack.redis_version()}, {stack.mongo_version()}")
    print(
        f"APIs:    gunicorn --config python:shared.gunicorn_conf: {stack.web_concurrency} sync workers each "
        f"(WEB_CONCURRENCY={stack.web_concurrency})"
    )
    if generator is not None:
        print(f"load:    {generator}")


# --------------------------------------------------------------------------------------------------------------
# Load generation: wrk when present, else a Python generator (processes of threads, bounded in time).


@dataclass(frozen=True)
class Load:
    """How hard and how long to load an endpoint, and with what."""

    duration: int
    threads: int
    connections: int
    generator: str

    @classmethod
    def choose(cls, wanted: str, *, duration: int, threads: int, connections: int) -> Load:
        """Return the load to apply: wrk if asked or found (`auto`), the Python generator otherwise."""
        found = shutil.which("wrk")
        if wanted == "wrk" and found is None:
            raise BenchmarkError("--load wrk was asked for, but wrk is not on PATH")
        generator = "wrk" if wanted in {"auto", "wrk"} and found else "python"
        return cls(duration=duration, threads=max(1, threads), connections=max(1, connections), generator=generator)

    def describe(self) -> str:
        """Return how the load is generated, as the report names it."""
        if self.generator == "wrk":
            binary = shutil.which("wrk") or "wrk"
            return (
                f"{wrk_version(binary)}: wrk -t{self.threads} -c{self.connections} -d{self.duration}s "
                f"--latency --timeout {REQUEST_TIMEOUT_SECONDS}s"
            )
        per_process = max(1, self.connections // self.threads)
        return (
            f"Python load generator (wrk not found): {self.threads} processes x {per_process} threads "
            f"with requests.Session, {self.duration} s"
        )

    def run(self, url: str, headers: Mapping[str, str], duration: int | None = None) -> LoadResult:
        """Load one URL for the duration (this load's unless given); return what it measured."""
        seconds = self.duration if duration is None else duration
        if self.generator == "wrk":
            return _run_wrk(url, headers, seconds, self.threads, self.connections)
        return _run_python(url, headers, seconds, self.threads, self.connections)


@dataclass(frozen=True)
class LoadResult:
    """What a load run measured: throughput, latency percentiles and the answers that were not 2xx."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    bad_status: int = 0
    socket_errors: int = 0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> LoadResult:
    """Read requests/s, the 50% and 99% latencies and the errors from `wrk --latency` output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    latency = {
        share: _milliseconds(value, unit)
        for share, value, unit in re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    }
    if rate is None or done is None or not {"50", "99"} <= latency.keys():
        raise BenchmarkError(f"could not read wrk's output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return LoadResult(
        requests=int(done.group(1)),
        seconds=_milliseconds(done.group(2), done.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        p50_ms=latency["50"],
        p99_ms=latency["99"],
        bad_status=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(number) for number in sockets.groups()) if sockets else 0,
    )


def _run_wrk(url: str, headers: Mapping[str, str], duration: int, threads: int, connections: int) -> LoadResult:
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        f"{REQUEST_TIMEOUT_SECONDS}s",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    completed = subprocess.run(  # noqa: S603 - our own arguments
        [*command, url], capture_output=True, text=True, timeout=duration + LOAD_GRACE_SECONDS, check=False
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"wrk exited with status {completed.returncode}:\n{completed.stderr}{completed.stdout}")
    return parse_wrk(completed.stdout)


def _python_load_process(
    url: str, headers: Mapping[str, str], duration: float, threads: int
) -> tuple[list[float], int, int]:
    """Load the URL from `threads` threads until the duration ends; return latencies (ms) and the errors."""
    deadline = time.monotonic() + duration
    latencies: list[list[float]] = [[] for _ in range(threads)]
    bad = [0] * threads
    failed = [0] * threads

    def loop(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = session.get(url, headers=dict(headers), timeout=REQUEST_TIMEOUT_SECONDS)
                    response.content  # noqa: B018 - read the whole body, as wrk does
                except requests.RequestException:
                    failed[index] += 1
                    continue
                latencies[index].append((time.perf_counter() - started) * 1000)
                if not 200 <= response.status_code < 400:
                    bad[index] += 1

    workers = [threading.Thread(target=loop, args=(index,), daemon=True) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=duration + REQUEST_TIMEOUT_SECONDS + 5)
    return [value for values in latencies for value in values], sum(bad), sum(failed)


def _run_python(url: str, headers: Mapping[str, str], duration: int, processes: int, connections: int) -> LoadResult:
    per_process = max(1, connections // processes)
    started = time.perf_counter()
    # Separate processes, as wrk's threads: one Python process would be held back by its GIL.
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(_python_load_process, url, dict(headers), float(duration), per_process)
            for _ in range(processes)
        ]
        results = [future.result(timeout=duration + LOAD_GRACE_SECONDS) for future in futures]
    seconds = time.perf_counter() - started
    latencies = [value for values, _, _ in results for value in values]
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        # Counted over the load's duration, not the pool's start-up.
        requests_per_second=len(latencies) / duration,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        bad_status=sum(bad for _, bad, _ in results),
        socket_errors=sum(failed for _, _, failed in results),
    )


def add_load_arguments(parser: Any, *, duration: int = 10) -> None:
    """Add the load options (wrk's defaults: -t2 -c32 -d10s) to a benchmark's argument parser."""
    parser.add_argument("--duration", type=int, default=duration, help="seconds of load per endpoint (wrk -d)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads, or Python load processes (wrk -t)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (wrk -c)")
    parser.add_argument("--load", choices=GENERATORS, default="auto", help="load generator; auto: wrk when on PATH")


def add_stack_arguments(parser: Any) -> None:
    """Add the options of the stack every benchmark starts."""
    parser.add_argument(
        "--mongo-url", default=None, help="a MongoDB to use instead of starting FerretDB (databases are dropped)"
    )
    parser.add_argument("--web-concurrency", type=int, default=DEFAULT_WEB_CONCURRENCY, help="gunicorn workers per API")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the started processes")


# --------------------------------------------------------------------------------------------------------------
# Database round trips, counted in this process around the services' code


class MongoCommands(monitoring.CommandListener):
    """Counts the commands every pymongo client made after registration sends, and their time, while armed."""

    def __init__(self) -> None:
        self.armed = False
        self.commands: Counter[str] = Counter()
        self.microseconds = 0

    def reset(self) -> None:
        """Forget what was counted."""
        self.commands.clear()
        self.microseconds = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.armed:
            self.commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if self.armed:
            self.microseconds += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if self.armed:
            self.microseconds += event.duration_micros


def counts(found: Mapping[str, float]) -> str:
    """Return counts by name as the reports print them: the total, then each name's count."""
    total = sum(found.values())
    names = ", ".join(f"{name} {count:g}" for name, count in sorted(found.items()))
    return f"{total:g}" + (f" ({names})" if names else "")


_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n(?:\$\d+\r\n([A-Za-z]+)\r\n)?")


def _command_names(packed: Any) -> str:
    """Return the names of the commands in one packed send (SCRIPT with its subcommand), joined by +."""
    chunks = [packed] if isinstance(packed, bytes | bytearray | memoryview) else list(packed)
    data = b"".join(bytes(chunk) if not isinstance(chunk, str) else chunk.encode() for chunk in chunks)
    names: list[str] = []
    for match in _COMMAND.finditer(data):
        name = match.group(1).decode().upper()
        if name == "SCRIPT" and match.group(2):
            name = f"SCRIPT {match.group(2).decode().upper()}"
        if name not in names:
            names.append(name)
    return "+".join(names) or "?"


@contextlib.contextmanager
def counting_redis_round_trips() -> Iterator[Counter[str]]:
    """Count what redis-py sends: one packed send is one round trip (a pipeline is one, whatever its size)."""
    connection_class = redis.connection.AbstractConnection
    original = connection_class.send_packed_command
    sent: Counter[str] = Counter()

    def counted(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent[_command_names(command)] += 1
        return original(self, command, *args, **kwargs)

    connection_class.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        connection_class.send_packed_command = original  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------------------------
# Events as their producers emit them (valid payloads: consumers validate them).


def resource_shared(owner_id: str, *, cohorts: Sequence[str] = ("c1",), occurred_at: datetime | None = None) -> Event:
    """Return a `resource.shared` event as the challenges service emits it."""
    resource_id = uuid.uuid4().hex[:24]
    url = f"https://example.org/bench/{resource_id}"
    data = {
        "resource_id": resource_id,
        "owner_id": owner_id,
        "url": url,
        "canonical_url": url,
        "title": "Pluto is a dwarf planet",
        "tags": ["astronomy"],
        "cohorts": list(cohorts),
        "challenge_id": None,
    }
    return Event(
        type=EventType.RESOURCE_SHARED,
        producer="challenges",
        actor_id=owner_id,
        data=data,
        occurred_at=occurred_at or datetime.now(UTC),
    )


def review_submitted(
    reviewer_id: str, *, cohorts: Sequence[str] = ("c1",), occurred_at: datetime | None = None
) -> Event:
    """Return a `review.submitted` event as the peer review service emits it (on time, same cohorts)."""
    data = {
        "assignment_id": uuid.uuid4().hex[:24],
        "target_kind": "submission",
        "target_id": uuid.uuid4().hex[:24],
        "reviewer_id": reviewer_id,
        "challenge_id": None,
        "review_id": uuid.uuid4().hex[:24],
        "author_id": f"author-of-{reviewer_id}",
        "late": False,
        "outside_cohorts": False,
        "reciprocal": False,
        "author_cohorts": list(cohorts),
        "tags": ["biology"],
        "cohorts": list(cohorts),
    }
    return Event(
        type=EventType.REVIEW_SUBMITTED,
        producer="peer_review",
        actor_id=reviewer_id,
        data=data,
        occurred_at=occurred_at or datetime.now(UTC),
    )


def received(events: Sequence[Event]) -> list[tuple[Event, Mapping[str, Any]]]:
    """Return the events with their validated payloads, as a consumer hands them to its use case."""
    return [(event, load_payload(event.type, event.data)) for event in events]
