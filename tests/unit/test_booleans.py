"""Booleans are spelled as booleans: JSON true/false in bodies, `true`/`false` in query strings, nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError

from shared.schemas import JsonBoolean, QueryBoolean


class Body(Schema):
    flag = JsonBoolean()


class Query(Schema):
    flag = QueryBoolean()


@pytest.mark.parametrize("value", [True, False])
def test_a_json_boolean_takes_true_and_false(value: bool) -> None:
    assert Body().load({"flag": value}) == {"flag": value}


@pytest.mark.parametrize("value", [1, 0, "yes", "no", "on", "true", "false", "1", None, 1.0, [True]])
def test_a_json_boolean_refuses_everything_else(value: Any) -> None:
    with pytest.raises(ValidationError):
        Body().load({"flag": value})


@pytest.mark.parametrize(("value", "loaded"), [("true", True), ("false", False)])
def test_a_query_boolean_takes_true_and_false(value: str, loaded: bool) -> None:
    assert Query().load({"flag": value}) == {"flag": loaded}


@pytest.mark.parametrize("value", ["1", "0", "yes", "no", "on", "off", "True", "FALSE", "", 1, True])
def test_a_query_boolean_refuses_everything_else(value: Any) -> None:
    with pytest.raises(ValidationError):
        Query().load({"flag": value})
