"""Process settings read from the environment (12-factor), failing fast with the variable's name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many

from shared.registry import SERVICE_NAMES, SERVICES
from shared.registry import service as service_spec

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The value of RATE_LIMIT_USER or RATE_LIMIT_IP that switches the limit off (an empty value means the default).
RATE_LIMIT_OFF = "off"

# Every environment variable a service process reads, with its meaning (defaults and readers: docs/architecture.md,
# Settings). .env.example and docker-compose.yml carry each one; tests/unit/test_deployment_files.py checks this
# list against what the code really reads.
ENVIRONMENT_VARIABLES: tuple[tuple[str, str], ...] = (
    ("MONGO_URL", "MongoDB to use: mongodb://, mongodb+srv://, or mongomock:// (an in-process store, for tests)"),
    ("MONGO_DB_PREFIX", "prefix of each service's own database name, e.g. connective_challenges"),
    ("REDIS_URL", "Redis for the RQ queues and the services' derived state: redis://, rediss:// or unix://"),
    ("JWT_SECRET", "HS256 secret verifying tokens (development); ignored when JWT_PUBLIC_KEY is set"),
    ("JWT_PUBLIC_KEY", "PEM public key, inline or a file path, verifying RS256/EdDSA tokens (production)"),
    ("JWT_ALGORITHMS", "comma-separated accepted token algorithms; HS256, or RS256,EdDSA with a public key"),
    ("JWT_ISSUER", "iss claim every token must carry; unset = not checked"),
    ("JWT_AUDIENCE", "aud claim every token must carry; unset = not checked"),
    *((spec.url_variable, f"base URL at which the other services reach {spec.name}") for spec in SERVICES),
    *((spec.port_variable, f"port `make run` serves the {spec.name} API on") for spec in SERVICES),
    ("LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ("TIMEZONE", "IANA zone in which weekly and monthly windows begin and end"),
    ("INLINE_WORKER", "true = consume the service's queue inside its API process (fallback, one gunicorn worker)"),
    ("WEB_CONCURRENCY", "gunicorn worker processes per API"),
    ("MAX_BODY_BYTES", "largest request body an API accepts; larger ones answer 413"),
    ("OUTBOX_INTERVAL_SECONDS", "how often a worker's outbox relay looks for events left unpublished"),
    ("OUTBOX_GRACE_SECONDS", "how old an unpublished event must be before the relay publishes it"),
    ("REPAIR_INTERVAL_SECONDS", "period of the workers' housekeeping timers, and the age a repair waits for"),
    ("HTTP_TIMEOUT_SECONDS", "read timeout of HTTP calls between services"),
    ("JOB_TIMEOUT_SECONDS", "RQ timeout of each consumer job a producer enqueues"),
    ("RATE_LIMIT_USER", "writes one user (a token's sub) may send to one API, e.g. 120/minute; off = no limit"),
    ("RATE_LIMIT_IP", "writes one client address may send to one API, e.g. 600/minute; off = no limit"),
    ("TRUSTED_PROXIES", "proxies in front of the APIs whose X-Forwarded-For is believed (the gateway: 1); 0 = none"),
    ("IDEMPOTENCY_TTL_SECONDS", "how long an API keeps the answer to a POST sent with an Idempotency-Key"),
)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the message names the variable."""


