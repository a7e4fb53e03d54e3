"""The base of every service's Flask app: OpenAPI, errors, auth, health, metrics and offline docs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

import flask_swagger_ui
import structlog
from flask import Flask, Response, current_app, request, send_from_directory
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import BaseConverter

from shared.auth import TokenVerifier
from shared.errors import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    problem_document,
    problem_response,
    register_error_handlers,
)
from shared.idempotency import install_idempotency
from shared.jsonbody import parse_body
from shared.limits import install_rate_limits
from shared.observability import current_request_id, install_request_tracking, metrics_response
from shared.openapi import ServicePlugin, add_links
from shared.openapi import install as install_openapi_rules
from shared.runtime import Runtime
from shared.schemas import ID_PATTERN
from shared.settings import Settings
from shared.worker import PeriodicTask, start_inline_worker

SWAGGER_ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"
log = structlog.get_logger(__name__)


def _refuse_bodies_that_are_not_json() -> None:
    """Refuse a write whose body is not JSON (415) before any view reads it.

    Left to the parser, a `text/plain` body would be read as no body at all: an endpoint whose fields are
    all optional would then succeed on what the client sent, ignoring it.
    """
    if request.method in ("POST", "PUT", "PATCH") and (request.content_length or 0) > 0 and not request.is_json:
        raise Problem(
            415,
            f"Send the body as JSON (Content-Type: application/json), not {request.mimetype or 'no type'}",
            kind="unsupported-media-type",
        )


class QueryCachingParser(FlaskParser):
    """Parses arguments as webargs does, remembering what a query string it parsed before gave.

    A query's arguments depend on nothing but the query string and the schema, and a front-end asks the
    same few (`?limit=10`) again and again; loading them through marshmallow each time costs more than a
    cached board read. Only successful parses of query arguments are remembered, a bounded number of them.
    """

    CACHE_SIZE = 2048

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[int, bytes], dict[str, Any]] = {}

    def _raw_load_json(self, req: Any) -> Any:
        """Return the request's JSON body read strictly (shared/jsonbody.py), or missing if it is not JSON."""
        if not is_json_request(req):
            return missing
        return parse_body(req.get_data(cache=True))

    def parse(self, argmap: Any, req: Any = None, *, location: str | None = None, **kwargs: Any) -> Any:
        """Return the parsed arguments, from the cache for a query string seen before."""
        if location not in ("query", "querystring"):
            return super().parse(argmap, req, location=location, **kwargs)
        key = (id(argmap), bytes((req if req is not None else request).query_string))
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = super().parse(argmap, req, location=location, **kwargs)
            if len(self._parsed) >= self.CACHE_SIZE:
                self._parsed.clear()
            self._parsed[key] = parsed
        return {name: list(value) if isinstance(value, list) else value for name, value in parsed.items()}


class ServiceBlueprint(Blueprint):
    """A flask-smorest blueprint whose query arguments are parsed once per distinct query string."""

    ARGUMENTS_PARSER = QueryCachingParser()


class ProblemSchema(Schema):
    """RFC 9457 problem details, the body of every error; a service subclasses it to add its own members."""

    type = fields.String(metadata={"example": "https://connective.dev/problems/validation-error"})
    title = fields.String(metadata={"example": "Unprocessable Content"})
    status = fields.Integer(metadata={"example": 422})
    detail = fields.String(metadata={"example": "The request has invalid fields: title"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "Validation messages per field (422 only)",
            "example": {"title": ["Required."]},
        },
    )


class ObjectIdConverter(BaseConverter):
    """Matches a 24-hex-digit object id in a path; anything else answers 404 before any view runs."""

    regex = ID_PATTERN.removeprefix("^").removesuffix("$")


OBJECT_ID_SCHEMA = {"type": "string", "pattern": ID_PATTERN, "example": "6b02e48625231e1d5301a2b7"}


class HealthSchema(Schema):
    """Liveness or readiness report."""

    status = fields.String(metadata={"example": "ok"})
    service = fields.String(metadata={"example": "leaderboards"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"example": {"mongo": "ok"}})


class ServiceDependencies(Protocol):
    """What a service's bootstrap hands the web app: its runtime, and a use-case context per request."""

    @property
    def runtime(self) -> Runtime:
        """Return the process's plumbing (settings, MongoDB, Redis, clock)."""
        ...

    def context(self, request_id: Callable[[], str | None] = ...) -> Any:
        """Return a use-case context; requests pass how to read their request id."""
        ...


