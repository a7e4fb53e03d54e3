"""`python -m devstack run` starts Connective locally without Docker; `check` reports what is available."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol, TextIO

from devstack.gateway import LOCAL_GATEWAY_PORT, find_nginx, local_gateway_config, nginx_command
from devstack.processes import REPO_ROOT, ManagedProcess, ProcessExitedError
from devstack.servers import (
    FERRETDB_VERSION,
    FerretDBServer,
    RedisServer,
    ServerStartError,
    ServerUnavailable,
    ensure_ferretdb,
    find_ferretdb,
    find_redis_server,
    free_port,
    port_is_free,
)
from devstack.topology import DEV_JWT_SECRET, SERVICES, ServiceSpec

HOST = "127.0.0.1"
RUN_DIR = REPO_ROOT / ".cache" / "run"
# Where make run keeps Redis's and FerretDB's data, if not RUN_DIR.
RUN_DIR_VARIABLE = "CONNECTIVE_RUN_DIR"
# The port make run's gateway (nginx, where installed) listens on, if not 8080 as under compose.
GATEWAY_PORT_VARIABLE = "GATEWAY_PORT"
REDIS_PORT = 6379
MONGO_PORT = 27017
MONGOMOCK_URL = "mongomock://"
HEALTH_TIMEOUT = 30.0
LOGIN_HINT = "make token USER=alice ROLE=teacher"


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack: a display name, its command, and the URL that says it is ready."""

    name: str
    command: Sequence[str]
    health_url: str | None = None


class Watched(Protocol):
    """Anything run_stack should watch besides its own processes, e.g. the Redis server."""

    name: str

    @property
    def is_running(self) -> bool:
        """Return whether it is alive."""
        ...

    @property
    def returncode(self) -> int | None:
        """Return its exit status once it has exited."""
        ...


class Shutdown:
    """Turn the first SIGINT, SIGTERM or SIGHUP into KeyboardInterrupt, and ignore any while stopping."""

    def __init__(self) -> None:
        self.stopping = False

    def install(self) -> None:
        """Handle the stop signals in this (main) thread."""
        for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signal_number, self._handle)

    def begin(self) -> None:
        """Mark that stopping has started, so further signals cannot interrupt the clean-up."""
        self.stopping = True

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise KeyboardInterrupt


@dataclass
class Backends:
    """Where Redis and MongoDB are, and the servers this run started for them."""

    redis_url: str
    mongo_url: str
    inline_worker: bool
    servers: list[RedisServer | FerretDBServer] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the started servers, last started first."""
        for server in reversed(self.servers):
            server.stop()


def say(message: str, out: TextIO | None = None) -> None:
    """Print one devstack message."""
    print(f"[devstack] {message}", file=out or sys.stdout, flush=True)


def service_port(spec: ServiceSpec, environ: Mapping[str, str]) -> int:
    """Return the service's port from its <SERVICE>_PORT variable, or the topology's default."""
    raw = environ.get(spec.port_variable, "").strip()
    if not raw:
        return spec.port
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{spec.port_variable} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"{spec.port_variable} must be between 1 and 65535, got {port}")
    return port


def build_environment(
    environ: Mapping[str, str], *, redis_url: str, mongo_url: str, inline_worker: bool
) -> dict[str, str]:
    """Return the environment every service process gets: the caller's, plus the stack's wiring."""
    env = dict(environ)
    env["REDIS_URL"] = redis_url
    env["MONGO_URL"] = mongo_url
    if not env.get("JWT_SECRET", "").strip() and not env.get("JWT_PUBLIC_KEY", "").strip():
        env["JWT_SECRET"] = DEV_JWT_SECRET
    for spec in SERVICES:
        port = service_port(spec, environ)
        env[spec.port_variable] = str(port)
        env[spec.url_variable] = f"http://{HOST}:{port}"
    if not env.get("LOG_LEVEL", "").strip():
        env["LOG_LEVEL"] = "INFO"
    env["PYTHONUNBUFFERED"] = "1"
    if inline_worker:
        env["INLINE_WORKER"] = "true"
        # The in-process worker and the mongomock store live in one process, so there must be only one.
        env["WEB_CONCURRENCY"] = "1"
    return env


def stack_processes(env: Mapping[str, str], *, inline_worker: bool) -> list[ProcessSpec]:
    """Return each service's API and (unless workers run inline) worker, with the commands compose uses."""
    processes: list[ProcessSpec] = []
    for spec in SERVICES:
        port = int(env[spec.port_variable])
        processes.append(
            ProcessSpec(
                f"{spec.compose_name}-api",
                spec.api_command(host=HOST, port=port),
                health_url=f"http://{HOST}:{port}/healthz",
            )
        )
        if not inline_worker:
            processes.append(ProcessSpec(f"{spec.compose_name}-worker", spec.worker_command()))
    return processes


