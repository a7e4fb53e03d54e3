"""The OpenAPI documents front-end developers read: every endpoint, parameter, response and error, with examples.

Each service documents its errors with its own problem schema (the shared RFC 9457 `Problem` and the
members only that service gives, e.g. challenges' `existing_id`). Query parameters follow one rule,
checked at the end: unknown ones are ignored, while unknown JSON body fields are refused with 422.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from apispec.ext.marshmallow import resolver
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from services.challenges.app import API as CHALLENGES_API
from services.challenges.bootstrap import build as challenges_build
from services.leaderboards.app import API as LEADERBOARDS_API
from services.leaderboards.usecases import awarding as leaderboards_awarding
from services.peer_review.app import API as PEER_REVIEW_API
from shared.contracts.payloads import load_payload
from shared.web import ProblemSchema, ServiceApi, create_service_app
from tests.factories import bearer, resource_shared_event
from tests.integration.peer_review_world import OWNER_TEACHER, REVIEWER, Classroom
from tests.integration.peer_review_world import build_world as build_peer_review_world
from tests.integration.world import LEARNER, build_world

pytestmark = pytest.mark.integration

OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics"}
PROBLEM = "application/problem+json"
METHODS = {"get", "post", "put", "patch", "delete"}
# The members of RFC 9457 problem details every service's problem schema documents.
RFC_9457_MEMBERS = {"type", "title", "status", "detail"}
SERVICE_APIS = {"challenges": CHALLENGES_API, "leaderboards": LEADERBOARDS_API, "peer_review": PEER_REVIEW_API}


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


def _problem_reference(service_api: ServiceApi) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{resolver(service_api.problem_schema)}"}


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


@pytest.fixture
def spec(challenges: FlaskClient) -> dict[str, Any]:
    """Return the challenges service's OpenAPI document."""
    return _document(challenges)


