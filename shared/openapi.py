"""What every service's OpenAPI document states beyond its views: operation ids, shared errors, links, formats.

Front-ends generate clients from these documents and a fuzzer checks the services against them, so the
documents must say what the services really do:

- every operation has a stable camelCase `operationId` (verb-noun: `publishChallenge`), declared once
  per service next to its API and checked at start-up;
- every error answer is `application/problem+json`, including the default response of statuses no view
  lists (a 404 for a path no route matches, a 405);
- every operation that reads MongoDB or Redis documents 503 with `Retry-After`, and every operation with
  a body documents 415 (not JSON);
- the object a write answers with links to the operations that take its id (OpenAPI links), so a client
  or a stateful test can follow `createChallenge` to `publishChallenge`;
- a body is required only where the schema has a required field (otherwise it may be left out);
- fields state the rules marshmallow enforces where JSON Schema can say them: URLs (`format: iri` with
  the schemes and host shape accepted), lists whose values must not repeat (`uniqueItems`), and
  mappings whose keys are a fixed set (`properties` with `additionalProperties: false`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from apispec import APISpec
from flask_smorest import Api
from flask_smorest.spec.plugins import FlaskPlugin
from marshmallow import Schema, fields, validate

from shared.errors import PROBLEM_MEDIA_TYPE, problem_document
from shared.schemas import Unique

# The operations every service has (shared/web.py's operations blueprint).
OPERATIONS_IDS: Mapping[tuple[str, str], str] = {
    ("GET", "/healthz"): "getHealth",
    ("GET", "/readyz"): "getReadiness",
    ("GET", "/metrics"): "getMetrics",
}
# Endpoints that touch neither MongoDB nor Redis, so never answer 503 for them.
NO_DEPENDENCIES = frozenset({"/healthz", "/metrics"})
OPERATION_ID = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# A URL marshmallow's Url(schemes={"http", "https"}, require_tld=False) takes: a host of dot-separated
# labels of letters, digits and inner hyphens, an optional port, then a path, query or fragment.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
WEB_URL_PATTERN = rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?(?:[/?#][^\s]*)?$"


def field_rules(converter: Any, field: fields.Field, **_kwargs: Any) -> dict[str, Any]:
    """Return the JSON Schema keywords of rules apispec does not translate by itself (an attribute function)."""
    rules: dict[str, Any] = {}
    keys = getattr(field, "key_field", None)
    choices = [check for check in getattr(keys, "validators", []) if isinstance(check, validate.OneOf)]
    if isinstance(field, fields.Dict) and choices and field.value_field is not None:
        # A mapping whose keys are a fixed set: name them, so clients and fuzzers know the only keys allowed.
        value = converter.field2property(field.value_field)
        rules["properties"] = {str(choice): value for choice in choices[0].choices}
        rules["additionalProperties"] = False
    validators = getattr(field, "validators", [])
    if isinstance(field, fields.List) and any(isinstance(check, Unique) for check in validators):
        rules["uniqueItems"] = True
    if isinstance(field, fields.Url):
        # An IRI: a learner pastes https://de.wikipedia.org/wiki/Zürich as it is; it is stored percent-encoded.
        rules["format"] = "iri"
        rules["pattern"] = WEB_URL_PATTERN
    return rules


def _problem(
    status: int, description: str, schema: type[Schema], headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    media = {"schema": schema, "example": problem_document(status, description)}
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_MEDIA_TYPE: media}}
    if headers:
        response["headers"] = dict(headers)
    return response


RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "example": 5}}
}


# What any operation with a request body may answer before its view runs.
BODY_ERRORS = {
    "400": "The body is not valid JSON",
    "413": "The body is larger than the service accepts (MAX_BODY_BYTES)",
    "415": "The body is not JSON (send Content-Type: application/json)",
}


class ServicePlugin(FlaskPlugin):
    """flask-smorest's Flask plugin, also giving every operation its id and the errors every service shares.

    It runs before the marshmallow plugin, so the problem schema it names is resolved like a view's.
    """

    def __init__(self, operation_ids: Mapping[tuple[str, str], str], problem_schema: type[Schema]) -> None:
        super().__init__()
        self.operation_ids = {**OPERATIONS_IDS, **operation_ids}
        self.problem_schema = problem_schema

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Name each operation and document 503 (and 415 for bodies) on it."""
        for method, operation in (operations or {}).items():
            if method not in HTTP_METHODS:
                continue
            key = (method.upper(), str(path))
            if key not in self.operation_ids:
                raise ValueError(f"{key[0]} {key[1]} has no operationId: declare one with the service's API")
            operation["operationId"] = self.operation_ids[key]
            responses = operation.setdefault("responses", {})
            documented = {str(status) for status in responses}
            if path not in NO_DEPENDENCIES and "503" not in documented:
                responses["503"] = _problem(
                    503,
                    "MongoDB or Redis is unreachable; retry after `Retry-After` seconds",
                    self.problem_schema,
                    RETRY_AFTER,
                )
            if "requestBody" in operation:
                # A body whose fields are all optional may be left out (it reads as `{}`).
                operation["requestBody"]["required"] = _has_required_fields(operation["requestBody"])
                for status, description in BODY_ERRORS.items():
                    if status not in documented:
                        responses[status] = _problem(int(status), description, self.problem_schema)


def _has_required_fields(body: Mapping[str, Any]) -> bool:
    for media in body.get("content", {}).values():
        schema = media.get("schema")
        if isinstance(schema, type):
            schema = schema()
        if isinstance(schema, Schema) and not any(field.required for field in schema.fields.values()):
            return False
    return True


def _operations(spec: APISpec) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec._paths.items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _created_kind(operation: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return the status and the kind of object ("challenge") a write answers with, if it answers one."""
    for status, response in operation.get("responses", {}).items():
        if str(status) not in ("200", "201"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        reference = schema.get("$ref", "") if isinstance(schema, dict) else ""
        if reference.startswith("#/components/schemas/"):
            return str(status), _snake(reference.rsplit("/", 1)[1])
    return None


def add_links(spec: APISpec) -> None:
    """Link each write's answer to the operations whose path takes the id of the object it answers with.

    `createChallenge`'s 201 links to `publishChallenge` with `challenge_id: $response.body#/id`; the other
    path parameters the two share are passed through from the request.
    """
    operations = list(_operations(spec))
    for path, method, operation in operations:
        if method == "get":
            continue
        created = _created_kind(operation)
        if created is None:
            continue
        status, kind = created
        parameter = f"{kind}_id"
        shared_parameters = set(re.findall(r"{(\w+)}", path)) - {parameter}
        links: dict[str, Any] = {}
        for target_path, _target_method, target in operations:
            target_parameters = set(re.findall(r"{(\w+)}", target_path))
            if parameter not in target_parameters or not target_parameters - {parameter} <= shared_parameters:
                continue
            values = {parameter: "$response.body#/id"}
            values.update({name: f"$request.path.{name}" for name in target_parameters - {parameter}})
            links[target["operationId"]] = {"operationId": target["operationId"], "parameters": values}
        if links:
            key = next(key for key in operation["responses"] if str(key) == status)
            operation["responses"][key]["links"] = links


def install(api: Api) -> None:
    """Teach a service's Api the field rules (call right after creating it, before registering blueprints)."""
    api.ma_plugin.converter.add_attribute_function(field_rules)
