"""Settings of the peer-review service."""

from __future__ import annotations

import os
from collections.abc import Mapping

from services.peer_review.domain.consensus import AGGREGATORS
from services.peer_review.domain.reviews import COMMENT_MIN_LENGTH
from services.peer_review.usecases.context import ReviewPolicy
from shared.settings import ConfigError, Settings

SERVICE = "peer_review"
# The settings only this service reads, beside the shared ones (shared.settings.ENVIRONMENT_VARIABLES).
ENVIRONMENT_VARIABLES: tuple[tuple[str, str], ...] = (
    ("REVIEW_COMMENT_MIN_LENGTH", "the fewest characters a review's comment may have"),
    ("CONSENSUS_AGGREGATOR", "median, or reliability_weighted (which falls back to the median without history)"),
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read this service's settings from the environment, failing fast naming any bad variable."""
    return Settings.from_env(SERVICE, environ)


def load_review_policy(environ: Mapping[str, str] | None = None) -> ReviewPolicy:
    """Read the review policy: REVIEW_COMMENT_MIN_LENGTH and CONSENSUS_AGGREGATOR."""
    environ = os.environ if environ is None else environ
    raw_length = environ.get("REVIEW_COMMENT_MIN_LENGTH", "").strip()
    length = COMMENT_MIN_LENGTH
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise ConfigError(f"REVIEW_COMMENT_MIN_LENGTH must be a whole number, got {raw_length!r}") from None
        if not 0 <= length <= 1000:
            raise ConfigError(f"REVIEW_COMMENT_MIN_LENGTH must be 0 to 1000, got {length}")
    aggregator = environ.get("CONSENSUS_AGGREGATOR", "").strip() or "reliability_weighted"
    if aggregator not in AGGREGATORS:
        raise ConfigError(f"CONSENSUS_AGGREGATOR must be one of {', '.join(sorted(AGGREGATORS))}, got {aggregator!r}")
    return ReviewPolicy(comment_min_length=length, aggregator=aggregator)
