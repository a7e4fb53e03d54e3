"""Process entrypoints shared by the services: settings first (fail fast), then logging, then run."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import structlog
from flask import Flask

from shared.observability import configure_logging
from shared.runtime import Runtime
from shared.settings import ConfigError, Settings
from shared.worker import PeriodicTask, run_worker


def load_or_exit(load: Callable[[], Settings]) -> Settings:
    """Load settings or exit with status 2 and a message naming the bad variable."""
    try:
        return load()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


class _HasRuntime(Protocol):
    @property
    def runtime(self) -> Runtime: ...


D = TypeVar("D", bound=_HasRuntime)


def wsgi_app(create_app: Callable[[Settings], Flask], load_settings: Callable[[], Settings]) -> Flask:
    """Return a service's app for gunicorn: settings first (fail fast), then JSON logging, then the app."""
    settings = load_or_exit(load_settings)
    configure_logging(settings.service, settings.log_level)
    return create_app(settings)


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
        redis_provider=dependencies().runtime.redis,
        tasks=tasks(dependencies()),
        log_level=settings.log_level,
    )
    return 0 if clean else 1
