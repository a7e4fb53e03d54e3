"""The challenges service's own settings: how long resources stay fresh."""

from __future__ import annotations

import pytest

from services.challenges.settings import load_freshness_policy
from shared.settings import ConfigError


def test_resources_stay_fresh_for_a_year_by_default() -> None:
    policy = load_freshness_policy({})
    assert (policy.default_days, dict(policy.days_by_tag)) == (365, {})


def test_review_days_per_tag_are_read_as_pairs() -> None:
    policy = load_freshness_policy(
        {"RESOURCE_REVIEW_DAYS": "200", "RESOURCE_REVIEW_DAYS_BY_TAG": "news=30, software=180"}
    )
    assert policy.default_days == 200
    assert dict(policy.days_by_tag) == {"news": 30, "software": 180}


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"RESOURCE_REVIEW_DAYS": "soon"}, "RESOURCE_REVIEW_DAYS"),
        ({"RESOURCE_REVIEW_DAYS": "0"}, "RESOURCE_REVIEW_DAYS"),
        ({"RESOURCE_REVIEW_DAYS_BY_TAG": "news"}, "RESOURCE_REVIEW_DAYS_BY_TAG"),
        ({"RESOURCE_REVIEW_DAYS_BY_TAG": "=30"}, "RESOURCE_REVIEW_DAYS_BY_TAG"),
        ({"RESOURCE_REVIEW_DAYS_BY_TAG": "news=-1"}, "RESOURCE_REVIEW_DAYS_BY_TAG"),
        ({"RESOURCE_REVIEW_DAYS_BY_TAG": "news=x"}, "RESOURCE_REVIEW_DAYS_BY_TAG"),
    ],
)
def test_malformed_review_days_stop_the_start_naming_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_freshness_policy(environ)
