"""Sustained load on the main read and write endpoints of the three services, one endpoint at a time.

The stack runs as deployed: Redis, FerretDB, the three APIs under gunicorn (`shared.gunicorn_conf`, sync
workers, WEB_CONCURRENCY=2) and the three RQ workers, all on loopback, with the rate limits off (one
address sends every write). A class is seeded over HTTP first (a published challenge, learners who share
resources and so have points). Then each endpoint is loaded for --duration seconds, as hard as it goes,
from a second process: wrk (a Lua script sends each request of a prepared list, every write with a body
and a learner of its own, and counts the answers by status), or, without wrk, Python processes of threads
doing the same. After each write endpoint the queues are let drain, so the events it caused do not weigh
on the next one. Per endpoint it prints the requests, the throughput, latency p50/p90/p99, and every
answer that was not 2xx by status, with the transport errors (refused, cut, timed out). A 5xx or a
connection refused or cut makes the exit status 1; a timeout (a request slower than 10 s) is reported, as
the sign of an endpoint saturated at that concurrency.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.harness import (
    LOAD_GRACE_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    BenchmarkError,
    Load,
    Stack,
    add_load_arguments,
    add_stack_arguments,
    percentile,
    print_machine,
    run_main,
    stop_on_signals,
    token,
    wait_until,
    wrk_version,
)
from devstack.servers import HOST
from shared.queues import make_queue
from shared.registry import SERVICES

COHORT = "load"
TAG = "load"
# Prepared requests per write endpoint: distinct bodies and learners, so a write is refused (409) only once
# its list has run out and wrk starts it again from the top. More than a few seconds of any write here.
WRITES_PER_SECOND_PREPARED = 600
# Resources shared while seeding: what endorsements, reads of one resource and member views are about.
SEEDED_RESOURCES = 60
DRAIN_TIMEOUT_SECONDS = 120.0
RUBRIC = [{"criterion": "Accuracy", "max_score": 5, "description": "The facts are right"}]
# Every write comes from one address and a few users: the APIs' rate limits (per user and per address) would
# answer most of them 429 and measure the limiter. They are off, so the endpoints themselves are measured.
UNLIMITED = {"RATE_LIMIT_USER": "off", "RATE_LIMIT_IP": "off"}


# --------------------------------------------------------------------------------------------------------------
# Requests and endpoints


@dataclass(frozen=True)
class Request:
    """One request as the load generators send it: method, path, whose token, and a JSON body (or none)."""

    method: str
    path: str
    token: str
    body: str = ""

    def line(self) -> str:
        """Return the request as one tab-separated line of the file wrk's script reads."""
        return "\t".join((self.method, self.path, self.token, self.body))


@dataclass(frozen=True)
class Endpoint:
    """An endpoint of a service to load, with the requests to cycle through (distinct ones for writes)."""

    name: str
    service: str
    writes: bool
    requests: tuple[Request, ...]