class _Reader:
    """Reads typed values from an environment mapping, naming the variable in every error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or default

    def required(self, name: str, hint: str) -> str:
        value = self.text(name)
        if value is None:
            raise ConfigError(f"{name} is not set: {hint}")
        return value

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def rate(self, name: str, default: str) -> str | None:
        """Read a rate limit such as `120/minute` (several with `;`); `off` switches it off (None)."""
        raw = self.text(name, default) or default
        if raw.lower() == RATE_LIMIT_OFF:
            return None
        try:
            rates = parse_many(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a rate such as 120/minute, or off; got {raw!r}") from None
        if any(rate.amount < 1 for rate in rates):
            raise ConfigError(f"{name} must allow at least 1 request (off switches the limit off), got {raw!r}")
        return raw


def _read_public_key(value: str) -> str:
    """Accept a PEM key inline or a path to a PEM file."""
    if "-----BEGIN" in value:
        return value.replace("\\n", "\n")
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"JWT_PUBLIC_KEY must be a PEM key or the path of one; no file at {value!r}")
    return path.read_text()


@dataclass(frozen=True)
class Settings:
    """Everything a service process needs to know about its deployment."""

    service: str
    mongo_url: str
    redis_url: str
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    service_urls: Mapping[str, str] = field(default_factory=dict)
    port: int = 5000
    log_level: str = "INFO"
    timezone: str = "UTC"
    mongo_db_prefix: str = "connective_"
    inline_worker: bool = False
    max_body_bytes: int = 1_048_576
    outbox_interval_seconds: float = 5.0
    outbox_grace_seconds: float = 10.0
    repair_interval_seconds: float = 15.0
    http_timeout_seconds: float = 3.0
    job_timeout_seconds: int = 30
    # Writes per user and per client address (limits' notation; None: no limit), and the proxies trusted to
    # name the client's address.
    rate_limit_user: str | None = "120/minute"
    rate_limit_ip: str | None = "600/minute"
    trusted_proxies: int = 0
    idempotency_ttl_seconds: int = 86_400

    @property
    def database_name(self) -> str:
        """Return this service's own MongoDB database (one database per service)."""
        return service_spec(self.service).database(self.mongo_db_prefix)

    @property
    def zone(self) -> ZoneInfo:
        """Return the configured time zone."""
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings for `service`, raising ConfigError that names any missing or bad variable."""
        if service not in SERVICE_NAMES:
            raise ConfigError(f"unknown service {service!r}; expected one of {', '.join(SERVICE_NAMES)}")
        read = _Reader(os.environ if environ is None else environ)
        mongo_url = read.required("MONGO_URL", "set mongodb://host:27017/ (or mongomock:// for tests)")
        if not mongo_url.startswith(("mongodb://", "mongodb+srv://", "mongomock://")):
            raise ConfigError(
                f"MONGO_URL must start with mongodb://, mongodb+srv:// or mongomock://, got {mongo_url!r}"
            )
        redis_url = read.required("REDIS_URL", "set redis://host:6379/0")
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}")

        secret = read.text("JWT_SECRET")
        public_key_value = read.text("JWT_PUBLIC_KEY")
        if secret is None and public_key_value is None:
            raise ConfigError(
                "JWT_SECRET is not set: set JWT_SECRET (development, HS256) or JWT_PUBLIC_KEY (production)"
            )
        public_key = _read_public_key(public_key_value) if public_key_value else None
        default_algorithms = "RS256,EdDSA" if public_key else "HS256"
        algorithms = tuple(
            name.strip() for name in (read.text("JWT_ALGORITHMS", default_algorithms) or "").split(",") if name
        )
        if not algorithms:
            raise ConfigError("JWT_ALGORITHMS must name at least one algorithm, e.g. HS256 or RS256")
        if public_key and any(name.startswith("HS") for name in algorithms):
            raise ConfigError("JWT_ALGORITHMS must not list HS* algorithms when JWT_PUBLIC_KEY is set")
        if not public_key and not all(name.startswith("HS") for name in algorithms):
            raise ConfigError("JWT_ALGORITHMS may list only HS* algorithms with JWT_SECRET (JWT_PUBLIC_KEY for others)")

        log_level = (read.text("LOG_LEVEL", "INFO") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        timezone = read.text("TIMEZONE", "UTC") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(f"TIMEZONE must be an IANA zone such as Europe/Berlin, got {timezone!r}") from None

        service_urls = {
            spec.name: (read.text(spec.url_variable) or f"http://127.0.0.1:{spec.port}").rstrip("/")
            for spec in SERVICES
        }
        spec = service_spec(service)
        return cls(
            service=service,
            mongo_url=mongo_url,
            redis_url=redis_url,
            jwt_secret=secret if public_key is None else None,
            jwt_public_key=public_key,
            jwt_algorithms=algorithms,
            jwt_issuer=read.text("JWT_ISSUER"),
            jwt_audience=read.text("JWT_AUDIENCE"),
            service_urls=service_urls,
            port=read.integer(spec.port_variable, spec.port, minimum=1),
            log_level=log_level,
            timezone=timezone,
            mongo_db_prefix=read.text("MONGO_DB_PREFIX", "connective_") or "connective_",
            inline_worker=read.boolean("INLINE_WORKER", default=False),
            max_body_bytes=read.integer("MAX_BODY_BYTES", 1_048_576, minimum=1024),
            outbox_interval_seconds=read.number("OUTBOX_INTERVAL_SECONDS", 5.0),
            outbox_grace_seconds=read.number("OUTBOX_GRACE_SECONDS", 10.0),
            repair_interval_seconds=read.number("REPAIR_INTERVAL_SECONDS", 15.0),
            http_timeout_seconds=read.number("HTTP_TIMEOUT_SECONDS", 3.0),
            job_timeout_seconds=read.integer("JOB_TIMEOUT_SECONDS", 30, minimum=1),
            rate_limit_user=read.rate("RATE_LIMIT_USER", "120/minute"),
            rate_limit_ip=read.rate("RATE_LIMIT_IP", "600/minute"),
            trusted_proxies=read.integer("TRUSTED_PROXIES", 0),
            idempotency_ttl_seconds=read.integer("IDEMPOTENCY_TTL_SECONDS", 86_400, minimum=60),
        )
