"""The development stack: real servers, managed processes and the `run` supervisor."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pymongo.errors
import pytest
import redis

from devstack import __main__ as devstack_main
from devstack.__main__ import (
    DEV_JWT_SECRET,
    MONGOMOCK_URL,
    ProcessSpec,
    Shutdown,
    build_environment,
    run_stack,
    stack_processes,
    start_backends,
)
from devstack.processes import REPO_ROOT, ManagedProcess, ProcessExitedError, resolve_command
from devstack.servers import (
    FerretDBServer,
    RedisServer,
    ServerStartError,
    ServerUnavailable,
    ensure_ferretdb,
    free_port,
    port_is_free,
    wait_for_port,
)
from devstack.topology import SERVICES

PYTHON = sys.executable

# Installs its handler before saying "ready", so a test never signals it too early.
# Says so when SIGTERM arrives, and carries on: only SIGKILL ends it.
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, lambda *_: print('got SIGTERM', flush=True)); "
    "print('ready', flush=True); time.sleep(60)"
)


def process_gone(pid: int, timeout: float = 5.0) -> bool:
    """Return whether the process has ended (a zombie nobody reaped counts as ended) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def wait_for_text(process: ManagedProcess, text: str, timeout: float = 10.0) -> None:
    """Wait until the process's log contains `text`."""
    deadline = time.monotonic() + timeout
    while text not in process.read_log():
        assert process.is_running, f"{process.name} exited early: {process.read_log()!r}"
        assert time.monotonic() < deadline, f"{text!r} not in {process.read_log()!r}"
        time.sleep(0.02)


def http_server_spec(name: str, port: int) -> ProcessSpec:
    """Return a stand-in API: a static HTTP server whose / answers 200."""
    return ProcessSpec(
        name,
        ["python", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        health_url=f"http://127.0.0.1:{port}/",
    )


@pytest.fixture
def ferretdb_binary() -> Path:
    try:
        return ensure_ferretdb(build=True)
    except ServerUnavailable as error:
        pytest.skip(f"FerretDB cannot be found or built here: {error}")


# --- ports ------------------------------------------------------------------------------------------


def test_free_port_returns_a_bindable_port() -> None:
    port = free_port()
    assert 1024 <= port < 65536
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()


def test_port_is_free_sees_a_listener_and_wait_for_port_connects() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
        wait_for_port("127.0.0.1", port, timeout=2)
    assert port_is_free(port)


@pytest.mark.timeout(30)
def test_wait_for_port_times_out_when_nothing_listens() -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=str(port)):
        wait_for_port("127.0.0.1", port, timeout=0.3)


# --- ManagedProcess ---------------------------------------------------------------------------------


def test_resolve_command_uses_the_running_interpreter_and_its_scripts() -> None:
    assert resolve_command(["python", "-m", "x"]) == [sys.executable, "-m", "x"]
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if gunicorn.exists():
        assert resolve_command(["gunicorn", "app"]) == [str(gunicorn), "app"]
    assert resolve_command(["no-such-program-here", "a"]) == ["no-such-program-here", "a"]
    assert resolve_command(["/bin/true"]) == ["/bin/true"]


@pytest.mark.timeout(30)
def test_stop_kills_a_child_that_ignores_sigterm_after_the_timeout(tmp_path: Path) -> None:
    process = ManagedProcess("stubborn", ["python", "-c", IGNORES_SIGTERM], log_path=tmp_path / "s.log")
    process.start()
    wait_for_text(process, "ready")
    pid = process.pid
    assert pid is not None

    # It survives SIGTERM, so only the SIGKILL that follows the timeout ends it.
    assert process.stop(timeout=0.5) == -signal.SIGKILL
    assert "got SIGTERM" in process.read_log()
    assert process_gone(pid)
    assert not process.is_running


@pytest.mark.timeout(30)
def test_stop_also_ends_grandchildren_left_in_the_group(tmp_path: Path) -> None:
    # The parent dies on SIGTERM but its child ignores it, like a worker that outlives its master.
    script = (
        "import subprocess, sys, time; "
        f"child = subprocess.Popen([sys.executable, '-c', {IGNORES_SIGTERM!r}]); "
        "print('child', child.pid, flush=True); time.sleep(60)"
    )
    process = ManagedProcess("parent", ["python", "-c", script], log_path=tmp_path / "p.log").start()
    wait_for_text(process, "ready")
    grandchild = int(process.read_log().split("child ", 1)[1].split()[0])

    assert process.stop(timeout=5) == -signal.SIGTERM
    assert process_gone(grandchild)


