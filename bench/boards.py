"""Leaderboard reads at scale: 1,000,000 members on the global board, against a bare Flask app in the same run.

The leaderboards API runs as deployed: gunicorn (`shared.gunicorn_conf`, sync workers, WEB_CONCURRENCY=2) on
real Redis and FerretDB, no inline worker. The global board is seeded directly in Redis (pipelined ZADDs of
packed scores) and one learner gets 50 ledger entries from real events applied by the service's own use case.
Each endpoint is loaded with wrk (or a Python generator when wrk is absent) after a short warm-up, in
--rounds rounds, and the bare app once more at the end (a machine busier at the end than at the start shows
as a spread between its runs); figures are medians over an endpoint's runs:

- the baseline, `bench.bare_app`: one fixed JSON page, no auth, no hooks, served by the same gunicorn config;
- a page of the board (`?limit=10`, `?limit=100`);
- a member in the middle of the board with 5 neighbours either side;
- a learner's points (balance kept in Redis, the ledger's newest page from FerretDB).

Each figure is printed with its ratio to the bare app's, beside the issue's targets: the top-10 page at least
0.6x the bare app's requests/s and the member view 0.5x, both with a p99 at most 1.5x the bare app's p99; the
points at least 0.25x. A missed target is reported, never fatal. Every answer is checked against Redis before
it is loaded, and the database round trips of each request are counted in-process (a pymongo
CommandListener and a count of Redis round trips around requests to the same app). Finally Redis's memory per
board member, and what each ledger entry's applied marker costs beside it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import requests
from pymongo import monitoring

from bench import bare_app
from bench.harness import (
    BenchmarkError,
    Load,
    LoadResult,
    MongoCommands,
    Stack,
    add_load_arguments,
    add_stack_arguments,
    bearer,
    counting_redis_round_trips,
    counts,
    print_machine,
    quiet_logging,
    received,
    resource_shared,
    review_submitted,
    run_main,
    stop_on_signals,
    verdict,
)
from devstack.servers import HOST, free_port
from services.leaderboards.domain.boards import GLOBAL_BOARD, MAX_POINTS, Window, decode_points, encode_score
from services.leaderboards.repository.boards import APPLIED_MARKER_TTL_SECONDS, ENTRIES_KEY, board_key
from shared.registry import service

BOARD_KEY = board_key(GLOBAL_BOARD, Window.ALL, "all")
LEARNER = "bench-learner"
READER = "bench-reader"
SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# Members per ZADD, and ZADDs per pipelined round trip.
ZADD_SIZE = 5_000
ZADDS_PER_ROUND_TRIP = 10
PROBE_REQUESTS = 20


def member_name(index: int) -> str:
    """Return the seeded member with this index."""
    return f"member-{index:07d}"


def seed_board(connection: redis.Redis, members: int, seed: int) -> float:
    """Put `members` members with packed scores on the global all-time board; return the seconds it took."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible board, not a secret
    started = time.perf_counter()
    index = 0
    while index < members:
        with connection.pipeline(transaction=False) as pipeline:
            for _ in range(ZADDS_PER_ROUND_TRIP):
                if index >= members:
                    break
                size = min(ZADD_SIZE, members - index)
                # Most learners have a few hundred points, a few very many: an exponential spread, with ties.
                pipeline.zadd(
                    BOARD_KEY,
                    {
                        member_name(number): encode_score(
                            min(MAX_POINTS - 1, int(rng.expovariate(1 / 400))),
                            SEED_EPOCH + timedelta(seconds=rng.randrange(90 * 86_400)),
                        )
                        for number in range(index, index + size)
                    },
                )
                index += size
            pipeline.execute()
    return time.perf_counter() - started