@dataclass
class ServiceContext:
    """What views and hooks need from the process: settings, token verifier, dependencies."""

    settings: Settings
    verifier: TokenVerifier
    dependencies: ServiceDependencies
    readiness: Mapping[str, Callable[[], object]] = field(default_factory=dict)


class PathParameters:
    """A service's path parameters, described once: name -> (description, example or None for ids)."""

    def __init__(self, table: Mapping[str, tuple[str, Any]]) -> None:
        self.table = dict(table)

    def __call__(self, *names: str) -> list[dict[str, Any]]:
        """Return the OpenAPI description of these parameters, for `Blueprint.route(parameters=...)`."""
        parameters = []
        for name in names:
            description, example = self.table[name]
            parameter: dict[str, Any] = {"in": "path", "name": name, "description": description}
            if example is not None:
                parameter["example"] = example
            parameters.append(parameter)
        return parameters


def page(items: Sequence[Any], total: int) -> dict[str, Any]:
    """Return a list answer: `{items, total}` (total counts every match, not only this page)."""
    return {"items": list(items), "total": total}


def use_case_context() -> Any:
    """Return the use-case context of the current request (stamped with its request id)."""
    context: ServiceContext = current_app.extensions["connective"]
    return context.dependencies.context(request_id=current_request_id)


