"""MongoDB connections: one client per process, made lazily (after any fork), from MONGO_URL."""

from __future__ import annotations

import os
import threading
from typing import Any

import mongomock
import pymongo
from pymongo.database import Database

MONGOMOCK_SCHEME = "mongomock://"

# mongomock keeps data in the client object; one per URL lets an in-process worker share the API's store.
_in_process_clients: dict[str, Any] = {}
_in_process_lock = threading.Lock()


class MongoProvider:
    """Hands out this service's database, creating the client on first use in each process."""

    def __init__(self, url: str, database_name: str, *, app_name: str = "connective") -> None:
        self.url = url
        self.database_name = database_name
        self.app_name = app_name
        self._client: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def in_process(self) -> bool:
        """Return whether this is the in-process store (mongomock) rather than a server."""
        return self.url.startswith(MONGOMOCK_SCHEME)

    @property
    def client(self) -> Any:
        """Return this process's client (pymongo clients must not cross a fork)."""
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            with self._lock:
                if self._client is None or self._pid != pid:
                    self._client = self._connect()
                    self._pid = pid
        return self._client

    @property
    def database(self) -> Database[Any]:
        """Return this service's database."""
        database: Database[Any] = self.client[self.database_name]
        return database

    def _connect(self) -> Any:
        if self.in_process:
            with _in_process_lock:
                client = _in_process_clients.get(self.url)
                if client is None:
                    client = mongomock.MongoClient(tz_aware=True)
                    _in_process_clients[self.url] = client
                return client
        return pymongo.MongoClient(
            self.url,
            appname=self.app_name,
            tz_aware=True,
            serverSelectionTimeoutMS=5000,
            connectTimeoutMS=3000,
            socketTimeoutMS=15000,
            retryWrites=True,
        )

    def ping(self) -> None:
        """Raise if the server cannot be reached."""
        self.client.admin.command("ping")

    def close(self) -> None:
        """Close this process's client (in-process stores are kept: they are the data)."""
        if self._client is not None and not self.in_process and self._pid == os.getpid():
            self._client.close()
        self._client = None
        self._pid = None


def forget_in_process_stores() -> None:
    """Drop every in-process store (tests use this to start from nothing)."""
    with _in_process_lock:
        _in_process_clients.clear()
