"""Fixtures shared by every test: real Redis and MongoDB-compatible servers, settings and tokens."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pymongo
import pytest
import redis

from devstack.servers import FerretDBServer, RedisServer, ServerUnavailable, ensure_ferretdb
from shared.mongo import forget_in_process_stores
from shared.settings import Settings
from tests.factories import NO_RATE_LIMITS, SECRET

SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Start one real redis-server for the session (on a free loopback port)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """Return the URL of an empty Redis database."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def mongo_server_url() -> Iterator[str]:
    """Return a MongoDB wire-protocol server: MONGO_URL if set (real MongoDB), else a FerretDB we start."""
    external = os.environ.get("MONGO_URL", "")
    if external.startswith("mongodb"):
        yield external
        return
    try:
        ensure_ferretdb()
    except ServerUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a MongoDB-compatible server: {error}")
        pytest.skip(f"no MongoDB-compatible server: {error}")
    with FerretDBServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def database_prefix() -> str:
    """Return this test process's database name prefix (each test starts from empty collections)."""
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture(scope="session")
def mongo_client(mongo_server_url: str, database_prefix: str) -> Iterator[pymongo.MongoClient[Any]]:
    """Return a client of the wire-protocol server; this process's databases are dropped at the end."""
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_server_url, serverSelectionTimeoutMS=5000)
    yield client
    for name in client.list_database_names():
        if name.startswith(database_prefix):
            client.drop_database(name)
    client.close()


@pytest.fixture
def make_settings(redis_url: str, database_prefix: str) -> Iterator[SettingsFactory]:
    """Return a factory of settings on the in-process store (mongomock) and real Redis."""
    store = f"mongomock://{database_prefix}"

    def factory(service: str, mongo_url: str | None = None, **overrides: Any) -> Settings:
        environ = {
            "MONGO_URL": mongo_url or store,
            "REDIS_URL": redis_url,
            "JWT_SECRET": SECRET,
            "MONGO_DB_PREFIX": database_prefix,
            **NO_RATE_LIMITS,
        }
        environ.update({name.upper(): str(value) for name, value in overrides.items()})
        return Settings.from_env(service, environ)

    yield factory
    forget_in_process_stores()


@pytest.fixture
def real_settings(
    make_settings: SettingsFactory, mongo_server_url: str, mongo_client: pymongo.MongoClient[Any], database_prefix: str
) -> Iterator[SettingsFactory]:
    """Return a factory of settings on the real MongoDB-compatible server; its data is wiped after the test.

    The databases and their indexes stay for the next test of this process: creating a service's indexes
    afresh costs FerretDB about a tenth of a second, emptying its collections a few milliseconds.
    """

    def factory(service: str, **overrides: Any) -> Settings:
        return make_settings(service, mongo_url=mongo_server_url, **overrides)

    yield factory
    for name in mongo_client.list_database_names():
        if name.startswith(database_prefix):
            database = mongo_client[name]
            for collection in database.list_collection_names():
                database[collection].delete_many({})