@pytest.fixture(params=sorted(SERVICE_APIS))
def service_spec(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Return each service's name and OpenAPI document, in turn."""
    return request.param, _document(request.getfixturevalue(request.param))


def test_every_operation_has_a_summary_and_a_description(service_spec: tuple[str, dict[str, Any]]) -> None:
    _service, spec = service_spec
    for path, method, operation in _operations(spec):
        assert operation.get("summary"), f"{method} {path} has no summary"
        assert operation.get("description"), f"{method} {path} has no description"


def test_every_parameter_is_described(service_spec: tuple[str, dict[str, Any]]) -> None:
    _service, spec = service_spec
    for path, method, operation in _operations(spec):
        parameters = [*spec["paths"][path].get("parameters", []), *operation.get("parameters", [])]
        for reference in parameters:
            parameter = _resolve(spec, reference)
            label = f"{method} {path} {parameter['in']} parameter {parameter['name']}"
            assert parameter.get("description"), f"{label} has no description"
            if parameter["in"] == "path":
                assert parameter["schema"].get("example") or parameter.get("example"), f"{label} has no example"


def test_every_request_body_has_an_example(service_spec: tuple[str, dict[str, Any]]) -> None:
    _service, spec = service_spec
    for path, method, operation in _operations(spec):
        if "requestBody" in operation:
            content = _resolve(spec, operation["requestBody"])["content"]["application/json"]
            assert "example" in content or "examples" in content, f"{method} {path} body has no example"


def test_every_response_is_described_with_an_example(service_spec: tuple[str, dict[str, Any]]) -> None:
    service, spec = service_spec
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
                assert body["schema"] == _problem_reference(SERVICE_APIS[service]), label
                assert body.get("example", {}).get("status") == int(status), f"{label} has no matching example"
            else:
                # JSON mostly; the classroom screen's page (text/html) and stream (text/event-stream) too.
                for media, body in response.get("content", {}).items():
                    assert "example" in body or "examples" in body, f"{label} ({media}) has no example"


@pytest.mark.parametrize("service", ["challenges", "peer_review"])
def test_every_operation_documents_the_errors_it_can_give(service: str, request: pytest.FixtureRequest) -> None:
    spec = _document(request.getfixturevalue(service))
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


@pytest.mark.parametrize("service", sorted(SERVICE_APIS))
def test_each_service_documents_its_errors_with_its_own_rfc_9457_problem_schema(
    service: str, request: pytest.FixtureRequest
) -> None:
    service_api = SERVICE_APIS[service]
    assert issubclass(service_api.problem_schema, ProblemSchema)
    client: FlaskClient = request.getfixturevalue(service)
    document = client.get("/openapi.json").get_json()
    reference = _problem_reference(service_api)
    problem = _resolve(document, reference)
    assert set(problem["properties"]) >= RFC_9457_MEMBERS
    schemas = [
        (f"{method} {path} {status} {media_type}", media["schema"])
        for path, method, operation in _operations(document)
        for status, response in operation["responses"].items()
        if status != "default" and int(status) >= 400
        for media_type, media in _resolve(document, response)["content"].items()
    ]
    assert schemas, f"{service} documents no errors"
    for label, schema in schemas:
        assert schema == reference, label


def test_the_challenges_problem_schema_documents_what_its_conflicts_point_at(spec: dict[str, Any]) -> None:
    problem = _resolve(spec, _problem_reference(CHALLENGES_API))
    assert {"errors", "existing_id", "missing_prerequisites", "max_versions"} <= set(problem["properties"])


def test_the_peer_review_problem_schema_documents_the_review_a_conflict_points_at(peer_review: FlaskClient) -> None:
    problem = _resolve(_document(peer_review), _problem_reference(PEER_REVIEW_API))
    assert {"errors", "existing_id"} <= set(problem["properties"])


def test_the_documents_are_valid_openapi(
    challenges: FlaskClient, leaderboards: FlaskClient, peer_review: FlaskClient
) -> None:
    for client in (challenges, leaderboards, peer_review):
        validate(client.get("/openapi.json").get_json())


def test_every_example_matches_its_schema(service_spec: tuple[str, dict[str, Any]]) -> None:
    _service, spec = service_spec
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


def _list_operations(client: FlaskClient) -> list[str]:
    """Return the paths of the GET operations of a service that take query parameters and answer JSON (its lists)."""
    document = client.get("/openapi.json").get_json()
    return [
        path
        for path, method, operation in _operations(document)
        if method == "get"
        and any(_resolve(document, p)["in"] == "query" for p in operation.get("parameters", []))
        and "application/json" in _resolve(document, operation["responses"]["200"]).get("content", {})
    ]


def _same_answer_with_an_unknown_parameter(
    client: FlaskClient, path: str, headers: dict[str, str], query: dict[str, str] | None = None
) -> None:
    plain = client.get(path, query_string=query or {}, headers=headers)
    assert plain.status_code == 200, f"{path}: {plain.get_data(as_text=True)}"
    assert plain.get_json()["total"] > 0, f"{path} lists nothing, so the comparison would show nothing"
    with_unknown = client.get(path, query_string={**(query or {}), "unknown": "1"}, headers=headers)
    assert with_unknown.status_code == 200, f"{path}?unknown=1: {with_unknown.get_data(as_text=True)}"
    assert with_unknown.get_json() == plain.get_json(), path


def test_every_challenges_list_ignores_unknown_query_parameters(challenges: FlaskClient) -> None:
    """The stated rule: an unknown query parameter is ignored (an unknown JSON body field is refused with 422)."""
    world = build_world(challenges)
    ids = {
        "{challenge_id}": world.challenge_id,
        "{submission_id}": world.submission_id,
        "{resource_id}": world.resource_id,
    }
    paths = _list_operations(challenges)
    assert len(paths) >= 6
    for template in paths:
        path = template
        for placeholder, identifier in ids.items():
            path = path.replace(placeholder, identifier)
        _same_answer_with_an_unknown_parameter(challenges, path, LEARNER)


def test_every_leaderboards_list_ignores_unknown_query_parameters(
    leaderboards_app: Flask, leaderboards: FlaskClient
) -> None:
    """The stated rule: an unknown query parameter is ignored (an unknown JSON body field is refused with 422)."""
    event = resource_shared_event("alice")
    context = leaderboards_app.extensions["connective"].dependencies.context()
    leaderboards_awarding.apply_events([(event, load_payload(event.type, event.data))], context=context)
    paths = _list_operations(leaderboards)
    assert sorted(paths) == [
        "/leaderboards/{board}",
        "/leaderboards/{board}/members",
        "/leaderboards/{board}/users/{user_id}",
        "/users/{user_id}/points",
    ]
    for template in paths:
        path = template.replace("{board}", "global").replace("{user_id}", "alice")
        query = {"user_id": "alice"} if path.endswith("/members") else None
        _same_answer_with_an_unknown_parameter(leaderboards, path, bearer("alice"), query)


def test_every_peer_review_list_ignores_unknown_query_parameters(
    peer_review_app: Flask, peer_review: FlaskClient
) -> None:
    """The stated rule: an unknown query parameter is ignored (an unknown JSON body field is refused with 422)."""
    world = build_peer_review_world(Classroom(peer_review_app))
    lists = {"/assignments": ({}, REVIEWER), "/allocations": ({"challenge_id": world.challenge_id}, OWNER_TEACHER)}
    assert sorted(_list_operations(peer_review)) == sorted(lists)
    for path, (query, headers) in lists.items():
        plain = peer_review.get(path, query_string=query, headers=headers)
        assert plain.status_code == 200, f"{path}: {plain.get_data(as_text=True)}"
        assert plain.get_json()["total"] > 0, f"{path} lists nothing, so the comparison would show nothing"
        with_unknown = peer_review.get(path, query_string={**query, "unknown": "1"}, headers=headers)
        assert with_unknown.status_code == 200, f"{path}?unknown=1: {with_unknown.get_data(as_text=True)}"
        assert with_unknown.get_json() == plain.get_json(), path


OPERATION_ID = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")


def test_every_operation_has_a_stable_camel_case_verb_noun_id(service_spec: tuple[str, dict[str, Any]]) -> None:
    """Generated clients name their functions after these (publishChallenge): each is set, unique and camelCase."""
    _name, document = service_spec
    ids = [
        operation.get("operationId")
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert all(isinstance(value, str) and OPERATION_ID.match(value) for value in ids), ids
    assert len(set(ids)) == len(ids)


def test_a_service_without_an_id_for_an_operation_fails_at_start_up(backend_settings: Any) -> None:
    unnamed = replace(CHALLENGES_API, operation_ids={})
    dependencies = challenges_build(backend_settings("challenges"))
    with pytest.raises(ValueError, match="has no operationId"):
        create_service_app(dependencies, unnamed)


def test_statuses_no_view_lists_are_documented_as_problem_json(service_spec: tuple[str, dict[str, Any]]) -> None:
    _name, document = service_spec
    assert list(document["components"]["responses"]["DEFAULT_ERROR"]["content"]) == ["application/problem+json"]


def test_every_operation_that_reaches_a_database_documents_503_with_retry_after(
    service_spec: tuple[str, dict[str, Any]],
) -> None:
    _name, document = service_spec
    for path, method, operation in _operations(document):
        unavailable = _resolve(document, operation["responses"]["503"])
        assert "Retry-After" in unavailable["headers"], (method, path)
        assert list(unavailable["content"]) == ["application/problem+json"], (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)


def test_a_created_object_links_to_the_operations_that_take_its_id(spec: dict[str, Any]) -> None:
    created = spec["paths"]["/challenges"]["post"]["responses"]["201"]["links"]
    assert created["publishChallenge"] == {
        "operationId": "publishChallenge",
        "parameters": {"challenge_id": "$response.body#/id"},
    }
    revision = spec["paths"]["/resources/{resource_id}/revisions"]["post"]["responses"]["201"]["links"]
    assert revision["decideRevision"]["parameters"] == {
        "revision_id": "$response.body#/id",
        "resource_id": "$request.path.resource_id",
    }


def test_urls_and_lists_without_repeats_are_stated_in_the_schema(spec: dict[str, Any]) -> None:
    share = spec["components"]["schemas"]["ResourceCreate"]["properties"]
    assert share["url"]["format"] == "iri"
    assert re.match(share["url"]["pattern"], "https://de.wikipedia.org/wiki/Zürich")
    assert not re.match(share["url"]["pattern"], "ftp://example.org/file")
    assert share["tags"]["uniqueItems"] is True


def test_a_body_whose_fields_are_all_optional_may_be_left_out(peer_review: FlaskClient) -> None:
    document = _document(peer_review)
    assert document["paths"]["/assignments/next"]["post"]["requestBody"]["required"] is False
    assert document["paths"]["/assignments/{assignment_id}/review"]["post"]["requestBody"]["required"] is True


def test_a_mapping_with_a_fixed_set_of_keys_names_them(spec: dict[str, Any]) -> None:
    rule_points = spec["components"]["schemas"]["ChallengeCreate"]["properties"]["rule_points"]
    assert rule_points["additionalProperties"] is False
    assert rule_points["properties"]["review.submitted"] == {"type": "integer", "minimum": 0, "maximum": 100}
