"""Settings of the leaderboards service: the shared ones, the rules file and how many past periods are kept."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from services.leaderboards.domain.badges import load_badges
from services.leaderboards.domain.boards import DEFAULT_PERIODS_KEPT
from services.leaderboards.domain.rules import InvalidRules, load_rules
from services.leaderboards.usecases.context import Scoring
from shared.registry import service
from shared.settings import ConfigError, Settings

SERVICE = "leaderboards"
DEFAULT_RULES = Path(__file__).with_name("rules.toml")
# The settings only this service reads, beside the shared ones (shared.settings.ENVIRONMENT_VARIABLES).
ENVIRONMENT_VARIABLES: tuple[tuple[str, str], ...] = (
    ("LEADERBOARD_RULES", "path of the points rules file (TOML); the packaged services/leaderboards/rules.toml"),
    ("LEADERBOARD_PERIODS_KEPT", "how many past weeks and months of weekly and monthly boards stay readable"),
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read this service's settings from the environment, failing fast naming any bad variable."""
    return Settings.from_env(SERVICE, environ)


def read_scoring(path: Path, zone: ZoneInfo, periods_kept: int = DEFAULT_PERIODS_KEPT) -> Scoring:
    """Return the rule book and badges of a rules file (InvalidRules names what is wrong)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidRules(f"cannot read the rules file {path}: {error}") from None
    book = load_rules(document)
    badges = load_badges(document.get("badges", ()))
    undelivered = sorted(book.event_types - service(SERVICE).consumes)
    if undelivered:
        raise InvalidRules(f"rules award events this service does not receive: {', '.join(undelivered)}")
    unknown = sorted({badge.rule for badge in badges if badge.rule} - {rule.name for rule in book.rules})
    if unknown:
        raise InvalidRules(f"badges count rules the file does not define: {', '.join(unknown)}")
    return Scoring(book=book, badges=badges, zone=zone, periods_kept=periods_kept)


def load_scoring(zone: ZoneInfo, environ: Mapping[str, str] | None = None) -> Scoring:
    """Read LEADERBOARD_RULES and LEADERBOARD_PERIODS_KEPT, failing fast naming the variable."""
    environ = os.environ if environ is None else environ
    raw_kept = environ.get("LEADERBOARD_PERIODS_KEPT", "").strip()
    kept = DEFAULT_PERIODS_KEPT
    if raw_kept:
        try:
            kept = int(raw_kept)
        except ValueError:
            raise ConfigError(f"LEADERBOARD_PERIODS_KEPT must be a whole number, got {raw_kept!r}") from None
        if not 1 <= kept <= 520:
            raise ConfigError(f"LEADERBOARD_PERIODS_KEPT must be 1 to 520, got {kept}")
    path = Path(environ.get("LEADERBOARD_RULES", "").strip() or DEFAULT_RULES)
    try:
        return read_scoring(path, zone, kept)
    except InvalidRules as error:
        raise ConfigError(f"LEADERBOARD_RULES: {error}") from None
