"""Settings of the challenges service."""

from __future__ import annotations

from collections.abc import Mapping

from shared.settings import Settings

SERVICE = "challenges"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read this service's settings from the environment, failing fast naming any bad variable."""
    return Settings.from_env(SERVICE, environ)