@dataclass
class Result:
    """What one endpoint's run measured."""

    endpoint: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    drained_seconds: float | None = None

    @property
    def per_second(self) -> float:
        """Return the answers per second over the run."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def not_2xx(self) -> dict[str, int]:
        """Return the answers that were not 2xx, by status."""
        return {status: count for status, count in sorted(self.statuses.items()) if not status.startswith("2")}

    @property
    def server_errors(self) -> int:
        """Return how many answers were 5xx."""
        return sum(count for status, count in self.statuses.items() if status.startswith("5"))

    def errors(self) -> str:
        """Return the errors as the report prints them: statuses that were not 2xx, then transport errors."""
        parts = [f"{status} x{count}" for status, count in self.not_2xx.items()]
        parts += [f"{kind} x{count}" for kind, count in sorted(self.transport_errors.items())]
        return ", ".join(parts) or "none"


def _learner(number: int) -> str:
    return f"load-learner-{number:05d}"


def _learner_token(number: int) -> str:
    return token(_learner(number), "learner", cohorts=(COHORT,))


@dataclass
class Seeded:
    """What the seeding made: the challenge, the resources with their owners, the teacher."""

    challenge_id: str
    resources: list[tuple[str, str]]
    teacher: str = "load-teacher"


def _call(method: str, url: str, bearer_token: str, *, expected: int, body: Any = None) -> Any:
    response = requests.request(method, url, json=body, headers={"Authorization": f"Bearer {bearer_token}"}, timeout=30)
    if response.status_code != expected:
        raise BenchmarkError(f"{method} {url} answered {response.status_code} (not {expected}): {response.text}")
    return response.json() if response.content else None


def seed(urls: dict[str, str]) -> Seeded:
    """Publish a challenge for the cohort and let learners share resources (which earns them points)."""
    teacher = token("load-teacher", "teacher", cohorts=(COHORT,))
    challenge = {
        "title": "Explain photosynthesis",
        "description": "Write 300 words for a 10-year-old and cite two sources.",
        "tags": [TAG],
        "cohorts": [COHORT],
        "points": 50,
        "rubric": RUBRIC,
        "review": {"reviewers_per_submission": 2, "due_hours": 24, "blind": True},
    }
    created = _call("POST", f"{urls['challenges']}/challenges", teacher, expected=201, body=challenge)
    _call("POST", f"{urls['challenges']}/challenges/{created['id']}/publish", teacher, expected=200)
    resources = []
    for number in range(SEEDED_RESOURCES):
        body = _resource_body(f"seed-{number}")
        shared = _call("POST", f"{urls['challenges']}/resources", _learner_token(number), expected=201, body=body)
        resources.append((shared["id"], _learner(number)))
    return Seeded(challenge_id=created["id"], resources=resources)


def _resource_body(key: str) -> dict[str, Any]:
    return {
        "url": f"https://example.org/load/{key}-{uuid.uuid4().hex[:8]}",
        "title": "Pluto is a dwarf planet",
        "summary": "Why the IAU reclassified Pluto in 2006.",
        "tags": [TAG],
    }


def endpoints(seeded: Seeded, writes: int) -> list[Endpoint]:
    """Return the endpoints to load, in order, each with its requests (`writes` distinct ones for a write)."""
    resource_id, owner = seeded.resources[0]
    owners = [owner for _, owner in seeded.resources]
    learners = range(SEEDED_RESOURCES, SEEDED_RESOURCES + writes)
    teacher = token(seeded.teacher, "teacher", cohorts=(COHORT,))

    def reads(path: str, bearer_token: str) -> tuple[Request, ...]:
        return (Request("GET", path, bearer_token),)

    # Endorsements: every (resource, learner) pair once, resources taken in turn.
    pairs = [
        (seeded.resources[index % len(seeded.resources)][0], SEEDED_RESOURCES + index // len(seeded.resources))
        for index in range(writes)
    ]
    return [
        Endpoint(
            "GET /resources?tag=", "challenges", False, reads(f"/resources?tag={TAG}&limit=20", _learner_token(0))
        ),
        Endpoint("GET /resources/{id}", "challenges", False, reads(f"/resources/{resource_id}", _learner_token(1))),
        Endpoint(
            "POST /resources",
            "challenges",
            True,
            tuple(
                Request("POST", "/resources", _learner_token(number), json.dumps(_resource_body(f"w{number}")))
                for number in learners
            ),
        ),
        Endpoint(
            "POST /resources/{id}/endorsements",
            "challenges",
            True,
            tuple(Request("POST", f"/resources/{rid}/endorsements", _learner_token(n), "{}") for rid, n in pairs),
        ),
        Endpoint(
            "POST /challenges/{id}/submissions",
            "challenges",
            True,
            tuple(
                Request(
                    "POST",
                    f"/challenges/{seeded.challenge_id}/submissions",
                    _learner_token(number),
                    json.dumps({"content": f"Leaves make sugar from light, says learner {number}.", "links": []}),
                )
                for number in learners
            ),
        ),
        Endpoint("GET /assignments", "peer_review", False, reads("/assignments?limit=20", _learner_token(0))),
        Endpoint(
            "POST /assignments/next",
            "peer_review",
            True,
            tuple(
                Request(
                    "POST",
                    "/assignments/next",
                    _learner_token(number),
                    json.dumps({"challenge_id": seeded.challenge_id}),
                )
                for number in learners
            ),
        ),
        Endpoint(
            "GET /leaderboards/global",
            "leaderboards",
            False,
            reads("/leaderboards/global?limit=10", token("load-reader")),
        ),
        Endpoint(
            "GET /leaderboards/global/users/{id}",
            "leaderboards",
            False,
            reads(f"/leaderboards/global/users/{owner}", token("load-reader")),
        ),
        Endpoint("GET /users/{id}/points", "leaderboards", False, reads(f"/users/{owner}/points", token(owner))),
        Endpoint(
            "POST /awards",
            "leaderboards",
            True,
            tuple(
                Request(
                    "POST",
                    "/awards",
                    teacher,
                    json.dumps({"user_id": owners[number % len(owners)], "points": 1, "reason": "Helped a peer"}),
                )
                for number in range(writes)
            ),
        ),
    ]


# --------------------------------------------------------------------------------------------------------------
# wrk: a Lua script cycling through the prepared requests, counting answers by status.

WRK_SCRIPT = r"""
local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  prepared, statuses = {}, {}
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    prepared[#prepared + 1] = {method, path, token, body}
  end
  step, position = tonumber(args[2]), id
end
function request()
  local r = prepared[position % #prepared + 1]
  position = position + step
  local headers = {["Authorization"] = "Bearer " .. r[3]}
  local body = nil
  if r[4] ~= "" then
    headers["Content-Type"] = "application/json"
    body = r[4]
  end
  return wrk.format(r[1], r[2], headers, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("STATUS %d %d\n", status, count))
  end
  for _, share in ipairs({50, 90, 99}) do
    io.write(string.format("LATENCY %d %d\n", share, latency:percentile(share)))
  end
  local errors = summary.errors
  io.write(string.format("SUMMARY %d %d\n", summary.requests, summary.duration))
  io.write(string.format("ERRORS %d %d %d %d\n", errors.connect, errors.read, errors.write, errors.timeout))
end
"""


def parse_wrk_report(endpoint: str, output: str) -> Result:
    """Read what the script's done() printed: statuses, latency percentiles (microseconds), the summary."""
    summary = re.search(r"^SUMMARY (\d+) (\d+)$", output, re.M)
    errors = re.search(r"^ERRORS (\d+) (\d+) (\d+) (\d+)$", output, re.M)
    latency = {share: int(value) / 1000 for share, value in re.findall(r"^LATENCY (\d+) (\d+)$", output, re.M)}
    if summary is None or errors is None or set(latency) != {"50", "90", "99"}:
        raise BenchmarkError(f"could not read wrk's report for {endpoint}:\n{output}")
    statuses = Counter({status: int(count) for status, count in re.findall(r"^STATUS (\d+) (\d+)$", output, re.M)})
    kinds = ("connect", "read", "write", "timeout")
    transport = Counter({kind: int(count) for kind, count in zip(kinds, errors.groups(), strict=True) if int(count)})
    return Result(
        endpoint=endpoint,
        requests=int(summary.group(1)),
        seconds=int(summary.group(2)) / 1_000_000,
        p50_ms=latency["50"],
        p90_ms=latency["90"],
        p99_ms=latency["99"],
        statuses=statuses,
        transport_errors=transport,
    )


def describe(load: Load) -> str:
    """Return how the load is generated, as the report names it."""
    if load.generator == "wrk":
        return (
            f"{wrk_version(shutil.which('wrk') or 'wrk')}: wrk -t{load.threads} -c{load.connections} -d<duration> "
            f"--timeout {REQUEST_TIMEOUT_SECONDS}s -s <script cycling through the prepared requests>"
        )
    return load.describe()


def run_wrk(base: str, endpoint: Endpoint, load: Load, duration: float, directory: Path) -> Result:
    """Load the endpoint with wrk for `duration` seconds."""
    script = directory / "load.lua"
    script.write_text(WRK_SCRIPT)
    prepared = directory / f"{re.sub(r'[^a-z]+', '-', endpoint.name.lower()).strip('-')}.tsv"
    prepared.write_text("\n".join(request.line() for request in endpoint.requests) + "\n")
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, math.ceil(duration))}s",
        "--timeout",
        f"{REQUEST_TIMEOUT_SECONDS}s",
        "-s",
        str(script),
        base,
        "--",
        str(prepared),
        str(load.threads),
    ]
    completed = subprocess.run(  # noqa: S603 - our own arguments
        command, capture_output=True, text=True, timeout=duration + LOAD_GRACE_SECONDS, check=False
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"wrk exited with status {completed.returncode}:\n{completed.stderr}{completed.stdout}")
    return parse_wrk_report(endpoint.name, completed.stdout)


