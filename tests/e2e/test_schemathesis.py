"""schemathesis against each running service's OpenAPI document: every check, every phase, a fixed seed.

The services run as in production (gunicorn APIs and RQ workers over FerretDB or MongoDB and Redis), and
the schemathesis command line fuzzes each one: the examples of the document, the coverage phase (each
constraint's edges), random fuzzing, and stateful sequences that follow the documents' links (create a
challenge, then publish it, then submit to it). Every check is on: no 5xx, every status and content type
documented, every body valid against its schema, schema-invalid requests refused, schema-valid ones
accepted but for the rules the configuration lists (tests/e2e/schemathesis.toml).

Rate limits are off here: the fuzzer sends thousands of writes a minute as one user.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.topology import SERVICES
from tests.e2e.conftest import Stack, running_stack
from tests.factories import token

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Each run stays within a few tens of seconds on two cores; a hang fails instead of stalling CI.
RUN_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def fuzzed(mongo_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system, with rate limits off."""
    logs = tmp_path_factory.mktemp("schemathesis-stack")
    with running_stack(mongo_server_url, logs, RATE_LIMIT_USER="off", RATE_LIMIT_IP="off") as running:
        yield running


def _schemathesis(url: str, reports: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONNECTIVE_TEACHER_TOKEN": token("fuzz-teacher", "teacher", cohorts=("7b", "c1")),
        "CONNECTIVE_LEARNER_TOKEN": token("fuzz-learner", "learner", cohorts=("7b", "c1")),
        "CONNECTIVE_SERVICE_TOKEN": token("fuzz-service", "service"),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--report",
        "junit",
        "--report-dir",
        str(reports),
    ]
    return subprocess.run(
        command, cwd=reports, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )


@pytest.mark.parametrize("service_name", [spec.name for spec in SERVICES])
def test_schemathesis_finds_nothing_against_the_running_service(
    fuzzed: Stack, service_name: str, tmp_path: Path
) -> None:
    result = _schemathesis(fuzzed.urls[service_name], tmp_path)
    output = result.stdout + result.stderr
    summary = re.search(r"(\d+) generated, .*", output)
    print(f"schemathesis {service_name}: {summary.group(0) if summary else 'no summary'}")
    assert result.returncode == 0, output[-20_000:]
    assert summary is not None and int(summary.group(1)) > 0, output[-5_000:]
    assert "Server error" not in output


@pytest.mark.parametrize("service_name", [spec.name for spec in SERVICES])
def test_a_request_line_too_long_for_the_server_is_refused_as_problem_json(fuzzed: Stack, service_name: str) -> None:
    """gunicorn refuses request lines over 8190 bytes before the app sees them; the answer is still problem+json."""
    response = requests.get(f"{fuzzed.urls[service_name]}/healthz?pad={'x' * 9000}", timeout=10)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 414
