"""Settings.from_env: fail fast naming the variable, sensible defaults, public keys inline or from a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.settings import ConfigError, Settings

BASE_ENV = {
    "MONGO_URL": "mongomock://localhost/",
    "REDIS_URL": "redis://localhost:6379/0",
    "JWT_SECRET": "development-secret",
}


def environment(**overrides: str) -> dict[str, str]:
    """Return the minimal valid environment with some variables replaced (an empty string unsets one)."""
    merged = {**BASE_ENV, **overrides}
    return {name: value for name, value in merged.items() if value != ""}


@pytest.fixture(scope="module")
def public_key_pem() -> str:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize("variable", ["MONGO_URL", "REDIS_URL"])
def test_missing_required_url_fails_naming_the_variable(variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env("challenges", environment(**{variable: ""}))


def test_blank_required_value_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="MONGO_URL"):
        Settings.from_env("challenges", environment(MONGO_URL="   "))


def test_missing_jwt_secret_and_public_key_fails_naming_jwt_secret() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET") as raised:
        Settings.from_env("challenges", environment(JWT_SECRET=""))
    assert "JWT_PUBLIC_KEY" in str(raised.value)


def test_unknown_service_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown service"):
        Settings.from_env("gradebook", environment())


@pytest.mark.parametrize("url", ["postgres://db/connective", "http://mongo:27017", "localhost:27017"])
def test_mongo_url_with_another_scheme_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="MONGO_URL"):
        Settings.from_env("challenges", environment(MONGO_URL=url))


@pytest.mark.parametrize("url", ["mongodb://mongo:27017/", "mongodb+srv://cluster.example.net/", "mongomock://x/"])
def test_mongo_url_accepts_mongodb_srv_and_mongomock(url: str) -> None:
    assert Settings.from_env("challenges", environment(MONGO_URL=url)).mongo_url == url


@pytest.mark.parametrize("url", ["http://redis:6379", "memcached://cache:11211", "redis"])
def test_redis_url_with_another_scheme_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env("challenges", environment(REDIS_URL=url))


@pytest.mark.parametrize("url", ["redis://redis:6379/0", "rediss://redis:6380/0", "unix:///tmp/redis.sock"])
def test_redis_url_accepts_tls_and_unix_sockets(url: str) -> None:
    assert Settings.from_env("challenges", environment(REDIS_URL=url)).redis_url == url


@pytest.mark.parametrize(("variable", "value"), [("CHALLENGES_PORT", "http"), ("CHALLENGES_PORT", "50.5")])
def test_port_that_is_not_a_whole_number_is_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable} must be a whole number"):
        Settings.from_env("challenges", environment(**{variable: value}))


def test_port_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="LEADERBOARDS_PORT must be at least 1"):
        Settings.from_env("leaderboards", environment(LEADERBOARDS_PORT="0"))


def test_only_the_services_own_port_variable_sets_its_port() -> None:
    settings = Settings.from_env("peer_review", environment(PEER_REVIEW_PORT="6002", CHALLENGES_PORT="6001"))
    assert settings.port == 6002


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JOB_TIMEOUT_SECONDS", "soon", "JOB_TIMEOUT_SECONDS must be a whole number"),
        ("MAX_BODY_BYTES", "100", "MAX_BODY_BYTES must be at least 1024"),
        ("HTTP_TIMEOUT_SECONDS", "fast", "HTTP_TIMEOUT_SECONDS must be a number"),
        ("OUTBOX_INTERVAL_SECONDS", "-1", "OUTBOX_INTERVAL_SECONDS must be positive"),
        ("INLINE_WORKER", "maybe", "INLINE_WORKER must be true or false"),
    ],
)
def test_malformed_tuning_value_is_refused_naming_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env("challenges", environment(**{variable: value}))


def test_bad_log_level_is_refused() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        Settings.from_env("challenges", environment(LOG_LEVEL="VERBOSE"))


def test_log_level_is_case_insensitive() -> None:
    assert Settings.from_env("challenges", environment(LOG_LEVEL="debug")).log_level == "DEBUG"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../etc/passwd", "/etc/localtime"])
def test_unknown_timezone_is_refused(zone: str) -> None:
    with pytest.raises(ConfigError, match="TIMEZONE"):
        Settings.from_env("challenges", environment(TIMEZONE=zone))


def test_timezone_naming_a_region_directory_is_refused() -> None:
    with pytest.raises(ConfigError, match="TIMEZONE"):
        Settings.from_env("challenges", environment(TIMEZONE="Europe"))


def test_timezone_is_kept_and_usable() -> None:
    settings = Settings.from_env("leaderboards", environment(TIMEZONE="Europe/Berlin"))
    assert settings.timezone == "Europe/Berlin"
    assert settings.zone.key == "Europe/Berlin"


@pytest.mark.parametrize(
    ("service", "port", "database"),
    [
        ("challenges", 5001, "connective_challenges"),
        ("peer_review", 5002, "connective_peer_review"),
        ("leaderboards", 5003, "connective_leaderboards"),
    ],
)
def test_defaults_give_each_service_its_port_and_database(service: str, port: int, database: str) -> None:
    settings = Settings.from_env(service, environment())
    assert settings.service == service
    assert settings.port == port
    assert settings.database_name == database


def test_defaults_without_optional_variables() -> None:
    settings = Settings.from_env("challenges", environment())
    assert settings.log_level == "INFO"
    assert settings.timezone == "UTC"
    assert settings.jwt_secret == "development-secret"
    assert settings.jwt_public_key is None
    assert settings.jwt_algorithms == ("HS256",)
    assert settings.jwt_issuer is None
    assert settings.jwt_audience is None
    assert settings.inline_worker is False


def test_default_service_urls_point_at_each_services_local_port() -> None:
    settings = Settings.from_env("challenges", environment())
    assert dict(settings.service_urls) == {
        "challenges": "http://127.0.0.1:5001",
        "peer_review": "http://127.0.0.1:5002",
        "leaderboards": "http://127.0.0.1:5003",
    }


def test_service_urls_come_from_their_variables_without_trailing_slash() -> None:
    settings = Settings.from_env(
        "leaderboards", environment(PEER_REVIEW_URL="http://peer-review-api:5002/", CHALLENGES_URL="http://c:1")
    )
    assert settings.service_urls["peer_review"] == "http://peer-review-api:5002"
    assert settings.service_urls["challenges"] == "http://c:1"
    assert settings.service_urls["leaderboards"] == "http://127.0.0.1:5003"


def test_database_prefix_is_configurable() -> None:
    settings = Settings.from_env("challenges", environment(MONGO_DB_PREFIX="test_run_7_"))
    assert settings.database_name == "test_run_7_challenges"


def test_issuer_and_audience_are_read() -> None:
    settings = Settings.from_env("challenges", environment(JWT_ISSUER="https://idp", JWT_AUDIENCE="connective"))
    assert (settings.jwt_issuer, settings.jwt_audience) == ("https://idp", "connective")


def test_inline_public_key_selects_asymmetric_algorithms_and_drops_the_secret(public_key_pem: str) -> None:
    settings = Settings.from_env("challenges", environment(JWT_PUBLIC_KEY=public_key_pem))
    assert settings.jwt_public_key == public_key_pem.strip()
    assert settings.jwt_algorithms == ("RS256", "EdDSA")
    assert settings.jwt_secret is None


def test_inline_public_key_with_escaped_newlines_is_unescaped(public_key_pem: str) -> None:
    escaped = public_key_pem.strip().replace("\n", "\\n")
    settings = Settings.from_env("challenges", environment(JWT_SECRET="", JWT_PUBLIC_KEY=escaped))
    assert settings.jwt_public_key == public_key_pem.strip()


def test_public_key_can_be_a_file_path(tmp_path: Path, public_key_pem: str) -> None:
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(public_key_pem)
    settings = Settings.from_env("challenges", environment(JWT_SECRET="", JWT_PUBLIC_KEY=str(key_file)))
    assert settings.jwt_public_key == public_key_pem


def test_public_key_path_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JWT_PUBLIC_KEY"):
        Settings.from_env("challenges", environment(JWT_PUBLIC_KEY=str(tmp_path / "missing.pem")))


@pytest.mark.parametrize("algorithms", ["HS256", "RS256,HS512"])
def test_hs_algorithms_with_a_public_key_are_refused(public_key_pem: str, algorithms: str) -> None:
    with pytest.raises(ConfigError, match="JWT_ALGORITHMS"):
        Settings.from_env("challenges", environment(JWT_PUBLIC_KEY=public_key_pem, JWT_ALGORITHMS=algorithms))


def test_explicit_algorithms_are_split_and_trimmed(public_key_pem: str) -> None:
    settings = Settings.from_env(
        "challenges", environment(JWT_PUBLIC_KEY=public_key_pem, JWT_ALGORITHMS="RS256, PS256")
    )
    assert settings.jwt_algorithms == ("RS256", "PS256")


def test_secret_with_only_asymmetric_algorithms_is_refused() -> None:
    with pytest.raises(ConfigError, match="JWT_ALGORITHMS"):
        Settings.from_env("challenges", environment(JWT_ALGORITHMS="RS256"))