# --------------------------------------------------------------------------------------------------------------
# The Python load generator: processes of threads, each with its own session, cycling through the requests.


def _python_load_process(
    base: str, prepared: Sequence[Request], duration: float, *, threads: int, first: int, step: int
) -> tuple[list[float], Counter[str], Counter[str]]:
    """Send the requests from `threads` threads until the duration ends; return latencies (ms), statuses, errors."""
    deadline = time.monotonic() + duration
    latencies: list[list[float]] = [[] for _ in range(threads)]
    statuses: list[Counter[str]] = [Counter() for _ in range(threads)]
    errors: list[Counter[str]] = [Counter() for _ in range(threads)]

    def loop(index: int) -> None:
        position = first + index
        with requests.Session() as session:
            while time.monotonic() < deadline:
                request = prepared[position % len(prepared)]
                position += step
                headers = {"Authorization": f"Bearer {request.token}"}
                if request.body:
                    headers["Content-Type"] = "application/json"
                started = time.perf_counter()
                try:
                    response = session.request(
                        request.method,
                        f"{base}{request.path}",
                        data=request.body or None,
                        headers=headers,
                        timeout=REQUEST_TIMEOUT_SECONDS,
                    )
                    response.content  # noqa: B018 - read the whole body, as wrk does
                except requests.Timeout:
                    errors[index]["timeout"] += 1
                    continue
                except requests.RequestException:
                    errors[index]["connect/read"] += 1
                    continue
                latencies[index].append((time.perf_counter() - started) * 1000)
                statuses[index][str(response.status_code)] += 1

    workers = [threading.Thread(target=loop, args=(index,), daemon=True) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=duration + REQUEST_TIMEOUT_SECONDS + 5)
    return (
        [value for values in latencies for value in values],
        sum(statuses, Counter()),
        sum(errors, Counter()),
    )


