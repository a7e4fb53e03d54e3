"""Settings of the challenges service."""

from __future__ import annotations

import os
from collections.abc import Mapping

from services.challenges.domain.resources import FreshnessPolicy
from shared.settings import ConfigError, Settings

SERVICE = "challenges"
# The settings only this service reads, beside the shared ones (shared.settings.ENVIRONMENT_VARIABLES).
ENVIRONMENT_VARIABLES: tuple[tuple[str, str], ...] = (
    ("RESOURCE_REVIEW_DAYS", "days a resource stays fresh after it was last verified"),
    ("RESOURCE_REVIEW_DAYS_BY_TAG", "per-tag freshness as tag=days pairs, news=30; the shortest of a resource's wins"),
)
NAME_PATTERN_HINT = "tag=days pairs separated by commas, e.g. news=30,software=180"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read this service's settings from the environment, failing fast naming any bad variable."""
    return Settings.from_env(SERVICE, environ)


def _days(name: str, raw: str) -> int:
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must give whole days, got {raw!r}") from None
    if not 1 <= days <= 3650:
        raise ConfigError(f"{name} must give 1 to 3650 days, got {days}")
    return days


def load_freshness_policy(environ: Mapping[str, str] | None = None) -> FreshnessPolicy:
    """Read how long resources stay fresh: RESOURCE_REVIEW_DAYS and RESOURCE_REVIEW_DAYS_BY_TAG."""
    environ = os.environ if environ is None else environ
    default_raw = environ.get("RESOURCE_REVIEW_DAYS", "").strip()
    default_days = _days("RESOURCE_REVIEW_DAYS", default_raw) if default_raw else FreshnessPolicy.default_days
    days_by_tag: dict[str, int] = {}
    for pair in filter(None, (part.strip() for part in environ.get("RESOURCE_REVIEW_DAYS_BY_TAG", "").split(","))):
        tag, separator, raw = pair.partition("=")
        if not separator or not tag.strip():
            raise ConfigError(f"RESOURCE_REVIEW_DAYS_BY_TAG must be {NAME_PATTERN_HINT}, got {pair!r}")
        days_by_tag[tag.strip()] = _days("RESOURCE_REVIEW_DAYS_BY_TAG", raw.strip())
    return FreshnessPolicy(default_days=default_days, days_by_tag=days_by_tag)
