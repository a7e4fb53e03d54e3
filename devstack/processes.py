"""Child processes that always end: own process group, bounded stop, and an atexit safety net."""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TextIO

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent

# Enough lines to show why a process failed without flooding the terminal.
TAIL_LINES = 200


class ProcessExitedError(RuntimeError):
    """A managed process ended while the caller was waiting for it to become ready."""


def resolve_command(command: Sequence[str]) -> list[str]:
    """Return the command with `python` and console scripts taken from the running interpreter's venv."""
    if not command:
        raise ValueError("command is empty")
    program, *arguments = command
    if program == "python":
        return [sys.executable, *arguments]
    if "/" not in program:
        # `make run` may be started without the venv activated; its scripts still live beside python.
        candidate = Path(sys.executable).parent / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate), *arguments]
    return [program, *arguments]


def _signal_group(process_group: int, signal_number: int) -> None:
    """Send a signal to a whole process group, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal_number)


class Startable:
    """Something started and stopped as a context manager: `with ...:` starts it and stops it after."""

    def start(self) -> Self:
        """Start it."""
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop it."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ManagedProcess(Startable):
    """Run one command in its own process group, with output prefixed to a stream or written to a file."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        log_path: Path | None = None,
        cwd: Path | None = None,
        output: TextIO | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.command = resolve_command(command)
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.cwd = cwd or REPO_ROOT
        self.output = output
        self.pass_fds = tuple(pass_fds)
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._finished = True

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, returncode={self.returncode})"

    @property
    def pid(self) -> int | None:
        """Return the process id, or None before start."""
        return self._popen.pid if self._popen else None

    @property
    def is_running(self) -> bool:
        """Return whether the process has started and not yet exited."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """Return the exit status (negative for a signal), or None while running or before start."""
        return self._popen.poll() if self._popen else None

    def start(self) -> Self:
        """Start the command; a process that has exited may be started again."""
        if self.is_running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._finish()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
            stdout: IO[bytes] | int = self._log_file
        else:
            stdout = subprocess.PIPE
        self._tail.clear()
        try:
            self._popen = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                # Its own group so stop() reaches gunicorn's workers too, and a terminal's Ctrl-C reaches
                # only us, letting us stop the children in order.
                start_new_session=True,
                pass_fds=self.pass_fds,
            )
        except BaseException:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            raise
        self._finished = False
        atexit.register(self._stop_at_exit)
        if self._popen.stdout is not None:
            self._reader = threading.Thread(
                target=self._copy_output, args=(self._popen.stdout,), name=f"output-{self.name}", daemon=True
            )
            self._reader.start()
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send SIGTERM to the process group, then SIGKILL after `timeout` seconds; return the exit status."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)
        self._finish()
        return popen.returncode

    def kill(self) -> int | None:
        """Send SIGKILL to the process group at once (a crash, for tests); return the exit status."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait(timeout=10)
        self._finish()
        return popen.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit and return its status; raise subprocess.TimeoutExpired on timeout."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.wait(timeout=timeout)

    def wait_http_ok(self, url: str, timeout: float = 30.0) -> None:
        """Poll `url` until it answers 200; raise ProcessExitedError or TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        last_problem = "no answer yet"
        answered = False
        while True:
            if not self.is_running:
                raise ProcessExitedError(f"{self.name} exited with status {self.returncode} before {url} answered 200")
            try:
                response = requests.get(url, timeout=min(2.0, max(0.1, deadline - time.monotonic())))
            except requests.RequestException as error:
                # An answer heard before says more than a last attempt cut short by the deadline.
                if not answered:
                    last_problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    return
                answered = True
                last_problem = f"HTTP {response.status_code}"
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: {url} did not answer 200 within {timeout:g} s ({last_problem})")
            time.sleep(0.1)

    def read_log(self) -> str:
        """Return the log file's text, or the most recent output lines when output is streamed."""
        if self.log_path is not None:
            try:
                return self.log_path.read_text(errors="replace")
            except FileNotFoundError:
                return ""
        return "".join(self._tail)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last `lines` lines of output."""
        return "\n".join(self.read_log().splitlines()[-lines:])

    def _stop_at_exit(self) -> None:
        self.stop(timeout=5.0)

    def _finish(self) -> None:
        """Release what an ended run holds: stray group members, log file, reader thread, atexit hook."""
        popen = self._popen
        if self._finished or popen is None or popen.poll() is None:
            return
        self._finished = True
        # The leader is gone but children it forked may linger in the group (e.g. gunicorn workers).
        # Only once, right after the exit: a group id is free for reuse once its last member is gone.
        _signal_group(popen.pid, signal.SIGKILL)
        atexit.unregister(self._stop_at_exit)
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None
        if popen.stdout is not None and not popen.stdout.closed:
            popen.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _copy_output(self, stream: IO[bytes]) -> None:
        """Copy the child's output line by line to the output stream with a `[name] ` prefix."""
        prefix = f"[{self.name}] "
        try:
            for raw_line in iter(stream.readline, b""):
                line = raw_line.decode("utf-8", errors="replace")
                self._tail.append(line)
                target = self.output or sys.stdout
                target.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
                target.flush()
        except (OSError, ValueError):
            # The stream was closed under us by _finish(); nothing more to copy.
            return
