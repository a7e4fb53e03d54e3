"""Redis connections: one pool per process, made lazily (RQ may fork), never decoding responses."""

from __future__ import annotations

import os
import threading

import redis


class RedisProvider:
    """Hands out this process's Redis connection (bytes responses: RQ needs them)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: redis.Redis | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def connection(self) -> redis.Redis:
        """Return this process's connection."""
        pid = os.getpid()
        if self._connection is None or self._pid != pid:
            with self._lock:
                if self._connection is None or self._pid != pid:
                    self._connection = redis.Redis.from_url(
                        self.url,
                        socket_connect_timeout=3,
                        socket_timeout=10,
                        health_check_interval=30,
                        retry_on_timeout=True,
                    )
                    self._pid = pid
        return self._connection

    def ping(self) -> None:
        """Raise if Redis cannot be reached."""
        self.connection.ping()

    def close(self) -> None:
        """Close this process's pool."""
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None
        self._pid = None
