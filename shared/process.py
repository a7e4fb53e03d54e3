"""Process entrypoints shared by the services: settings first (fail fast), then logging, then run."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import structlog

from shared.observability import configure_logging
from shared.redisconn import RedisProvider
from shared.settings import ConfigError, Settings
from shared.worker import PeriodicTask, run_worker


def load_or_exit(load: Callable[[], Settings]) -> Settings:
    """Load settings or exit with status 2 and a message naming the bad variable."""
    try:
        return load()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


class _HasRedis(Protocol):
    redis: RedisProvider


D = TypeVar("D", bound=_HasRedis)


def worker_main(
    *,
    load_settings: Callable[[], Settings],
    dependencies: Callable[[], D],
    tasks: Callable[[D], Sequence[PeriodicTask]],
) -> int:
    """Run a service's queue worker until it is told to stop."""
    settings = load_or_exit(load_settings)
    configure_logging(f"{settings.service}-worker", settings.log_level)
    structlog.get_logger(__name__).info("worker_configured", queue=settings.service)
    clean = run_worker(
        service=settings.service,
        queue_name=settings.service,
        redis_provider=dependencies().redis,
        tasks=tasks(dependencies()),
        log_level=settings.log_level,
    )
    return 0 if clean else 1