def run_python(base: str, endpoint: Endpoint, load: Load, duration: float) -> Result:
    """Load the endpoint from `load.threads` processes of threads (connections in all) for `duration` seconds."""
    per_process = max(1, load.connections // load.threads)
    step = per_process * load.threads
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=load.threads, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(
                _python_load_process,
                base,
                endpoint.requests,
                duration,
                threads=per_process,
                first=number * per_process,
                step=step,
            )
            for number in range(load.threads)
        ]
        results = [future.result(timeout=duration + LOAD_GRACE_SECONDS) for future in futures]
    elapsed = time.perf_counter() - started
    latencies = [value for values, _, _ in results for value in values]
    return Result(
        endpoint=endpoint.name,
        requests=len(latencies),
        # Counted over the load's duration, not the pool's start-up.
        seconds=min(elapsed, duration),
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        statuses=sum((statuses for _, statuses, _ in results), Counter()),
        transport_errors=sum((errors for _, _, errors in results), Counter()),
    )


# --------------------------------------------------------------------------------------------------------------
# The run


def start_services(stack: Stack) -> dict[str, str]:
    """Start every API and worker on the stack, without rate limits; return each API's base URL."""
    urls = {}
    for spec in SERVICES:
        port = stack.ports[spec.name]
        command = spec.api_command(host=HOST, port=port)
        urls[spec.name] = stack.start_api(f"{spec.name}-api", command, port, **UNLIMITED)
        stack.start_process(f"{spec.name}-worker", spec.worker_command(), **UNLIMITED)
    return urls


