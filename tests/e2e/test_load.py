"""The load benchmark's driver, briefly: every main endpoint of the three services loaded for a few seconds.

The same seeding, endpoints and load generator as `python -m bench.load` (wrk where it is installed, else
Python processes), with fewer connections and two seconds an endpoint. What it checks is what the benchmark
fails on: no answer is a 5xx and no request fails in transport (refused, reset, timed out). Throughput and
latency are printed, never asserted: they depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import pytest

from bench.harness import Load, Stack
from bench.load import describe, print_header, print_result, run_load

pytestmark = pytest.mark.e2e

SECONDS_PER_ENDPOINT = 2


def test_every_main_endpoint_under_load_answers_without_a_5xx_or_a_transport_error(mongo_server_url: str) -> None:
    load = Load.choose("auto", duration=SECONDS_PER_ENDPOINT, threads=2, connections=8)
    print(f"\n[load] {describe(load)}")
    print_header()
    with Stack(mongo_url=mongo_server_url, log_level="WARNING") as stack:
        results = run_load(stack, load, SECONDS_PER_ENDPOINT, report=print_result)
    assert len(results) == 11
    for result in results:
        assert result.requests > 0, result.endpoint
        assert result.server_errors == 0, (result.endpoint, result.errors())
        assert not result.transport_errors, (result.endpoint, result.errors())