@pytest.mark.timeout(30)
def test_kill_ends_the_process_at_once_and_stop_afterwards_is_harmless(tmp_path: Path) -> None:
    process = ManagedProcess("victim", ["python", "-c", IGNORES_SIGTERM], log_path=tmp_path / "v.log")
    process.start()
    wait_for_text(process, "ready")
    # A process that ignores SIGTERM ends with SIGKILL's status: kill() sent no SIGTERM first.
    assert process.kill() == -signal.SIGKILL
    assert "got SIGTERM" not in process.read_log()
    assert process.stop() == -signal.SIGKILL
    assert process.returncode == -signal.SIGKILL


@pytest.mark.timeout(30)
def test_streamed_output_is_prefixed_with_the_process_name() -> None:
    output = io.StringIO()
    process = ManagedProcess("greeter", ["python", "-c", "print('hello'); print('world')"], output=output).start()
    assert process.wait(timeout=10) == 0
    process.stop()
    assert output.getvalue() == "[greeter] hello\n[greeter] world\n"
    assert process.read_log() == "hello\nworld\n"


@pytest.mark.timeout(30)
def test_environment_and_working_directory_reach_the_child(tmp_path: Path) -> None:
    script = "import os; print(os.environ['DEVSTACK_PROBE'], os.getcwd())"
    env = {**os.environ, "DEVSTACK_PROBE": "probe-value"}
    process = ManagedProcess("env", ["python", "-c", script], env, log_path=tmp_path / "e.log").start()
    assert process.wait(timeout=10) == 0
    process.stop()
    assert process.read_log().split() == ["probe-value", str(REPO_ROOT)]


@pytest.mark.timeout(30)
def test_wait_http_ok_succeeds_fails_fast_on_exit_and_times_out(tmp_path: Path) -> None:
    port = free_port()
    spec = http_server_spec("web", port)
    with ManagedProcess(spec.name, spec.command, log_path=tmp_path / "web.log") as web:
        web.wait_http_ok(f"http://127.0.0.1:{port}/", timeout=10)
        with pytest.raises(TimeoutError, match="404"):
            web.wait_http_ok(f"http://127.0.0.1:{port}/missing", timeout=0.5)

    quitter = ManagedProcess("quitter", ["python", "-c", "raise SystemExit(4)"], log_path=tmp_path / "q.log")
    with quitter, pytest.raises(ProcessExitedError, match="status 4"):
        quitter.wait_http_ok(f"http://127.0.0.1:{free_port()}/", timeout=10)


# --- the run command's pieces -----------------------------------------------------------------------