def queued(stack: Stack) -> int:
    """Return the jobs waiting, taken or running in every queue (retries scheduled for later do not count)."""
    connection = stack.redis()
    total = 0
    for spec in SERVICES:
        queue = make_queue(spec.queue, connection)
        total += queue.count + int(connection.llen(queue.intermediate_queue_key)) + queue.started_job_registry.count
    return total


def drain(stack: Stack, timeout: float = DRAIN_TIMEOUT_SECONDS) -> float:
    """Wait until the queues are empty (the events of what was loaded are handled); return the seconds it took."""
    started = time.monotonic()
    wait_until(lambda: queued(stack) == 0, timeout=timeout, what="the queues emptying", interval=0.2)
    return time.monotonic() - started


def run_load(
    stack: Stack,
    load: Load,
    duration: float,
    *,
    only: Sequence[str] = (),
    report: Callable[[Result], None] = lambda _result: None,
) -> list[Result]:
    """Seed the running stack, load each endpoint (all, or those named in `only`) in turn; return the results."""
    urls = start_services(stack)
    for spec in SERVICES:
        wait_until(
            lambda spec=spec: requests.get(f"{urls[spec.name]}/readyz", timeout=5).status_code == 200,  # type: ignore[misc]
            timeout=60,
            what=f"{spec.name} ready",
        )
    seeded = seed(urls)
    drain(stack)
    prepared = max(200, int(WRITES_PER_SECOND_PREPARED * duration))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="connective-load-") as directory:
        for endpoint in endpoints(seeded, prepared):
            if only and endpoint.name not in only:
                continue
            base = urls[endpoint.service]
            if load.generator == "wrk":
                result = run_wrk(base, endpoint, load, duration, Path(directory))
            else:
                result = run_python(base, endpoint, load, duration)
            stack.check_running()
            if endpoint.writes:
                result.drained_seconds = drain(stack)
            results.append(result)
            report(result)
    return results


def print_header() -> None:
    """Print the table's header."""
    print(f"  {'endpoint':<36}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}  errors")


def print_result(result: Result) -> None:
    """Print one endpoint's row."""
    drained = f"  (events drained in {result.drained_seconds:.1f} s)" if result.drained_seconds is not None else ""
    print(
        f"  {result.endpoint:<36}{result.requests:>9}{result.per_second:>9.1f}{result.p50_ms:>9.2f}"
        f"{result.p90_ms:>9.2f}{result.p99_ms:>9.2f}  {result.errors()}{drained}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load benchmark and print its figures; exit 1 if an endpoint answered a 5xx or a request failed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_load_arguments(parser, duration=10)
    add_stack_arguments(parser)
    parser.add_argument("--endpoint", action="append", default=[], help="load only this endpoint (repeatable)")
    arguments = parser.parse_args(argv)
    if arguments.duration < 1:
        parser.error("--duration must be at least 1 second")
    stop_on_signals()
    load = Load.choose(
        arguments.load, duration=arguments.duration, threads=arguments.threads, connections=arguments.connections
    )
    with Stack(
        mongo_url=arguments.mongo_url, log_level=arguments.log_level, web_concurrency=arguments.web_concurrency
    ) as stack:
        print_machine(stack, describe(load))
        print("workers: RQ SimpleWorker, JSON serializer, one process per queue")
        print("limits:  RATE_LIMIT_USER=off RATE_LIMIT_IP=off (one address sends every write)")
        print(
            f"\nload per endpoint: {arguments.duration} s each, as fast as answers come back; writes have a body and a "
            f"learner of their own (cycled through {max(200, WRITES_PER_SECOND_PREPARED * arguments.duration)} "
            "prepared requests)",
            flush=True,
        )
        print_header()
        results = run_load(stack, load, arguments.duration, only=arguments.endpoint, report=print_result)
    # A request that outlived the generator's timeout says the endpoint is saturated at this concurrency; it
    # is reported, not failed. A 5xx, or a connection refused or cut, is something gone wrong.
    failing = [
        result.endpoint for result in results if result.server_errors or set(result.transport_errors) - {"timeout"}
    ]
    if failing:
        print(f"\n5xx answers or failed connections on: {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    run_main(main, "bench.load")
