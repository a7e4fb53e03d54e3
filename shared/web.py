"""The base of every service's Flask app: OpenAPI, errors, auth, health, metrics and offline docs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask_swagger_ui
import structlog
from flask import Flask, Response, send_from_directory
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from werkzeug.routing import BaseConverter

from shared.auth import TokenVerifier
from shared.errors import PROBLEM_MEDIA_TYPE, problem_document, problem_response, register_error_handlers
from shared.mongo import MongoProvider
from shared.observability import install_request_tracking, metrics_response
from shared.redisconn import RedisProvider
from shared.schemas import ID_PATTERN
from shared.settings import Settings
from shared.worker import PeriodicTask, start_inline_worker

SWAGGER_ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"
log = structlog.get_logger(__name__)


class ProblemSchema(Schema):
    """RFC 9457 problem details, the body of every error."""

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
    existing_id = fields.String(metadata={"description": "The object a conflict refers to (409 only)"})
    missing_prerequisites = fields.List(
        fields.String(), metadata={"description": "Challenges to submit to first (409 on submitting only)"}
    )
    max_versions = fields.Integer(metadata={"description": "The most versions a submission keeps (409 only)"})
    revision_status = fields.String(
        metadata={"description": "Where a revision stands when a decision on it conflicts (409 only)"}
    )


class ConnectiveApi(Api):
    """flask-smorest's Api with problem+json as the documented error body."""

    ERROR_SCHEMA = ProblemSchema


class ObjectIdConverter(BaseConverter):
    """Matches a 24-hex-digit object id in a path; anything else answers 404 before any view runs."""

    regex = ID_PATTERN.removeprefix("^").removesuffix("$")


OBJECT_ID_SCHEMA = {"type": "string", "pattern": ID_PATTERN, "example": "6b02e48625231e1d5301a2b7"}


class HealthSchema(Schema):
    """Liveness or readiness report."""

    status = fields.String(metadata={"example": "ok"})
    service = fields.String(metadata={"example": "leaderboards"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"example": {"mongo": "ok"}})


@dataclass
class ServiceContext:
    """What views and hooks need from the process: settings, token verifier, dependencies."""

    settings: Settings
    verifier: TokenVerifier
    dependencies: Any
    readiness: Mapping[str, Callable[[], object]] = field(default_factory=dict)


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
        @blueprint.alt_response(503, schema=ProblemSchema, description="A dependency is unreachable")
        @blueprint.doc(security=[])
        def get(self) -> Any:
            """Report whether MongoDB and Redis answer; 503 when either does not."""
            from flask import current_app  # noqa: PLC0415 - bound per request

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


def create_service_app(
    *,
    settings: Settings,
    title: str,
    description: str,
    blueprints: Iterable[Blueprint],
    dependencies: Any,
    mongo: MongoProvider,
    redis: RedisProvider,
    periodic_tasks: Sequence[PeriodicTask] = (),
    version: str = "1.0.0",
) -> Flask:
    """Build a service's Flask app with everything every service shares.

    With INLINE_WORKER (the fallback when API and worker cannot share a database) the app also consumes
    the service's queue and runs its periodic tasks in this process.
    """
    app = Flask(f"services.{settings.service}")
    app.config.update(
        API_TITLE=title,
        API_VERSION=version,
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
            "info": {"description": description},
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
        readiness={"mongo": mongo.ping, "redis": redis.ping},
    )
    app.url_map.converters["objectid"] = ObjectIdConverter
    api = ConnectiveApi(app)
    api.register_converter(ObjectIdConverter, lambda _converter: OBJECT_ID_SCHEMA)
    # After Api(): our handlers replace smorest's JSON error bodies with problem+json.
    register_error_handlers(app)
    install_request_tracking(app, settings.service)

    @app.route("/docs/assets/<path:filename>")
    def docs_assets(filename: str) -> Response:
        return send_from_directory(SWAGGER_ASSETS, filename, max_age=86400)

    api.register_blueprint(_operations_blueprint(settings.service))
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.extensions["connective_api"] = api
    if settings.inline_worker:
        start_inline_worker(
            service=settings.service, queue_name=settings.service, redis_provider=redis, tasks=periodic_tasks
        )
    return app


_ERROR_DOCS: Mapping[int, tuple[str, str]] = {
    400: ("Malformed request (e.g. invalid JSON)", "The body is not valid JSON"),
    401: ("No valid bearer token", "A bearer token is required"),
    403: ("The caller lacks the role or ownership this needs", "Only the challenge's teacher or an admin may do this"),
    404: ("No such object, or not visible to the caller", "No challenge with id 6b02e48625231e1d5301a2b7"),
    409: ("Conflicts with the current state (duplicate, wrong status)", "This challenge is closed"),
    413: ("The body is too large", "The request body is larger than 1048576 bytes"),
    422: ("Invalid fields; `errors` names each", "The request has invalid fields: title"),
}


def documents_errors(blueprint: Blueprint, *statuses: int) -> Callable[[Any], Any]:
    """Document the problem+json answers a view may give (401, 403, 404, 409...), each with an example."""

    def decorate(view: Any) -> Any:
        for status in statuses:
            description, detail = _ERROR_DOCS[status]
            example = problem_document(status, detail)
            if status == 422:
                example["errors"] = {"title": ["Shorter than minimum length 1."]}
            view = blueprint.alt_response(
                status,
                schema=ProblemSchema,
                content_type=PROBLEM_MEDIA_TYPE,
                description=description,
                example=example,
            )(view)
        return view

    return decorate