# The supervisor is this module's own, over the same ManagedProcess the end-to-end tests kill at chosen lines.
# honcho 2.0's Manager was tried in its place (December 2026) and made the code larger, not smaller: it has no
# kill timeout (it escalates to SIGKILL only after some process has exited), its signal handler fails on a
# signal that arrives before it knows every pid, and it notices an exit only when the output pipe closes,
# which a dead RQ worker's forked scheduler keeps open; covering those took more code than this loop.
def run_stack(
    env: Mapping[str, str],
    processes: Sequence[ProcessSpec],
    *,
    watched: Sequence[Watched] = (),
    on_ready: Callable[[list[ManagedProcess]], None] | None = None,
    stop_event: threading.Event | None = None,
    shutdown: Shutdown | None = None,
    log_dir: Path | None = None,
    health_timeout: float = HEALTH_TIMEOUT,
    poll_interval: float = 0.2,
    stop_timeout: float = 10.0,
    out: TextIO | None = None,
) -> int:
    """Start the processes, wait until healthy, supervise until one exits (1) or a stop is asked (0)."""
    stop_event = stop_event or threading.Event()
    started: list[ManagedProcess] = []
    try:
        if not _start_all(env, processes, started, log_dir, out):
            return 1
        if not _wait_healthy(processes, started, health_timeout, out):
            return 1
        if on_ready is not None:
            on_ready(started)
        while not stop_event.wait(poll_interval):
            if _report_exited(started, watched, out):
                return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if shutdown is not None:
            shutdown.begin()
        if started:
            say("stopping " + ", ".join(process.name for process in reversed(started)), out)
        for process in reversed(started):
            process.stop(timeout=stop_timeout)


def _start_all(
    env: Mapping[str, str],
    processes: Sequence[ProcessSpec],
    started: list[ManagedProcess],
    log_dir: Path | None,
    out: TextIO | None,
) -> bool:
    """Start each process, appending it to `started`; return False if one cannot be started."""
    for spec in processes:
        log_path = log_dir / f"{spec.name}.log" if log_dir is not None else None
        try:
            started.append(ManagedProcess(spec.name, spec.command, env, log_path=log_path, output=out).start())
        except OSError as error:
            say(f"cannot start {spec.name} ({' '.join(spec.command)}): {error}", out)
            return False
    return True


def _wait_healthy(
    processes: Sequence[ProcessSpec], started: list[ManagedProcess], timeout: float, out: TextIO | None
) -> bool:
    """Wait for every health URL to answer 200; return False, after showing why, if one does not."""
    for spec, process in zip(processes, started, strict=True):
        if spec.health_url is None:
            continue
        try:
            process.wait_http_ok(spec.health_url, timeout=timeout)
        except (ProcessExitedError, TimeoutError) as error:
            say(str(error), out)
            _show_tail(process, out)
            return False
    return True


def _report_exited(started: list[ManagedProcess], watched: Sequence[Watched], out: TextIO | None) -> bool:
    """Return True, after saying which, if any process or watched server has exited."""
    for process in started:
        if not process.is_running:
            say(f"{process.name} exited unexpectedly with status {process.returncode}", out)
            _show_tail(process, out)
            return True
    for dependency in watched:
        if not dependency.is_running:
            say(f"{dependency.name} exited unexpectedly with status {dependency.returncode}", out)
            return True
    return False


def _show_tail(process: ManagedProcess, out: TextIO | None) -> None:
    """Print the end of a process's log, unless its output was already streamed to the terminal."""
    if process.log_path is None:
        say(f"see the [{process.name}] lines above for its output", out)
        return
    say(f"last lines of {process.log_path}:", out)
    for line in process.log_tail().splitlines():
        print(f"    {line}", file=out or sys.stdout, flush=True)


def _preferred_port(preferred: int) -> tuple[int, str]:
    """Return the preferred port if free, else a free one, with a note saying which."""
    if port_is_free(preferred):
        return preferred, f"port {preferred}"
    port = free_port()
    return port, f"port {port} ({preferred} is in use)"