def test_build_environment_wires_urls_ports_and_a_development_secret() -> None:
    env = build_environment(
        {"PEER_REVIEW_PORT": "6002", "KEEP": "me"},
        redis_url="redis://127.0.0.1:1/0",
        mongo_url="mongodb://127.0.0.1:2/",
        inline_worker=False,
    )
    assert env["KEEP"] == "me"
    assert env["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert env["MONGO_URL"] == "mongodb://127.0.0.1:2/"
    assert env["JWT_SECRET"] == DEV_JWT_SECRET
    assert env["CHALLENGES_URL"] == "http://127.0.0.1:5001"
    assert env["PEER_REVIEW_URL"] == "http://127.0.0.1:6002"
    assert env["PEER_REVIEW_PORT"] == "6002"
    assert env["LEADERBOARDS_PORT"] == "5003"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "INLINE_WORKER" not in env


def test_build_environment_keeps_configured_keys_and_sets_inline_mode() -> None:
    env = build_environment(
        {"JWT_PUBLIC_KEY": "/keys/public.pem", "LOG_LEVEL": "DEBUG"},
        redis_url="redis://r/0",
        mongo_url=MONGOMOCK_URL,
        inline_worker=True,
    )
    assert "JWT_SECRET" not in env
    assert env["LOG_LEVEL"] == "DEBUG"
    assert env["INLINE_WORKER"] == "true"
    assert env["WEB_CONCURRENCY"] == "1"
    with pytest.raises(ValueError, match="CHALLENGES_PORT"):
        build_environment({"CHALLENGES_PORT": "web"}, redis_url="r", mongo_url="m", inline_worker=False)


def test_stack_processes_use_the_topology_commands() -> None:
    env = build_environment({"CHALLENGES_PORT": "7001"}, redis_url="r", mongo_url="m", inline_worker=False)
    processes = stack_processes(env, inline_worker=False)
    assert [process.name for process in processes] == [
        "challenges-api",
        "challenges-worker",
        "peer-review-api",
        "peer-review-worker",
        "leaderboards-api",
        "leaderboards-worker",
    ]
    challenges = SERVICES[0]
    assert processes[0].command == challenges.api_command(host="127.0.0.1", port=7001)
    assert processes[0].health_url == "http://127.0.0.1:7001/healthz"
    assert processes[1].command == challenges.worker_command()
    inline = stack_processes(env, inline_worker=True)
    assert [process.name for process in inline] == ["challenges-api", "peer-review-api", "leaderboards-api"]


@pytest.mark.timeout(60)
def test_run_stack_stops_everything_when_a_child_exits(tmp_path: Path) -> None:
    output = io.StringIO()
    seen: list[ManagedProcess] = []
    go = tmp_path / "go"
    # The crasher exits only once the stack is ready, however long the web server takes to start.
    crasher = (
        f"import pathlib, time\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.05)\nraise SystemExit(3)"
    )
    processes = [http_server_spec("web", free_port()), ProcessSpec("crasher", ["python", "-c", crasher])]

    def ready(started: list[ManagedProcess]) -> None:
        seen.extend(started)
        go.touch()

    result = run_stack(dict(os.environ), processes, on_ready=ready, log_dir=tmp_path, out=output, health_timeout=10)
    assert result == 1
    assert "crasher exited unexpectedly with status 3" in output.getvalue()
    assert [process.name for process in seen] == ["web", "crasher"]
    assert not any(process.is_running for process in seen)
    assert (tmp_path / "web.log").exists()


@pytest.mark.timeout(60)
def test_run_stack_returns_0_and_stops_in_reverse_order_when_asked(tmp_path: Path) -> None:
    output = io.StringIO()
    seen: list[ManagedProcess] = []

    def interrupt(processes: list[ManagedProcess]) -> None:
        seen.extend(processes)
        raise KeyboardInterrupt  # what the Shutdown handler raises on Ctrl-C or SIGTERM

    processes = [
        http_server_spec("first", free_port()),
        ProcessSpec("second", ["python", "-c", IGNORES_SIGTERM]),
    ]
    result = run_stack(dict(os.environ), processes, on_ready=interrupt, log_dir=tmp_path, out=output, stop_timeout=0.5)
    assert result == 0
    assert "stopping second, first" in output.getvalue()
    assert [process.returncode for process in seen] == [-signal.SIGTERM, -signal.SIGKILL]


@pytest.mark.timeout(60)
def test_run_stack_shows_the_log_tail_when_a_health_check_fails(tmp_path: Path) -> None:
    output = io.StringIO()
    failing = ProcessSpec(
        "broken-api",
        ["python", "-c", "print('cannot import app'); raise SystemExit(2)"],
        health_url=f"http://127.0.0.1:{free_port()}/healthz",
    )
    assert run_stack(dict(os.environ), [failing], log_dir=tmp_path, out=output) == 1
    assert "broken-api exited with status 2" in output.getvalue()
    assert "    cannot import app" in output.getvalue()


@pytest.mark.timeout(60)
def test_run_stack_stops_when_a_watched_backend_dies(tmp_path: Path) -> None:
    output = io.StringIO()
    backend = ManagedProcess("fake-redis", ["python", "-c", "import time; time.sleep(0.5)"])
    with backend:
        result = run_stack(
            dict(os.environ),
            [ProcessSpec("api", ["python", "-c", "import time; time.sleep(60)"])],
            watched=[backend],
            log_dir=tmp_path,
            out=output,
        )
    assert result == 1
    assert "fake-redis exited unexpectedly with status 0" in output.getvalue()


@pytest.mark.timeout(30)
def test_shutdown_turns_the_first_signal_into_keyboard_interrupt_and_ignores_later_ones() -> None:
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    shutdown = Shutdown()
    try:
        shutdown.install()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        assert shutdown.stopping
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


SUPERVISOR_SCRIPT = """
import sys
from pathlib import Path
from devstack.__main__ import ProcessSpec, Shutdown, run_stack

port, log_dir = int(sys.argv[1]), Path(sys.argv[2])
shutdown = Shutdown()
shutdown.install()
web = ProcessSpec("web", ["python", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                  health_url=f"http://127.0.0.1:{port}/")


def announce(processes):
    print("ready", processes[0].pid, flush=True)


sys.exit(run_stack({}, [web], on_ready=announce, shutdown=shutdown, log_dir=log_dir))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_children_and_exits_0(tmp_path: Path, stop_signal: signal.Signals) -> None:
    supervisor = subprocess.Popen(
        [PYTHON, "-c", SUPERVISOR_SCRIPT, str(free_port()), str(tmp_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert supervisor.stdout is not None
        line = supervisor.stdout.readline()
        assert line.startswith("ready "), line
        child = int(line.split()[1])
        supervisor.send_signal(stop_signal)
        assert supervisor.wait(timeout=20) == 0
        assert "stopping web" in supervisor.stdout.read()
        assert process_gone(child)
    finally:
        supervisor.kill()
        supervisor.wait()


def test_start_backends_uses_configured_urls_without_starting_servers() -> None:
    backends = start_backends(
        {"REDIS_URL": "redis://elsewhere:6379/0", "MONGO_URL": "mongodb://elsewhere:27017/"},
        out=io.StringIO(),
    )
    assert backends.redis_url == "redis://elsewhere:6379/0"
    assert backends.mongo_url == "mongodb://elsewhere:27017/"
    assert not backends.inline_worker
    assert backends.servers == []


def test_start_backends_falls_back_to_mongomock_with_inline_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(build: bool = True) -> Path:
        raise ServerUnavailable("Go is not installed")

    monkeypatch.setattr(devstack_main, "ensure_ferretdb", unavailable)
    output = io.StringIO()
    backends = start_backends({"REDIS_URL": "redis://elsewhere:6379/0"}, out=output)
    assert backends.mongo_url == MONGOMOCK_URL
    assert backends.inline_worker
    assert "Go is not installed" in output.getvalue()
    assert "LOST on exit" in output.getvalue()


@pytest.mark.timeout(60)
def test_check_command_reports_the_backends() -> None:
    completed = subprocess.run(
        [PYTHON, "-m", "devstack", "check"], check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert "redis-server" in completed.stdout
    assert "ferretdb" in completed.stdout
    assert completed.returncode in (0, 1), completed.stderr


# --- real servers -----------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except ServerUnavailable as error:
        pytest.skip(str(error))
    with server:
        yield server


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_redis_keeps_data_across_restart_and_stop_leaves_nothing(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        client.set("answer", "42")
    first_pid = redis_server.pid
    assert first_pid is not None

    redis_server.restart()

    assert redis_server.pid != first_pid
    assert process_gone(first_pid)
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        assert client.get("answer") == b"42"
    pid, directory = redis_server.pid, redis_server.directory
    assert pid is not None
    redis_server.stop()
    assert process_gone(pid)
    assert not directory.exists()
    assert port_is_free(redis_server.port)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_redis_recovers_acknowledged_writes_after_a_crash(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        client.rpush("queue", "job-1", "job-2")
    redis_server.kill()
    assert not redis_server.is_running
    redis_server.restart()
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        assert client.lrange("queue", 0, -1) == [b"job-1", b"job-2"]


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_server_stopped_for_a_while_comes_back_on_its_port_with_its_data(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        client.set("kept", "yes")
    port, first_pid = redis_server.port, redis_server.pid
    assert first_pid is not None

    with redis_server.stopped():
        assert not redis_server.is_running
        assert process_gone(first_pid)
        assert port_is_free(port)

    assert (redis_server.is_running, redis_server.port) == (True, port)
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        assert client.get("kept") == b"yes"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_given_data_dir_is_kept_reused_and_guarded(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with RedisServer(data_dir=data_dir) as first:
        with redis.Redis.from_url(first.url, socket_timeout=5) as client:
            client.set("kept", "yes")
        with pytest.raises(ServerStartError, match="another redis"):
            RedisServer(data_dir=data_dir).start()
    assert (data_dir / "redis.log").exists()
    with RedisServer(data_dir=data_dir) as second, redis.Redis.from_url(second.url, socket_timeout=5) as client:
        assert client.get("kept") == b"yes"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_redis_start_failure_reports_the_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = RedisServer(port=squatter.getsockname()[1], startup_timeout=10)
        with pytest.raises(ServerStartError, match="log tail"):
            server.start()
    assert not server.is_running


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_ferretdb_round_trips_documents_and_enforces_unique_indexes(ferretdb_binary: Path) -> None:
    with FerretDBServer(ferretdb_binary) as server:
        assert server.url == f"mongodb://127.0.0.1:{server.port}/"
        client: pymongo.MongoClient = pymongo.MongoClient(server.url, serverSelectionTimeoutMS=5000)
        with client:
            users = client["devstack_test"]["users"]
            users.create_index("email", unique=True)
            users.insert_one({"email": "ada@example.org", "name": "Ada"})
            found = users.find_one({"email": "ada@example.org"}, {"_id": False})
            assert found == {"email": "ada@example.org", "name": "Ada"}
            with pytest.raises(pymongo.errors.DuplicateKeyError):
                users.insert_one({"email": "ada@example.org", "name": "Impostor"})
        pid, directory = server.pid, server.directory
    assert pid is not None
    assert process_gone(pid)
    assert not directory.exists()


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_ferretdb_keeps_data_across_restart(ferretdb_binary: Path) -> None:
    with FerretDBServer(ferretdb_binary) as server:
        with pymongo.MongoClient[Any](server.url, serverSelectionTimeoutMS=5000) as client:
            client["devstack_test"]["things"].insert_one({"_id": "kept"})
        server.restart()
        with pymongo.MongoClient[Any](server.url, serverSelectionTimeoutMS=5000) as client:
            assert client["devstack_test"]["things"].find_one({"_id": "kept"}) == {"_id": "kept"}


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_start_backends_starts_redis_and_ferretdb_in_the_run_directory(
    ferretdb_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other ports than 6379/27017, so a developer's own servers or `make run` are never touched.
    monkeypatch.setattr(devstack_main, "REDIS_PORT", free_port())
    monkeypatch.setattr(devstack_main, "MONGO_PORT", free_port())
    backends = start_backends({}, run_dir=tmp_path, out=io.StringIO())
    try:
        assert backends.redis_url == f"redis://127.0.0.1:{devstack_main.REDIS_PORT}/0"
        assert backends.mongo_url == f"mongodb://127.0.0.1:{devstack_main.MONGO_PORT}/"
        assert not backends.inline_worker
        assert [server.name for server in backends.servers] == ["redis", "ferretdb"]
        with redis.Redis.from_url(backends.redis_url, socket_timeout=5) as client:
            assert client.ping()
        with pymongo.MongoClient[Any](backends.mongo_url, serverSelectionTimeoutMS=5000) as mongo:
            assert mongo.admin.command("ping")["ok"] == 1.0
    finally:
        pids = [server.pid for server in backends.servers]
        backends.stop()
    assert all(pid is not None and process_gone(pid) for pid in pids)
    assert (tmp_path / "redis").is_dir()
    assert (tmp_path / "ferretdb").is_dir()


@pytest.mark.parametrize(("mongo_url", "inline"), [("mongomock://", True), ("mongodb://127.0.0.1:27017/", False)])
def test_a_given_in_process_store_runs_the_workers_inside_the_apis(mongo_url: str, inline: bool) -> None:
    backends = devstack_main.start_backends(
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "MONGO_URL": mongo_url}, out=io.StringIO()
    )
    assert backends.mongo_url == mongo_url
    assert backends.inline_worker is inline
    ports = {spec.port_variable: str(spec.port) for spec in SERVICES}
    names = [spec.name for spec in devstack_main.stack_processes(ports, inline_worker=backends.inline_worker)]
    assert any(name.endswith("-worker") for name in names) is not inline