def give_learner_a_ledger(stack: Stack, entries: int) -> int:
    """Apply `entries` real events earning the learner points (two a day, under the caps); return their points."""
    from services.leaderboards.bootstrap import build  # noqa: PLC0415 - service code, only once the stack runs
    from services.leaderboards.usecases.awarding import apply_events  # noqa: PLC0415

    dependencies = build(stack.settings("leaderboards"))
    now = datetime.now(UTC)
    events = [
        (resource_shared if number % 2 == 0 else review_submitted)(
            LEARNER, occurred_at=now - timedelta(days=number // 2, minutes=number)
        )
        for number in range(entries)
    ]
    new = apply_events(received(events), context=dependencies.context())
    if new != entries:
        raise BenchmarkError(f"the learner's {entries} events made {new} ledger entries")
    dependencies.runtime.mongo.close()
    dependencies.runtime.redis.close()
    board = GlobalBoard(stack.redis())
    count = board.entries_of(LEARNER)
    if count != entries:
        raise BenchmarkError(f"the learner's kept balance counts {count} entries, not {entries}")
    return board.points(LEARNER)


# --------------------------------------------------------------------------------------------------------------
# Answers checked against Redis


class GlobalBoard:
    """The global all-time board read straight from Redis, with plain types (redis-py's are unions of modes)."""

    def __init__(self, connection: redis.Redis) -> None:
        self._redis: Any = connection

    def size(self) -> int:
        """Return how many members the board has."""
        return int(self._redis.zcard(BOARD_KEY))

    def members(self, first: int, last: int) -> list[str]:
        """Return the members at positions first..last (0-based, highest score first)."""
        return [member.decode() for member in self._redis.zrevrange(BOARD_KEY, first, last)]

    def position(self, user_id: str) -> int:
        """Return a member's 0-based position."""
        found = self._redis.zrevrank(BOARD_KEY, user_id)
        if found is None:
            raise BenchmarkError(f"{user_id} is not on {BOARD_KEY}")
        return int(found)

    def points(self, user_id: str) -> int:
        """Return a member's points."""
        score = self._redis.zscore(BOARD_KEY, user_id)
        if score is None:
            raise BenchmarkError(f"{user_id} is not on {BOARD_KEY}")
        return decode_points(float(score))

    def entries_of(self, user_id: str) -> int:
        """Return how many ledger entries make a learner's kept balance."""
        return int(self._redis.hget(ENTRIES_KEY, user_id) or 0)

    def memory(self, key: str | bytes) -> int:
        """Return the bytes a key takes (every element counted)."""
        return int(self._redis.memory_usage(key, samples=0) or 0)

    def applied_marker(self) -> str | None:
        """Return the key of one ledger entry's applied marker, if any."""
        for key in self._redis.scan_iter(match="lb:applied:*", count=1000):
            return str(key.decode())
        return None


Check = Callable[[Any], str | None]


def _page_check(board: GlobalBoard, limit: int) -> Check:
    expected = board.members(0, limit - 1)
    size = board.size()

    def check(body: Any) -> str | None:
        members = [entry["user_id"] for entry in body["entries"]]
        ranks = [entry["rank"] for entry in body["entries"]]
        if members != expected:
            return f"the page lists {members[:3]}..., Redis ranks {expected[:3]}... first"
        if body["total"] != size or ranks[0] != 1 or ranks != sorted(ranks):
            return f"total {body['total']} (Redis: {size}) or ranks {ranks[:5]}... are wrong"
        return None

    return check


def _member_check(board: GlobalBoard, user_id: str, around: int) -> Check:
    position = board.position(user_id)
    points = board.points(user_id)
    size = board.size()
    neighbours = [member for member in board.members(max(0, position - around), position + around) if member != user_id]

    def check(body: Any) -> str | None:
        if body["user_id"] != user_id or body["points"] != points or body["total"] != size:
            return f"user {body['user_id']}, points {body['points']}, total {body['total']}: not Redis's"
        if body["rank"] > position + 1 or [entry["user_id"] for entry in body["neighbors"]] != neighbours:
            return f"rank {body['rank']} (position {position + 1}) or the neighbours are wrong"
        return None

    return check


def _points_check(total: int, count: int) -> Check:
    def check(body: Any) -> str | None:
        if body["total"] != total or body["count"] != count or len(body["entries"]) != min(20, count):
            return f"total {body['total']}, count {body['count']}, {len(body['entries'])} entries: expected {total}"
        return None

    return check


# --------------------------------------------------------------------------------------------------------------
# Database round trips per request, counted in this process around requests to the same app


@dataclass(frozen=True)
class RoundTrips:
    """Database round trips one request makes, by what they send, and the time a request and its MongoDB take."""

    mongo: dict[str, float]
    redis: dict[str, float]
    request_ms: float
    mongo_ms: float

    def describe(self) -> str:
        """Return the round trips as the report prints them."""
        return (
            f"MongoDB {counts(self.mongo)}; Redis {counts(self.redis)}; "
            f"{self.request_ms:.1f} ms a request alone, {self.mongo_ms:.1f} ms of it in MongoDB"
        )


def probe_round_trips(stack: Stack, paths: dict[str, tuple[str, dict[str, str]]]) -> dict[str, RoundTrips]:
    """Return each path's database round trips per request, from the leaderboards app built in this process."""
    from services.leaderboards.app import create_app  # noqa: PLC0415 - service code, only once the stack runs

    listener = MongoCommands()
    # Listeners registered globally apply to clients made afterwards: the app's, made on its first request.
    monitoring.register(listener)
    client = create_app(stack.settings("leaderboards")).test_client()
    found: dict[str, RoundTrips] = {}
    for name, (path, headers) in paths.items():
        # The first request connects, creates the indexes and loads the scripts; later ones are steady state.
        client.get(path, headers=headers)
        listener.reset()
        with counting_redis_round_trips() as sent:
            listener.armed = True
            started = time.perf_counter()
            for _ in range(PROBE_REQUESTS):
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise BenchmarkError(f"probe of {path} answered {response.status_code}: {response.get_data()!r}")
            seconds = time.perf_counter() - started
            listener.armed = False
        found[name] = RoundTrips(
            {command: count / PROBE_REQUESTS for command, count in listener.commands.items()},
            {names: count / PROBE_REQUESTS for names, count in sent.items()},
            request_ms=1000 * seconds / PROBE_REQUESTS,
            mongo_ms=listener.microseconds / 1000 / PROBE_REQUESTS,
        )
    return found


# --------------------------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Endpoint:
    """One loaded endpoint, its check, and its targets as ratios to the bare app (None: no target)."""

    name: str
    url: str
    headers: dict[str, str]
    check: Check | None = None
    rate_target: float | None = None
    p99_target: float | None = None

    def targets(self) -> str:
        """Return the targets as printed."""
        parts = []
        if self.rate_target is not None:
            parts.append(f">= {self.rate_target:g}x")
        if self.p99_target is not None:
            parts.append(f"p99 <= {self.p99_target:g}x")
        return ", ".join(parts) or "-"

    def met(self, result: LoadResult, bare: LoadResult) -> bool | None:
        """Return whether the targets are met against the bare app (None when there are none)."""
        if self.rate_target is None and self.p99_target is None:
            return None
        rate_ok = self.rate_target is None or result.requests_per_second >= self.rate_target * bare.requests_per_second
        p99_ok = self.p99_target is None or result.p99_ms <= self.p99_target * bare.p99_ms
        return rate_ok and p99_ok


def _check_answer(endpoint: Endpoint) -> None:
    response = requests.get(endpoint.url, headers=endpoint.headers, timeout=10)
    if response.status_code != 200:
        raise BenchmarkError(f"{endpoint.name}: {endpoint.url} answered {response.status_code}: {response.text[:300]}")
    problem = endpoint.check(response.json()) if endpoint.check else None
    if problem:
        raise BenchmarkError(f"{endpoint.name}: wrong answer: {problem}")


def _print_row(endpoint: Endpoint, result: LoadResult, bare: LoadResult) -> None:
    met = endpoint.met(result, bare)
    errors = result.bad_status + result.socket_errors
    rate = result.requests_per_second
    print(
        f"  {endpoint.name:<30}{rate:9.1f}{rate / bare.requests_per_second:8.2f}x"
        f"{result.p99_ms:9.2f}{result.p99_ms / bare.p99_ms:8.2f}x{result.p50_ms:8.2f}  {endpoint.targets():<22}"
        f"{'' if met is None else verdict(met):<7}{f'  ({errors} errors)' if errors else ''}",
        flush=True,
    )


def _measure(load: Load, endpoint: Endpoint, warmup: int, stack: Stack) -> LoadResult:
    if warmup > 0:
        load.run(endpoint.url, endpoint.headers, duration=warmup)
    result = load.run(endpoint.url, endpoint.headers)
    stack.check_running()
    return result


def _median(runs: Sequence[LoadResult]) -> LoadResult:
    """Return the median of each figure over the runs, and the errors of all of them."""
    return LoadResult(
        requests=sum(run.requests for run in runs),
        seconds=sum(run.seconds for run in runs),
        requests_per_second=statistics.median(run.requests_per_second for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        bad_status=sum(run.bad_status for run in runs),
        socket_errors=sum(run.socket_errors for run in runs),
    )


def _endpoints(api: str, bare_url: str, board: GlobalBoard, learner_total: int, entries: int) -> list[Endpoint]:
    """Return the endpoints to load, the bare app first, each with its check and targets."""
    middle_index = board.size() // 2
    middle = board.members(middle_index, middle_index)[0]
    reader = bearer(READER)
    return [
        Endpoint("bare Flask app", f"{bare_url}{bare_app.PATH}", reader),
        Endpoint(
            "top 10",
            f"{api}/leaderboards/{GLOBAL_BOARD}?limit=10",
            reader,
            _page_check(board, 10),
            rate_target=0.6,
            p99_target=1.5,
        ),
        Endpoint("top 100", f"{api}/leaderboards/{GLOBAL_BOARD}?limit=100", reader, _page_check(board, 100)),
        Endpoint(
            f"member view (rank ~{middle_index + 1:,})",
            f"{api}/leaderboards/{GLOBAL_BOARD}/users/{middle}?around=5",
            reader,
            _member_check(board, middle, 5),
            rate_target=0.5,
            p99_target=1.5,
        ),
        Endpoint(
            f"points ({entries} entries)",
            f"{api}/users/{LEARNER}/points",
            bearer(LEARNER, cohorts=("c1",)),
            _points_check(learner_total, entries),
            rate_target=0.25,
        ),
    ]


def _load_all(stack: Stack, load: Load, endpoints: Sequence[Endpoint], rounds: int, warmup: int) -> int:
    """Load every endpoint, in rounds, the bare app also last; print the medians; return the non-2xx answers."""
    print(
        f"  measuring: {rounds * len(endpoints) + 1} runs of {warmup} s warm-up + {load.duration} s "
        f"(the bare app first and last)",
        flush=True,
    )
    runs: dict[str, list[LoadResult]] = {endpoint.name: [] for endpoint in endpoints}
    for _ in range(rounds):
        for endpoint in endpoints:
            runs[endpoint.name].append(_measure(load, endpoint, warmup, stack))
    # The bare app once more at the end: a machine that got busier or quieter meanwhile shows as a spread.
    bare_runs = runs[endpoints[0].name]
    bare_runs.append(_measure(load, endpoints[0], warmup, stack))
    bare = _median(bare_runs)
    print(
        f"  {'endpoint':<30}{'req/s':>9}{'x bare':>9}{'p99 ms':>9}{'x bare':>9}{'p50 ms':>8}  {'target':<22}{'met':<7}"
    )
    for endpoint in endpoints:
        _print_row(endpoint, _median(runs[endpoint.name]), bare)
    spread = "; ".join(f"{run.requests_per_second:.0f} req/s, p99 {run.p99_ms:.1f} ms" for run in bare_runs)
    print(f"  the bare app's runs: {spread} (figures are medians over the runs)")
    return sum(run.bad_status for found in runs.values() for run in found)


def _print_memory(board: GlobalBoard) -> None:
    size = board.size()
    board_bytes = board.memory(BOARD_KEY)
    marker = board.applied_marker()
    marker_bytes = board.memory(marker) if marker else 0
    print(
        f"  Redis: {BOARD_KEY} holds {size:,} members in {board_bytes / 2**20:.1f} MiB = "
        f"{board_bytes / size:.1f} bytes per member (MEMORY USAGE ... SAMPLES 0 / ZCARD)"
    )
    print(
        f"  Redis: one applied marker ({marker or 'none found'}) costs {marker_bytes} bytes, "
        f"kept per ledger entry for {APPLIED_MARKER_TTL_SECONDS // 86_400} days"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the board reads benchmark and print its figures; exit 1 if an answer is wrong."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.boards", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000, help="members seeded on the global board")
    parser.add_argument("--entries", type=int, default=50, help="ledger entries of the learner whose points are read")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of load before each measured run")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over every endpoint; figures are medians")
    parser.add_argument("--seed", type=int, default=2026)
    add_load_arguments(parser)
    add_stack_arguments(parser)
    arguments = parser.parse_args(argv)
    if min(arguments.members, arguments.entries, arguments.rounds) < 1:
        parser.error("--members, --entries and --rounds must be at least 1")
    stop_on_signals()
    quiet_logging()
    load = Load.choose(
        arguments.load, duration=arguments.duration, threads=arguments.threads, connections=arguments.connections
    )
    with Stack(
        mongo_url=arguments.mongo_url, log_level=arguments.log_level, web_concurrency=arguments.web_concurrency
    ) as stack:
        print_machine(stack, load.describe())
        board = GlobalBoard(stack.redis())
        seconds = seed_board(stack.redis(), arguments.members, arguments.seed)
        learner_total = give_learner_a_ledger(stack, arguments.entries)
        print(
            f"\nboard reads: {arguments.members:,} members seeded on {GLOBAL_BOARD} in {seconds:.1f} s "
            f"({board.size():,} with the learner), one learner with {arguments.entries} ledger entries",
            flush=True,
        )
        port = stack.ports["leaderboards"]
        api = stack.start_api("leaderboards-api", service("leaderboards").api_command(host=HOST, port=port), port)
        bare_port = free_port()
        bare_url = stack.start_api("bare-app", bare_app.command(HOST, bare_port), bare_port)
        endpoints = _endpoints(api, bare_url, board, learner_total, arguments.entries)
        for endpoint in endpoints:
            _check_answer(endpoint)
        bad = _load_all(stack, load, endpoints, arguments.rounds, arguments.warmup)

        trips = probe_round_trips(
            stack, {endpoint.name: (endpoint.url.removeprefix(api), endpoint.headers) for endpoint in endpoints[1:]}
        )
        print("  database round trips per request (counted in-process, one request at a time, same app and settings):")
        for name, found in trips.items():
            print(f"    {name:<30}{found.describe()}")
        _print_memory(board)
        print(f"  answers checked against Redis before loading: yes; non-2xx answers under load: {bad}")
        return 1 if bad else 0


if __name__ == "__main__":
    run_main(main, "bench.boards")