def run_directory(environ: Mapping[str, str]) -> Path:
    """Return where make run keeps its servers' data and the gateway's config: $CONNECTIVE_RUN_DIR or .cache/run."""
    return Path(environ.get(RUN_DIR_VARIABLE, "").strip() or RUN_DIR)


def start_backends(environ: Mapping[str, str], *, run_dir: Path | None = None, out: TextIO | None = None) -> Backends:
    """Use REDIS_URL/MONGO_URL if set, else start Redis and FerretDB, falling back to mongomock.

    Their data goes under `run_dir`, else $CONNECTIVE_RUN_DIR, else .cache/run.
    """
    if run_dir is None:
        run_dir = run_directory(environ)
    backends = Backends(redis_url="", mongo_url="", inline_worker=False)
    try:
        redis_url = environ.get("REDIS_URL", "").strip()
        if redis_url:
            say(f"Redis: using REDIS_URL={redis_url}", out)
        else:
            port, note = _preferred_port(REDIS_PORT)
            redis_server = RedisServer(data_dir=run_dir / "redis", port=port)
            redis_server.start()
            backends.servers.append(redis_server)
            redis_url = redis_server.url
            say(f"Redis: started {redis_server.binary} on {note}, data in {redis_server.directory}", out)
        backends.redis_url = redis_url

        mongo_url = environ.get("MONGO_URL", "").strip()
        if mongo_url:
            say(f"MongoDB: using MONGO_URL={mongo_url}", out)
            backends.mongo_url = mongo_url
            # The in-process store is private to each process: its workers must run inside the APIs.
            backends.inline_worker = mongo_url.startswith(MONGOMOCK_URL)
            return backends
        try:
            binary = ensure_ferretdb(build=True)
            port, note = _preferred_port(MONGO_PORT)
            ferretdb_server = FerretDBServer(binary, data_dir=run_dir / "ferretdb", port=port)
            ferretdb_server.start()
        except (ServerUnavailable, ServerStartError) as error:
            say(f"WARNING: FerretDB is unavailable: {error}", out)
            say(
                "WARNING: falling back to MONGO_URL=mongomock:// with INLINE_WORKER=true: data lives inside "
                "each API process and is LOST on exit, and each API runs its queue worker in-process "
                "(no separate worker processes, one gunicorn worker each). Install Go or set MONGO_URL "
                "for a real database.",
                out,
            )
            backends.mongo_url = MONGOMOCK_URL
            backends.inline_worker = True
            return backends
        backends.servers.append(ferretdb_server)
        backends.mongo_url = ferretdb_server.url
        say(
            f"MongoDB: started FerretDB {FERRETDB_VERSION} on {note}, data in {ferretdb_server.directory}",
            out,
        )
        return backends
    except BaseException:
        backends.stop()
        raise


def gateway_process(
    environ: Mapping[str, str], env: Mapping[str, str], run_dir: Path, out: TextIO | None = None
) -> tuple[ProcessSpec | None, str | None]:
    """Return the gateway (compose's nginx config on the local APIs) and its URL, or nothing without nginx."""
    nginx = find_nginx()
    if nginx is None:
        say("Gateway: nginx is not installed, so there is none; each service answers on its own port", out)
        return None, None
    wanted = environ.get(GATEWAY_PORT_VARIABLE, "").strip()
    port, note = (int(wanted), f"port {wanted}") if wanted else _preferred_port(LOCAL_GATEWAY_PORT)
    upstreams = {spec.name: int(env[spec.port_variable]) for spec in SERVICES}
    wrapper = local_gateway_config(run_dir / "gateway", port, upstreams)
    say(f"Gateway: nginx ({nginx}) on {note}, with deploy/nginx/gateway.conf as compose runs it", out)
    url = f"http://{HOST}:{port}"
    return ProcessSpec("gateway", nginx_command(nginx, wrapper), health_url=f"{url}/healthz"), url