def _operations_blueprint(service: str) -> Blueprint:
    blueprint = Blueprint("operations", __name__, description="Liveness, readiness and metrics")

    @blueprint.route("/healthz")
    class Health(MethodView):
        @blueprint.response(200, HealthSchema)
        @blueprint.doc(security=[])
        def get(self) -> dict[str, Any]:
            """Report that the process is alive."""
            return {"status": "ok", "service": service}

    @blueprint.route("/readyz")
    class Ready(MethodView):
        @blueprint.response(200, HealthSchema)
        @blueprint.alt_response(
            503, schema=ProblemSchema, content_type=PROBLEM_MEDIA_TYPE, description="A dependency is unreachable"
        )
        @blueprint.doc(security=[])
        def get(self) -> Any:
            """Report whether MongoDB and Redis answer; 503 when either does not."""
            context: ServiceContext = current_app.extensions["connective"]
            checks: dict[str, str] = {}
            for name, check in context.readiness.items():
                try:
                    check()
                    checks[name] = "ok"
                except Exception as error:
                    checks[name] = f"unavailable: {type(error).__name__}"
            if all(value == "ok" for value in checks.values()):
                return {"status": "ok", "service": service, "checks": checks}
            failing = ", ".join(name for name, value in checks.items() if value != "ok")
            log.warning("not_ready", checks=checks)
            document = problem_document(503, f"Not ready: {failing} unreachable", kind="not-ready", checks=checks)
            return problem_response(document, {"Retry-After": "5"})

    @blueprint.route("/metrics")
    class Metrics(MethodView):
        @blueprint.doc(
            security=[],
            responses={"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
        )
        def get(self) -> Response:
            """Expose Prometheus metrics."""
            return metrics_response()

    return blueprint


@dataclass(frozen=True)
class ServiceApi:
    """What a service's HTTP API declares: its documentation, its blueprints and its problem schema."""

    title: str
    description: str
    blueprints: Sequence[Blueprint]
    problem_schema: type[ProblemSchema] = ProblemSchema
    version: str = "1.0.0"
    # (METHOD, path template) -> the stable camelCase operationId front-ends generate functions from.
    operation_ids: Mapping[tuple[str, str], str] = field(default_factory=dict)


class ServiceSmorestApi(Api):
    """flask-smorest's Api with problem+json as the content type of the error responses it documents itself.

    flask-smorest documents its default error response (the one for statuses no view lists) as
    application/json; every error a service answers is application/problem+json.
    """

    def _register_responses(self) -> None:
        super()._register_responses()
        for name in ("DEFAULT_ERROR", *(status.name for status in HTTPStatus)):
            response = self.spec.components.responses_lazy.get(name) or self.spec.components.responses.get(name)
            if response and "content" in response:
                (media,) = response["content"].values()
                response["content"] = {PROBLEM_MEDIA_TYPE: media}


def create_service_app(
    dependencies: ServiceDependencies, api_spec: ServiceApi, periodic_tasks: Sequence[PeriodicTask] = ()
) -> Flask:
    """Build a service's Flask app with everything every service shares.

    With INLINE_WORKER (the fallback when API and worker cannot share a database) the app also consumes
    the service's queue and runs its periodic tasks in this process.
    """
    runtime = dependencies.runtime
    settings = runtime.settings
    app = Flask(f"services.{settings.service}")
    app.config.update(
        API_TITLE=api_spec.title,
        API_VERSION=api_spec.version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Served from this process (the flask-swagger-ui wheel's files), so /docs works offline.
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        # No validator badge: Swagger UI would send the spec to an outside validator service.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None, "persistAuthorization": True},
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        API_SPEC_OPTIONS={
            "info": {"description": api_spec.description},
            "security": [{"bearerAuth": []}],
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
        },
    )
    app.extensions["connective"] = ServiceContext(
        settings=settings,
        verifier=TokenVerifier(settings),
        dependencies=dependencies,
        readiness={"mongo": runtime.mongo.ping, "redis": runtime.redis.ping},
    )
    app.url_map.converters["objectid"] = ObjectIdConverter
    # flask-smorest documents every error with the API class's ERROR_SCHEMA: the service's problem schema.
    api = type("ServiceSmorestApi", (ServiceSmorestApi,), {"ERROR_SCHEMA": api_spec.problem_schema})(
        app, spec_kwargs={"flask_plugin": ServicePlugin(api_spec.operation_ids, api_spec.problem_schema)}
    )
    install_openapi_rules(api)
    api.register_converter(ObjectIdConverter, lambda _converter: OBJECT_ID_SCHEMA)
    # After Api(): our handlers replace smorest's JSON error bodies with problem+json.
    register_error_handlers(app)
    install_request_tracking(app, settings.service)
    install_rate_limits(app, api, settings)
    app.before_request(_refuse_bodies_that_are_not_json)
    install_idempotency(app, api, settings, runtime.redis)

    @app.route("/docs/assets/<path:filename>")
    def docs_assets(filename: str) -> Response:
        return send_from_directory(SWAGGER_ASSETS, filename, max_age=86400)

    api.register_blueprint(_operations_blueprint(settings.service))
    for blueprint in api_spec.blueprints:
        api.register_blueprint(blueprint)
    add_links(api.spec)
    app.extensions["connective_api"] = api
    if settings.inline_worker:
        start_inline_worker(
            service=settings.service, queue_name=settings.service, redis_provider=runtime.redis, tasks=periodic_tasks
        )
    return app


# What each documented error status means, and the example detail a service may replace with its own words.
ERROR_STATUSES: Mapping[int, tuple[str, str]] = {
    400: ("Malformed request (e.g. invalid JSON)", "The body is not valid JSON"),
    401: ("No valid bearer token", "A bearer token is required (Authorization: Bearer <token>)"),
    403: ("The caller lacks the role or ownership this needs", "This action needs one of these roles: teacher"),
    404: ("No such object, or not visible to the caller", "No object with id 6b02e48625231e1d5301a2b7"),
    409: ("Conflicts with the current state (duplicate, wrong status)", "The object changed meanwhile"),
    413: ("The body is too large", "The request body is larger than this service accepts"),
    422: ("Invalid fields; `errors` names each", "The request has invalid fields: body"),
}


class ErrorDocs:
    """Documents the problem+json answers of a service's views, each with an example in the service's words."""

    def __init__(
        self, schema: type[ProblemSchema] = ProblemSchema, examples: Mapping[int, Mapping[str, Any]] | None = None
    ) -> None:
        self.schema = schema
        self.examples = dict(examples or {})

    def example(self, status: int) -> dict[str, Any]:
        """Return the example problem document of a status."""
        _description, detail = ERROR_STATUSES[status]
        document = problem_document(status, detail)
        if status == 422:
            document["errors"] = {"body": ["Invalid input."]}
        document.update(self.examples.get(status, {}))
        return document

    def __call__(self, blueprint: Blueprint, *statuses: int) -> Callable[[Any], Any]:
        """Return a decorator documenting these statuses (401, 403, 404, 409...) on a view."""

        def decorate(view: Any) -> Any:
            for status in statuses:
                view = blueprint.alt_response(
                    status,
                    schema=self.schema,
                    content_type=PROBLEM_MEDIA_TYPE,
                    description=ERROR_STATUSES[status][0],
                    example=self.example(status),
                )(view)
            return view

        return decorate
