"""The settings of the write protections (rate limits, trusted proxies, Idempotency-Key records) and their rules."""

from __future__ import annotations

import pytest
from flask import Flask

from shared.idempotency import KEY_PATTERN, Idempotency
from shared.limits import ADDRESS_SCOPE, USER_SCOPE, _storage_uri, write_limits
from shared.redisconn import RedisProvider
from shared.settings import ConfigError, Settings

WIRING = {"MONGO_URL": "mongomock://localhost/", "REDIS_URL": "redis://localhost:6379/0", "JWT_SECRET": "secret"}


def settings(**variables: str) -> Settings:
    """Return the challenges' settings with these variables set."""
    return Settings.from_env("challenges", {**WIRING, **variables})


def test_the_defaults_limit_writes_generously_trust_no_proxy_and_keep_answers_a_day() -> None:
    read = settings()
    assert (read.rate_limit_user, read.rate_limit_ip) == ("120/minute", "600/minute")
    assert read.trusted_proxies == 0
    assert read.idempotency_ttl_seconds == 86_400


@pytest.mark.parametrize("variable", ["RATE_LIMIT_USER", "RATE_LIMIT_IP"])
def test_a_limit_is_read_in_the_limits_notation_and_off_switches_it_off(variable: str) -> None:
    field = variable.lower()
    assert getattr(settings(**{variable: "10/second;300 per hour"}), field) == "10/second;300 per hour"
    assert getattr(settings(**{variable: "5/day"}), field) == "5/day"
    assert getattr(settings(**{variable: "off"}), field) is None
    assert getattr(settings(**{variable: " OFF "}), field) is None
    # An empty value counts as unset, as for every setting: the default.
    assert getattr(settings(**{variable: ""}), field) == getattr(settings(), field)


@pytest.mark.parametrize("variable", ["RATE_LIMIT_USER", "RATE_LIMIT_IP"])
@pytest.mark.parametrize("value", ["120", "fast", "120/fortnight", "-1/minute", "0/minute", "10/second;0/hour"])
def test_a_malformed_limit_stops_the_process_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings(**{variable: value})


def test_trusted_proxies_is_a_count_from_zero() -> None:
    assert settings(TRUSTED_PROXIES="2").trusted_proxies == 2
    for value in ("-1", "one", "1.5"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
            settings(TRUSTED_PROXIES=value)


def test_the_idempotency_ttl_is_at_least_a_minute() -> None:
    assert settings(IDEMPOTENCY_TTL_SECONDS="3600").idempotency_ttl_seconds == 3600
    for value in ("59", "0", "a day"):
        with pytest.raises(ConfigError, match="IDEMPOTENCY_TTL_SECONDS"):
            settings(IDEMPOTENCY_TTL_SECONDS=value)


def test_each_limit_is_applied_only_when_set() -> None:
    assert [limit.scope for limit in write_limits(settings())] == [USER_SCOPE, ADDRESS_SCOPE]
    assert [limit.scope for limit in write_limits(settings(RATE_LIMIT_USER="off"))] == [ADDRESS_SCOPE]
    assert [limit.scope for limit in write_limits(settings(RATE_LIMIT_IP="off"))] == [USER_SCOPE]
    assert write_limits(settings(RATE_LIMIT_USER="off", RATE_LIMIT_IP="off")) == []


def test_the_limits_count_in_the_redis_of_redis_url_whatever_its_scheme() -> None:
    assert _storage_uri("redis://redis:6379/0") == "redis://redis:6379/0"
    assert _storage_uri("rediss://:secret@redis:6380/1") == "rediss://:secret@redis:6380/1"
    assert _storage_uri("unix:///run/redis.sock?db=2") == "redis+unix:///run/redis.sock?db=2"


@pytest.mark.parametrize("key", ["a", "0b6f1c9e-6f7e-4f6a-9a53-3c0f7f1c2a11", "~" * 255, '{"$gt":""}', "award/1"])
def test_a_key_is_1_to_255_visible_ascii_characters(key: str) -> None:
    assert KEY_PATTERN.fullmatch(key)


@pytest.mark.parametrize("key", ["", "k" * 256, "two words", "tab\there", "caf\u00e9", "line\nbreak"])
def test_anything_else_is_no_key(key: str) -> None:
    assert not KEY_PATTERN.fullmatch(key)


def test_a_record_is_scoped_to_the_service_the_caller_the_method_and_path_and_the_key() -> None:
    app = Flask(__name__)
    redis_provider = RedisProvider("redis://127.0.0.1:1/0")

    def record(
        path: str = "/resources",
        user_id: str = "alice",
        key: str = "retry-1",
        method: str = "POST",
        service: str = "challenges",
    ) -> str:
        with app.test_request_context(path, method=method):
            return Idempotency(service, redis_provider, 86_400).record_key(user_id, key)

    first = record()
    assert first.startswith("idempotency:challenges:")
    assert record() == first
    others = [
        record(user_id="bob"),
        record(key="retry-2"),
        record(path="/challenges"),
        record(method="PUT"),
        record(service="leaderboards"),
        # The parts are kept apart: a user id cannot run into the method or the key.
        record(user_id="alice\nPOST"),
    ]
    assert len({first, *others}) == 1 + len(others)