def print_summary(
    env: Mapping[str, str], backends: Backends, out: TextIO | None = None, gateway_url: str | None = None
) -> None:
    """Print where each service, its docs and the backends are."""
    stream = out or sys.stdout
    rows = [("service", "URL", "docs")]
    for spec in SERVICES:
        url = env[spec.url_variable]
        rows.append((spec.name, url, f"{url}/docs"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    print("", file=stream)
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(("  " + "  ".join(cells)).rstrip(), file=stream)
    if gateway_url:
        print(f"\n  Gateway  {gateway_url}  (every public path of every service, one origin)", file=stream)
    print(f"\n  Redis    {backends.redis_url}", file=stream)
    mongo_note = "  (in-process, lost on exit)" if backends.mongo_url == MONGOMOCK_URL else ""
    print(f"  MongoDB  {backends.mongo_url}{mongo_note}", file=stream)
    print(f"\n  Get a token: {LOGIN_HINT}   Stop: Ctrl-C\n", file=stream, flush=True)


def _busy_service_ports(env: Mapping[str, str]) -> list[str]:
    """Return a note for each service port something else already listens on."""
    busy = []
    for spec in SERVICES:
        port = int(env[spec.port_variable])
        if not port_is_free(port):
            busy.append(f"{spec.port_variable}={port}")
    return busy


def run(environ: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Start Redis, MongoDB and every service, then supervise them until Ctrl-C or a failure."""
    environ = dict(os.environ if environ is None else environ)
    for spec in SERVICES:
        try:
            service_port(spec, environ)
        except ValueError as error:
            say(f"error: {error}", out)
            return 2
    shutdown = Shutdown()
    if threading.current_thread() is threading.main_thread():
        shutdown.install()
    backends: Backends | None = None
    try:
        run_dir = run_directory(environ)
        backends = start_backends(environ, run_dir=run_dir, out=out)
        env = build_environment(
            environ,
            redis_url=backends.redis_url,
            mongo_url=backends.mongo_url,
            inline_worker=backends.inline_worker,
        )
        if env["JWT_SECRET"] == DEV_JWT_SECRET and not environ.get("JWT_SECRET", "").strip():
            say(f"JWT_SECRET={DEV_JWT_SECRET} is a development secret; never use it in production", out)
        busy = _busy_service_ports(env)
        if busy:
            say(f"error: something already listens on {', '.join(busy)}; stop it or choose other ports", out)
            return 1
        ready_backends = backends
        gateway, gateway_url = gateway_process(environ, env, run_dir, out)
        processes = stack_processes(env, inline_worker=backends.inline_worker)
        return run_stack(
            env,
            [*processes, gateway] if gateway else processes,
            watched=backends.servers,
            on_ready=lambda _processes: print_summary(env, ready_backends, out, gateway_url),
            shutdown=shutdown,
            out=out,
        )
    except KeyboardInterrupt:
        return 0
    except (ServerUnavailable, ServerStartError) as error:
        say(f"error: {error}", out)
        return 1
    finally:
        shutdown.begin()
        if backends is not None and backends.servers:
            say("stopping " + ", ".join(server.name for server in reversed(backends.servers)), out)
            backends.stop()


def check(out: TextIO | None = None) -> int:
    """Print which backends `make run` and the tests can use here; return 1 if Redis is missing."""
    stream = out or sys.stdout

    def line(label: str, text: str) -> None:
        print(f"  {label:<14}{text}", file=stream)

    print("Connective development stack:", file=stream)
    redis_ok = True
    try:
        redis_binary = find_redis_server()
        version = subprocess.run(
            [str(redis_binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        line("redis-server", f"{redis_binary}  ({version})")
    except ServerUnavailable as error:
        redis_ok = False
        line("redis-server", f"MISSING: {error}")
    go = shutil.which("go")
    line("go", go or "not installed (needed once, to build FerretDB)")
    try:
        ferretdb = find_ferretdb()
        if ferretdb is not None:
            line("ferretdb", str(ferretdb))
        elif go:
            line("ferretdb", f"not built yet; `make run` and the integration tests build {FERRETDB_VERSION}")
        else:
            line("ferretdb", "not built and Go is missing: `make run` falls back to mongomock")
    except ServerUnavailable as error:
        line("ferretdb", f"MISSING: {error}")
    try:
        line("mongomock", f"{importlib.metadata.version('mongomock')} (fallback: MONGO_URL=mongomock://)")
    except importlib.metadata.PackageNotFoundError:
        line("mongomock", "not installed")
    for variable in ("REDIS_URL", "MONGO_URL"):
        if os.environ.get(variable, "").strip():
            line(variable, f"{os.environ[variable]}  (set: `make run` uses it instead of starting a server)")
    return 0 if redis_ok or os.environ.get("REDIS_URL", "").strip() else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start Redis, MongoDB (FerretDB) and all services; Ctrl-C stops them")
    commands.add_parser("check", help="print which backends are available")
    arguments = parser.parse_args(argv)
    if arguments.command == "check":
        return check()
    return run()


if __name__ == "__main__":
    sys.exit(main())
