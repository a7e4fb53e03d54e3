"""The OpenAPI document front-end developers read: every endpoint, parameter, response and error, with examples."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

pytestmark = pytest.mark.integration

OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics"}
PROBLEM = "application/problem+json"
METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path not in OPERATIONS_PATHS
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, _, name = node["$ref"].removeprefix("#/components/").partition("/")
        node = spec["components"][section][name]
    return node


@pytest.fixture
def spec(challenges: FlaskClient) -> dict[str, Any]:
    response = challenges.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_every_operation_has_a_summary_and_a_description(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        assert operation.get("summary"), f"{method} {path} has no summary"
        assert operation.get("description"), f"{method} {path} has no description"


def test_every_parameter_is_described(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        parameters = [*spec["paths"][path].get("parameters", []), *operation.get("parameters", [])]
        for reference in parameters:
            parameter = _resolve(spec, reference)
            label = f"{method} {path} {parameter['in']} parameter {parameter['name']}"
            assert parameter.get("description"), f"{label} has no description"
            if parameter["in"] == "path":
                assert parameter["schema"].get("example") or parameter.get("example"), f"{label} has no example"


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        if "requestBody" in operation:
            content = _resolve(spec, operation["requestBody"])["content"]["application/json"]
            assert "example" in content or "examples" in content, f"{method} {path} body has no example"


def test_every_response_is_described_with_an_example(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        for status, reference in operation["responses"].items():
            response = _resolve(spec, reference)
            label = f"{method} {path} {status}"
            assert response.get("description"), f"{label} has no description"
            if status == "default":
                continue
            if int(status) >= 400:
                assert set(response.get("content", {})) == {PROBLEM}, f"{label} is not problem+json"
                body = response["content"][PROBLEM]
                assert body["schema"] == {"$ref": "#/components/schemas/Problem"}, label
                assert body.get("example", {}).get("status") == int(status), f"{label} has no matching example"
            elif response.get("content"):
                body = response["content"]["application/json"]
                assert "example" in body or "examples" in body, f"{label} has no example"


def test_every_operation_documents_the_errors_it_can_give(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        documented = {status for status in operation["responses"] if status != "default"}
        expected = {"401", "403"}
        if "requestBody" in operation:
            expected |= {"400", "413", "422"}
        if any(_resolve(spec, p)["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("422")
        if "{" in path:
            expected.add("404")
        assert expected <= documented, f"{method} {path} leaves out {sorted(expected - documented)}"


def test_the_error_schema_is_the_problem_document(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors", "existing_id"} <= set(problem["properties"])


def test_the_documents_are_valid_openapi(challenges: FlaskClient, leaderboards: FlaskClient) -> None:
    for client in (challenges, leaderboards):
        validate(client.get("/openapi.json").get_json())


def test_every_example_matches_its_schema(spec: dict[str, Any]) -> None:
    checked = 0
    for path, method, operation in _operations(spec):
        bodies = (
            [("request body", _resolve(spec, operation["requestBody"])["content"])]
            if "requestBody" in operation
            else []
        )
        bodies += [
            (status, _resolve(spec, response).get("content", {})) for status, response in operation["responses"].items()
        ]
        for label, content in bodies:
            for media in content.values():
                if "example" not in media or "schema" not in media:
                    continue
                # Wrapping keeps `#/components/...` references resolvable from the schema's root.
                validator = OAS30Validator({"allOf": [media["schema"]], "components": spec["components"]})
                errors = [error.message for error in validator.iter_errors(media["example"])]
                assert not errors, f"{method} {path} {label} example: {errors}"
                checked += 1
    assert checked > len(_operations(spec))
