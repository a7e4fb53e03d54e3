"""The deployment files agree with devstack/topology.py and docs/architecture.md, and fail here when they drift."""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib
import json
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from ruamel.yaml import YAML

from devstack.gateway import LISTEN, find_nginx, local_gateway_config, nginx_command
from devstack.topology import GATEWAY_PORT, GATEWAY_ROUTES, SERVICES, ServiceSpec, service
from services.challenges.settings import load_freshness_policy
from services.leaderboards.settings import load_scoring
from services.peer_review.settings import load_review_policy
from shared.faults import CRASH_VARIABLE
from shared.queues import make_queue
from shared.registry import SERVICE_NAMES
from shared.settings import ENVIRONMENT_VARIABLES as SHARED_VARIABLES
from shared.settings import Settings
from shared.worker import _worker
from tests.conftest import SettingsFactory

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
GATEWAY_CONF = REPOSITORY / "deploy" / "nginx" / "gateway.conf"
ENV_EXAMPLE = REPOSITORY / ".env.example"
DOCKERFILE = REPOSITORY / "Dockerfile"
DOCKERIGNORE = REPOSITORY / ".dockerignore"
PYPROJECT = REPOSITORY / "pyproject.toml"
PROMETHEUS_CONFIG = REPOSITORY / "deploy" / "prometheus" / "prometheus.yml"
RQ_DASHBOARD = REPOSITORY / "deploy" / "rq-dashboard"

# Every setting the services read, as the code declares it (shared.settings and each service's settings); the tests
# below check that list against what the code really reads, then .env.example and compose against the list.
ENVIRONMENT_VARIABLES = SHARED_VARIABLES + tuple(
    variable
    for spec in SERVICES
    for variable in getattr(importlib.import_module(f"{spec.package}.settings"), "ENVIRONMENT_VARIABLES", ())
)
SETTINGS = tuple(name for name, _meaning in ENVIRONMENT_VARIABLES)
# Variables the code reads that are not deployment settings, and must stay out of .env.example and compose.
NOT_SETTINGS = {
    CRASH_VARIABLE: "arms a crash point; set only by the end-to-end tests",
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client's own; gunicorn_conf makes a fresh directory per API process",
}
# Settings whose value is a secret: never given a value in .env.example or a default in compose.
SECRETS = ("JWT_SECRET",)
# The `ops` compose profile: tools a plain `docker compose up` leaves out.
OPS_PROFILE = "ops"
OPS_SERVICES = ("prometheus", "rq-dashboard")
# Variables of .env.example that only the ops profile's containers read, never a service: they are no setting.
OPS_VARIABLES = {
    "RQ_DASHBOARD_USERNAME": "the RQ dashboard's basic-auth user (rq-dashboard reads it itself)",
    "RQ_DASHBOARD_PASSWORD": "the RQ dashboard's basic-auth password (rq-dashboard reads it itself)",
}
OPS_SECRETS = ("RQ_DASHBOARD_PASSWORD",)
# Where the dashboard image keeps its scripts (deploy/rq-dashboard/Dockerfile's WORKDIR).
RQ_DASHBOARD_HOME = "/opt/rq-dashboard"
# What start.py exits with when it refuses to start (sysexits.h EX_CONFIG).
EX_CONFIG = 78
SOURCE_PACKAGES = ("shared", "services")
# A variable named literally where the code reads it: environ.get("X"), environ["X"], getenv("X"), read.text("X").
LITERAL_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\(|\bread\.\w+\()\s*["']([A-Z][A-Z0-9_]*)["']""")
COMPOSE_INTERPOLATION = re.compile(r"^\$\{(\w+):-([^}]*)\}$")

# The longest RQ job timeout (shared.settings.Settings.job_timeout_seconds defaults to it).
LONGEST_JOB_TIMEOUT_SECONDS = 30

INFRASTRUCTURE = ("mongo", "redis")
# Paths each API answers itself (health, metrics, its own documentation): the gateway routes none of them.
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})
LOOPBACK_PORT = re.compile(r"^127\.0\.0\.1:(\d+):(\d+)$")
INTERPOLATED = re.compile(r"\$\{(\w+)")

ROUTED_LOCATION = re.compile(r"location\s+~\s+\^/\(([^)]*)\)\(\?:/\|\$\)\s*\{([^}]*)\}")
UPSTREAM_BLOCK = re.compile(r"upstream\s+(\w+)\s*\{([^}]*)\}")
UPSTREAM_SERVER = re.compile(r"^\s*server\s+([\w.-]+):(\d+)\s*;", re.MULTILINE)
PROXY_PASS = re.compile(r"proxy_pass\s+http://(\w+)\s*;")


def api_name(spec: ServiceSpec) -> str:
    """Return the compose service name of a service's API container."""
    return f"{spec.compose_name}-api"


def worker_name(spec: ServiceSpec) -> str:
    """Return the compose service name of a service's worker container."""
    return f"{spec.compose_name}-worker"


def app_container_names() -> list[str]:
    """Return the compose names of all API and worker containers."""
    return [name for spec in SERVICES for name in (api_name(spec), worker_name(spec))]


def default_services(compose_services: dict[str, Any]) -> dict[str, Any]:
    """Return the services a plain `docker compose up` starts: those in no profile."""
    return {name: definition for name, definition in compose_services.items() if not definition.get("profiles")}


def profile_services(compose_services: dict[str, Any], profile: str) -> dict[str, Any]:
    """Return the services of one compose profile."""
    return {
        name: definition for name, definition in compose_services.items() if profile in definition.get("profiles", [])
    }


def interpolated_names(value: Any) -> set[str]:
    """Return every variable a compose value (a string, or lists and mappings of them) interpolates."""
    if isinstance(value, str):
        return set(INTERPOLATED.findall(value))
    if isinstance(value, dict):
        return {name for item in value.values() for name in interpolated_names(item)}
    if isinstance(value, list):
        return {name for item in value for name in interpolated_names(item)}
    return set()


def compose_text_without_comments() -> str:
    """Return docker-compose.yml without its comment lines."""
    return "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))


def duration_seconds(value: str) -> float:
    """Convert a compose duration such as `1m30s` into seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    assert parts, f"not a compose duration: {value!r}"
    assert "".join(number + unit for number, unit in parts) == value, f"not a compose duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def env_example_assignments() -> dict[str, str]:
    """Return the NAME=value lines of .env.example."""
    assignments: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, separator, value = line.partition("=")
            assert separator, f".env.example line is neither a comment nor NAME=value: {line!r}"
            assignments[name.strip()] = value.strip()
    return assignments


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """Return docker-compose.yml as plain data, with anchors and merge keys resolved."""
    return YAML(typ="safe").load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose_services(compose: dict[str, Any]) -> dict[str, Any]:
    """Return the `services` mapping of docker-compose.yml."""
    return compose["services"]


@pytest.fixture(scope="module")
def gateway_conf() -> str:
    """Return the gateway's nginx configuration."""
    return GATEWAY_CONF.read_text()


# --- docker-compose.yml -------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_compose_runs_exactly_the_infrastructure_apis_workers_and_gateway(
    compose_services: dict[str, Any],
) -> None:
    expected = {*INFRASTRUCTURE, "gateway", *app_container_names()}
    assert set(default_services(compose_services)) == expected
    assert set(compose_services) == expected | set(OPS_SERVICES), "a service outside the default and ops sets"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_api_container_runs_the_topology_api_command(compose_services: dict[str, Any], spec: ServiceSpec) -> None:
    assert compose_services[api_name(spec)]["command"] == spec.api_command()


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_worker_container_runs_the_topology_worker_command(compose_services: dict[str, Any], spec: ServiceSpec) -> None:
    assert compose_services[worker_name(spec)]["command"] == spec.worker_command()


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_api_container_publishes_its_topology_port(compose_services: dict[str, Any], spec: ServiceSpec) -> None:
    assert compose_services[api_name(spec)]["ports"] == [f"{spec.port}:{spec.port}"]


def test_only_the_apis_and_the_gateway_publish_ports(compose_services: dict[str, Any]) -> None:
    # Of the default services; the ops profile's publish on the loopback only (tested below).
    publishing = {name for name, definition in default_services(compose_services).items() if definition.get("ports")}
    assert publishing == {"gateway", *(api_name(spec) for spec in SERVICES)}


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_api_health_check_asks_readyz_on_its_own_port_without_curl(
    compose_services: dict[str, Any], spec: ServiceSpec
) -> None:
    test = compose_services[api_name(spec)]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{spec.port}/readyz" in test[3]


class ReadinessStub(BaseHTTPRequestHandler):
    """Answers /readyz with the status its server was given."""

    def do_GET(self) -> None:
        status = self.server.readyz_status if self.path == "/readyz" else 404  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.mark.parametrize(("readyz_status", "healthy"), [(200, True), (503, False)])
def test_api_health_check_passes_only_when_readyz_answers_200(
    compose_services: dict[str, Any], readyz_status: int, healthy: bool
) -> None:
    spec = SERVICES[0]
    code = compose_services[api_name(spec)]["healthcheck"]["test"][3]
    server = ThreadingHTTPServer(("127.0.0.1", 0), ReadinessStub)
    server.readyz_status = readyz_status  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local_code = code.replace(f"127.0.0.1:{spec.port}/", f"127.0.0.1:{server.server_address[1]}/")
        result = subprocess.run([sys.executable, "-c", local_code], capture_output=True, timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_worker_stop_grace_period_outlasts_the_longest_job(compose_services: dict[str, Any], spec: ServiceSpec) -> None:
    grace = duration_seconds(compose_services[worker_name(spec)]["stop_grace_period"])
    assert grace > LONGEST_JOB_TIMEOUT_SECONDS


def test_longest_job_timeout_is_the_settings_default() -> None:
    settings = pytest.importorskip("shared.settings")
    assert settings.Settings.job_timeout_seconds == LONGEST_JOB_TIMEOUT_SECONDS


def test_every_dependency_waits_until_the_dependency_is_healthy(compose_services: dict[str, Any]) -> None:
    for name, definition in compose_services.items():
        depends_on = definition.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition per dependency"
        for dependency, condition in depends_on.items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in compose_services[dependency], f"{dependency} has no healthcheck"


@pytest.mark.parametrize("name", app_container_names())
def test_app_containers_wait_for_mongo_and_redis_and_restart(compose_services: dict[str, Any], name: str) -> None:
    definition = compose_services[name]
    assert set(definition["depends_on"]) == set(INFRASTRUCTURE)
    assert definition["restart"] == "unless-stopped"


def test_app_containers_share_one_image_and_one_environment(compose_services: dict[str, Any]) -> None:
    definitions = [compose_services[name] for name in app_container_names()]
    assert all(definition["build"] == definitions[0]["build"] for definition in definitions)
    assert all(definition["image"] == definitions[0]["image"] for definition in definitions)
    assert all(definition["environment"] == definitions[0]["environment"] for definition in definitions)
    assert (REPOSITORY / definitions[0]["build"].get("dockerfile", "Dockerfile")).is_file()


def test_app_environment_points_at_the_compose_containers(compose_services: dict[str, Any]) -> None:
    environment = compose_services[api_name(SERVICES[0])]["environment"]
    assert environment["MONGO_URL"] == "mongodb://mongo:27017/"
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["INLINE_WORKER"] == "false"
    for spec in SERVICES:
        assert environment[spec.url_variable] == f"http://{api_name(spec)}:{spec.port}"
        assert environment[spec.port_variable] == str(spec.port)


def test_app_environment_carries_exactly_the_declared_settings(compose_services: dict[str, Any]) -> None:
    environment = compose_services[api_name(SERVICES[0])]["environment"]
    assert sorted(environment) == sorted(SETTINGS)


def test_app_environment_defaults_are_the_env_example_values(compose_services: dict[str, Any]) -> None:
    environment = compose_services[api_name(SERVICES[0])]["environment"]
    example = env_example_assignments()
    for name, value in environment.items():
        interpolated = COMPOSE_INTERPOLATION.fullmatch(value)
        if interpolated is None:
            assert "$" not in value, f"{name}: write ${{{name}:-default}} or a fixed value"
            continue
        assert interpolated.group(1) == name, f"{name} must be read from the variable of the same name"
        assert interpolated.group(2) == example[name], f"{name}: compose and .env.example defaults differ"


@pytest.mark.parametrize("name", SECRETS)
def test_app_environment_gives_no_secret_a_default(compose_services: dict[str, Any], name: str) -> None:
    assert compose_services[api_name(SERVICES[0])]["environment"][name] == f"${{{name}:-}}"


def test_app_environment_values_are_strings(compose_services: dict[str, Any]) -> None:
    environment = compose_services[api_name(SERVICES[0])]["environment"]
    assert all(isinstance(value, str) for value in environment.values()), environment


def test_mongo_and_redis_keep_their_data_in_named_volumes(
    compose: dict[str, Any], compose_services: dict[str, Any]
) -> None:
    assert compose_services["mongo"]["image"] == "mongo:7.0"
    assert compose_services["redis"]["image"] == "redis:7.2"
    mounts = {
        volume.split(":")[1]: volume.split(":")[0]
        for name in INFRASTRUCTURE
        for volume in compose_services[name]["volumes"]
    }
    assert set(mounts) == {"/data/db", "/data"}
    assert set(mounts.values()) <= set(compose["volumes"])


def test_redis_persists_with_an_append_only_file(compose_services: dict[str, Any]) -> None:
    command = compose_services["redis"]["command"]
    assert command == ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec"]


def test_gateway_publishes_the_gateway_port_and_mounts_its_config(compose_services: dict[str, Any]) -> None:
    gateway = compose_services["gateway"]
    assert gateway["ports"] == [f"{GATEWAY_PORT}:{GATEWAY_PORT}"]
    assert gateway["volumes"] == ["./deploy/nginx/gateway.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert set(gateway["depends_on"]) == {api_name(spec) for spec in SERVICES}


def test_every_long_running_service_has_a_health_check_and_restarts(compose_services: dict[str, Any]) -> None:
    for name, definition in compose_services.items():
        healthcheck = definition.get("healthcheck", {})
        assert healthcheck.get("test", [None])[0] == "CMD", f"{name}: no exec-form health check"
        assert not healthcheck.get("disable"), f"{name}: health check disabled"
        assert {"interval", "timeout", "retries"} <= set(healthcheck), f"{name}: health check timing"
        assert definition.get("restart") == "unless-stopped", f"{name}: restart policy"


def worker_health_check_passes(compose_services: dict[str, Any], spec: ServiceSpec, redis_url: str) -> bool:
    """Run a worker container's health check here, against the given Redis; return whether it passed."""
    test = compose_services[worker_name(spec)]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    result = subprocess.run(
        [sys.executable, "-c", test[3]],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode in {0, 1}, result.stderr
    return result.returncode == 0


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_worker_health_check_passes_only_while_its_rq_worker_is_alive(
    compose_services: dict[str, Any], spec: ServiceSpec, redis_url: str
) -> None:
    connection = redis.Redis.from_url(redis_url)
    # Another service's worker on this host does not count.
    other = next(candidate for candidate in SERVICES if candidate != spec)
    _worker(SimpleWorker, other.queue, connection, other.name).register_birth()
    assert not worker_health_check_passes(compose_services, spec, redis_url)
    # The worker as shared.worker names it (`<service>.<hostname>.<thread id>`) and RQ registers it.
    worker = _worker(SimpleWorker, spec.queue, connection, spec.name)
    worker.register_birth()
    assert worker_health_check_passes(compose_services, spec, redis_url)
    # Killed without a goodbye: listed still, but its heartbeat key has expired.
    connection.delete(worker.key)
    assert not worker_health_check_passes(compose_services, spec, redis_url)
    worker.register_birth()
    worker.register_death()
    assert not worker_health_check_passes(compose_services, spec, redis_url)
    connection.close()


# --- the ops profile (docker compose --profile ops up) -------------------------------------------


def test_ops_services_are_exactly_prometheus_and_the_rq_dashboard_in_the_ops_profile_alone(
    compose_services: dict[str, Any],
) -> None:
    assert set(profile_services(compose_services, OPS_PROFILE)) == set(OPS_SERVICES)
    for name in OPS_SERVICES:
        assert compose_services[name]["profiles"] == [OPS_PROFILE], name


def test_ops_services_publish_on_the_loopback_only(compose_services: dict[str, Any]) -> None:
    for name, definition in profile_services(compose_services, OPS_PROFILE).items():
        assert definition["ports"], f"{name} publishes nothing"
        for mapping in definition["ports"]:
            assert LOOPBACK_PORT.fullmatch(mapping), f"{name}: {mapping!r} is not bound to 127.0.0.1"


def test_compose_requires_no_variable() -> None:
    # Compose interpolates every service, of every profile, before it picks a profile's services: one
    # ${NAME:?message} of the ops profile would stop a plain `docker compose up` that lacks NAME.
    assert not re.search(r"\$\{\w+:?\?", compose_text_without_comments())


@pytest.mark.parametrize("name", [*SECRETS, *OPS_SECRETS])
def test_compose_gives_no_secret_a_value_anywhere(name: str) -> None:
    forms = re.findall(rf"\$\{{{name}([^}}]*)\}}", compose_text_without_comments())
    assert forms, f"{name} is not read in docker-compose.yml"
    assert set(forms) == {":-"}, f"{name} must be written ${{{name}:-}}, with no default"
    # ... and is never set to a literal value (`NAME: value` or `NAME=value`), in any service.
    literal = re.search(rf"(?<!\{{)\b{name}\s*[:=]\s*(?!\$\{{)\S", compose_text_without_comments())
    assert literal is None, f"{name} has a value in docker-compose.yml"


def published_container_port(definition: dict[str, Any]) -> str:
    """Return the container port of a service's one loopback-bound port mapping."""
    (mapping,) = definition["ports"]
    match = LOOPBACK_PORT.fullmatch(mapping)
    assert match, f"{mapping!r} is not bound to 127.0.0.1"
    return match.group(2)


def prometheus_config() -> dict[str, Any]:
    """Return deploy/prometheus/prometheus.yml as plain data."""
    return YAML(typ="safe").load(PROMETHEUS_CONFIG.read_text())


def test_prometheus_scrapes_exactly_the_api_containers_metrics(compose_services: dict[str, Any]) -> None:
    scraped: list[tuple[str, str, str]] = []
    for job in prometheus_config()["scrape_configs"]:
        discovery = [key for key in job if key.endswith("_sd_configs")]
        assert not discovery, f"{job['job_name']}: only static targets are checked here, not {discovery}"
        for group in job["static_configs"]:
            scraped.extend(
                (job.get("scheme", "http"), target, job.get("metrics_path", "/metrics")) for target in group["targets"]
            )
    expected = [("http", f"{api_name(spec)}:{spec.port}", "/metrics") for spec in SERVICES]
    assert sorted(scraped) == sorted(expected)
    # ... which are the compose names of the APIs, serving on those ports.
    for _scheme, target, _path in scraped:
        host, _, port = target.partition(":")
        assert compose_services[host]["command"][4] == f"0.0.0.0:{port}", target


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_scraped_api_serves_prometheus_metrics(make_settings: SettingsFactory, spec: ServiceSpec) -> None:
    with service_client(make_settings, spec) as client:
        client.get("/healthz")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    # Prometheus's own content type, once: version and charset, each named one time.
    assert response.headers["Content-Type"].count("charset") == 1, response.headers["Content-Type"]
    families = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert "connective_http_requests" in families


def test_prometheus_runs_a_pinned_image_with_its_config_read_only_and_a_named_data_volume(
    compose: dict[str, Any], compose_services: dict[str, Any]
) -> None:
    prometheus = compose_services["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"]), prometheus["image"]
    flags = dict(argument.removeprefix("--").split("=", 1) for argument in prometheus["command"])
    mounts = {volume.split(":")[1]: volume.split(":") for volume in prometheus["volumes"]}
    config = mounts[flags["config.file"]]
    assert config == ["./deploy/prometheus/prometheus.yml", flags["config.file"], "ro"]
    assert (REPOSITORY / config[0]).resolve() == PROMETHEUS_CONFIG
    data = mounts[flags["storage.tsdb.path"]]
    assert data[0] in compose["volumes"], "Prometheus keeps its data in a named volume"


def test_prometheus_health_check_asks_its_readiness_on_its_own_port(compose_services: dict[str, Any]) -> None:
    prometheus = compose_services["prometheus"]
    container_port = published_container_port(prometheus)
    assert prometheus["healthcheck"]["test"] == [
        "CMD",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        f"http://127.0.0.1:{container_port}/-/ready",
    ]


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")
def test_prometheus_config_passes_promtool() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "config", "--syntax-only", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dashboard_flag(command: list[str], flag: str) -> str:
    """Return the value that follows a flag of the dashboard's command."""
    assert command.count(flag) == 1, f"{flag} must be given once: {command}"
    return command[command.index(flag) + 1]


def test_rq_dashboard_takes_its_credentials_from_the_environment_alone(compose_services: dict[str, Any]) -> None:
    dashboard = compose_services["rq-dashboard"]
    assert dashboard["environment"] == {name: f"${{{name}:-}}" for name in OPS_VARIABLES}
    assert not {"--username", "--password"} & set(dashboard["command"]), "credentials on a command line leak"
    dockerfile = (RQ_DASHBOARD / "Dockerfile").read_text()
    assert not re.search(r"^\s*(?:ENV|ARG)\b.*RQ_DASHBOARD_(?:USERNAME|PASSWORD)", dockerfile, re.MULTILINE | re.I)


def test_rq_dashboard_reads_the_workers_redis_with_their_json_serializer(compose_services: dict[str, Any]) -> None:
    command = compose_services["rq-dashboard"]["command"]
    app_redis = compose_services[worker_name(SERVICES[0])]["environment"]["REDIS_URL"]
    assert dashboard_flag(command, "--redis-url") == app_redis
    assert make_queue("probe", redis.Redis()).serializer is JSONSerializer
    assert "--json" in command
    # A failed job holds events: requeue it, never delete it.
    assert "--disable-delete" in command
    assert set(compose_services["rq-dashboard"]["depends_on"]) == {"redis"}


def test_rq_dashboard_listens_where_it_is_published_and_checked(compose_services: dict[str, Any]) -> None:
    dashboard = compose_services["rq-dashboard"]
    container_port = published_container_port(dashboard)
    # All interfaces of the container: compose publishes the port on the host's loopback only.
    assert dashboard_flag(dashboard["command"], "--bind") == "0.0.0.0"  # noqa: S104
    assert dashboard_flag(dashboard["command"], "--port") == container_port
    assert dashboard["healthcheck"]["test"] == [
        "CMD",
        "python",
        f"{RQ_DASHBOARD_HOME}/healthcheck.py",
        f"http://127.0.0.1:{container_port}",
    ]


def test_rq_dashboard_image_runs_start_py_as_a_non_root_user_on_python_311(compose_services: dict[str, Any]) -> None:
    build = compose_services["rq-dashboard"]["build"]
    assert (REPOSITORY / build["context"]).resolve() == RQ_DASHBOARD
    dockerfile = (RQ_DASHBOARD / build.get("dockerfile", "Dockerfile")).read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", dockerfile, re.MULTILINE)
    assert re.search(rf"^WORKDIR {RQ_DASHBOARD_HOME}\s*$", dockerfile, re.MULTILINE)
    assert re.search(r"^COPY start\.py healthcheck\.py \./\s*$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users, "the image must switch to a non-root user"
    assert users[-1] not in {"root", "0"}
    assert re.search(rf'^ENTRYPOINT \["python", "{RQ_DASHBOARD_HOME}/start\.py"\]\s*$', dockerfile, re.MULTILINE)


def pinned_requirements(lines: list[str]) -> dict[str, str]:
    """Return {normalised name: version} of `name==version` requirement lines; fail on any other form."""
    pins: dict[str, str] = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([\w.]+)", line.strip())
        assert match, f"not pinned as name==version: {line!r}"
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_rq_dashboard_image_pins_every_package_and_the_workers_rq_and_redis() -> None:
    lines = (RQ_DASHBOARD / "requirements.txt").read_text().splitlines()
    dashboard = pinned_requirements([line for line in lines if line.strip() and not line.startswith("#")])
    project = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    workers = pinned_requirements([requirement for requirement in project if re.match(r"(rq|redis)==", requirement)])
    assert set(workers) == {"rq", "redis"}
    assert {name: dashboard.get(name) for name in workers} == workers
    assert "rq-dashboard" in dashboard


def fake_rq_dashboard(directory: Path) -> Path:
    """Write an `rq-dashboard` that prints its arguments as JSON; return the folder to put on the PATH."""
    program = directory / "rq-dashboard"
    program.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    program.chmod(0o755)
    return directory


def run_start_script(directory: Path, credentials: dict[str, str], arguments: list[str]) -> Any:
    """Run deploy/rq-dashboard/start.py with only these credentials and a fake rq-dashboard on the PATH."""
    environment = {name: value for name, value in os.environ.items() if name not in OPS_VARIABLES}
    environment["PATH"] = f"{fake_rq_dashboard(directory)}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, str(RQ_DASHBOARD / "start.py"), *arguments],
        env={**environment, **credentials},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("credentials", "missing"),
    [
        ({}, ["RQ_DASHBOARD_USERNAME", "RQ_DASHBOARD_PASSWORD"]),
        (
            {"RQ_DASHBOARD_USERNAME": "", "RQ_DASHBOARD_PASSWORD": ""},
            ["RQ_DASHBOARD_USERNAME", "RQ_DASHBOARD_PASSWORD"],
        ),
        ({"RQ_DASHBOARD_USERNAME": "ops"}, ["RQ_DASHBOARD_PASSWORD"]),
        ({"RQ_DASHBOARD_USERNAME": "ops", "RQ_DASHBOARD_PASSWORD": "   "}, ["RQ_DASHBOARD_PASSWORD"]),
        ({"RQ_DASHBOARD_PASSWORD": "a-long-password"}, ["RQ_DASHBOARD_USERNAME"]),
    ],
    ids=["unset", "empty", "no-password", "blank-password", "no-user"],
)
def test_rq_dashboard_refuses_to_start_without_both_credentials(
    tmp_path: Path, credentials: dict[str, str], missing: list[str]
) -> None:
    result = run_start_script(tmp_path, credentials, ["--port", "9181"])
    assert result.returncode == EX_CONFIG
    assert result.stdout == "", "rq-dashboard was started"
    named = [name for name in OPS_VARIABLES if name in result.stderr]
    assert named == missing, result.stderr


def test_rq_dashboard_starts_with_the_compose_arguments_once_both_credentials_are_set(
    compose_services: dict[str, Any], tmp_path: Path
) -> None:
    command = compose_services["rq-dashboard"]["command"]
    credentials = {"RQ_DASHBOARD_USERNAME": "ops", "RQ_DASHBOARD_PASSWORD": "a-long-password"}
    result = run_start_script(tmp_path, credentials, command)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == command


class DashboardStub(BaseHTTPRequestHandler):
    """Answers like rq-dashboard: 200 for the right basic-auth credentials, 401 otherwise (or as `mode` says)."""

    mode = "secured"
    expected = "Basic " + base64.b64encode(b"ops:a-long-password").decode()

    def do_GET(self) -> None:
        authorised = self.headers.get("Authorization") == self.expected
        status = {"secured": 200 if authorised else 401, "open": 200, "locked": 401}[self.mode]
        if self.path != "/0/data/queues.json":
            status = 404
        body = b'{"queues": []}' if status == 200 else b"Please login"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.mark.parametrize(("mode", "healthy"), [("secured", True), ("open", False), ("locked", False)])
def test_rq_dashboard_health_check_needs_401_anonymous_and_200_with_its_credentials(
    compose_services: dict[str, Any], mode: str, healthy: bool
) -> None:
    test = compose_services["rq-dashboard"]["healthcheck"]["test"]
    handler = type(f"{mode}_dashboard", (DashboardStub,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = test[2].replace(f"{RQ_DASHBOARD_HOME}/", f"{RQ_DASHBOARD}/")
    url = re.sub(r":\d+$", f":{server.server_address[1]}", test[3])
    credentials = {"RQ_DASHBOARD_USERNAME": "ops", "RQ_DASHBOARD_PASSWORD": "a-long-password"}
    try:
        result = subprocess.run(
            [sys.executable, script, url],
            env={**os.environ, **credentials},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr


def test_rq_dashboard_health_check_fails_when_nothing_answers(compose_services: dict[str, Any]) -> None:
    test = compose_services["rq-dashboard"]["healthcheck"]["test"]
    script = test[2].replace(f"{RQ_DASHBOARD_HOME}/", f"{RQ_DASHBOARD}/")
    url = re.sub(r":\d+$", f":{free_port()}", test[3])
    result = subprocess.run([sys.executable, script, url], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "unreachable" in result.stderr


# --- deploy/nginx/gateway.conf ------------------------------------------------------------------


def routed_segments(conf: str) -> list[tuple[str, str]]:
    """Return (first path segment, upstream) for every routed location of the gateway."""
    routes: list[tuple[str, str]] = []
    for alternatives, body in ROUTED_LOCATION.findall(conf):
        upstreams = PROXY_PASS.findall(body)
        assert len(upstreams) == 1, f"location for {alternatives} must proxy to one upstream"
        routes.extend((segment, upstreams[0]) for segment in alternatives.split("|"))
    return routes


def upstream_addresses(conf: str) -> dict[str, list[tuple[str, int]]]:
    """Return the server addresses of every upstream block of the gateway."""
    return {
        name: [(host, int(port)) for host, port in UPSTREAM_SERVER.findall(body)]
        for name, body in UPSTREAM_BLOCK.findall(conf)
    }


def test_gateway_listens_on_the_gateway_port(gateway_conf: str) -> None:
    assert LISTEN.findall(gateway_conf) == [str(GATEWAY_PORT)]


def test_gateway_upstreams_are_the_api_containers(gateway_conf: str) -> None:
    addresses = upstream_addresses(gateway_conf)
    assert sorted(address for servers in addresses.values() for address in servers) == sorted(
        (api_name(spec), spec.port) for spec in SERVICES
    )


def test_gateway_routes_every_segment_once_to_its_service(gateway_conf: str) -> None:
    addresses = upstream_addresses(gateway_conf)
    routes = routed_segments(gateway_conf)
    segments = [segment for segment, _ in routes]
    assert len(segments) == len(set(segments)), f"a segment is routed twice: {segments}"
    expected = {
        segment: (api_name(service(name)), service(name).port)
        for name, service_segments in GATEWAY_ROUTES.items()
        for segment in service_segments
    }
    actual = {segment: addresses[upstream][0] for segment, upstream in routes}
    assert actual == expected


def test_gateway_proxies_only_through_the_routed_locations(gateway_conf: str) -> None:
    assert len(PROXY_PASS.findall(gateway_conf)) == len(ROUTED_LOCATION.findall(gateway_conf))


def test_gateway_limits_bodies_and_forwards_request_ids(gateway_conf: str) -> None:
    assert re.search(r"client_max_body_size\s+1m\s*;", gateway_conf)
    for header in ("Host", "X-Request-ID", "X-Forwarded-For", "X-Forwarded-Proto"):
        assert re.search(rf"proxy_set_header\s+{header}\s", gateway_conf), header


# --- the gateway and the services' OpenAPI documents ---------------------------------------------


@contextlib.contextmanager
def service_client(make_settings: SettingsFactory, spec: ServiceSpec) -> Iterator[FlaskClient]:
    """Build a service's app in this process (in-process store, test Redis) and yield a test client of it."""
    app = importlib.import_module(f"{spec.package}.app").create_app(make_settings(spec.name))
    try:
        yield app.test_client()
    finally:
        app.extensions["connective"].dependencies.runtime.mongo.close()


def documented_paths(make_settings: SettingsFactory, spec: ServiceSpec) -> list[str]:
    """Return the paths of a service's OpenAPI document, less those the service answers for itself."""
    with service_client(make_settings, spec) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = sorted(set(response.get_json()["paths"]) - OPERATIONS_PATHS)
    assert paths, f"{spec.name} documents no path"
    return paths


def routed_locations(conf: str) -> list[tuple[re.Pattern[str], str]]:
    """Return each routed location of the gateway as (its regex, as nginx matches it; its upstream), in order."""
    return [
        (re.compile(rf"^/({alternatives})(?:/|$)"), PROXY_PASS.findall(body)[0])
        for alternatives, body in ROUTED_LOCATION.findall(conf)
    ]


def upstream_of(conf: str, path: str) -> str | None:
    """Return the upstream nginx sends a path to: the first regex location that matches it, as nginx picks."""
    return next((upstream for pattern, upstream in routed_locations(conf) if pattern.search(path)), None)


def service_upstream(conf: str, spec: ServiceSpec) -> str:
    """Return the name of the gateway's upstream block that holds this service's API container."""
    (name,) = [name for name, servers in upstream_addresses(conf).items() if servers == [(api_name(spec), spec.port)]]
    return name


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_gateway_route_of_a_service_leads_to_one_of_its_documented_paths(
    gateway_conf: str, make_settings: SettingsFactory, spec: ServiceSpec
) -> None:
    upstream = service_upstream(gateway_conf, spec)
    segments = [segment for segment, routed_to in routed_segments(gateway_conf) if routed_to == upstream]
    assert segments, f"the gateway routes nothing to {spec.name}"
    paths = documented_paths(make_settings, spec)
    dead = [segment for segment in segments if not any(re.match(rf"^/{segment}(?:/|$)", path) for path in paths)]
    assert not dead, f"gateway routes to {spec.name} that lead to none of its paths: {dead}"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_documented_path_of_a_service_is_routed_by_the_gateway_to_it(
    gateway_conf: str, make_settings: SettingsFactory, spec: ServiceSpec
) -> None:
    upstream = service_upstream(gateway_conf, spec)
    misrouted = {
        path: upstream_of(gateway_conf, path)
        for path in documented_paths(make_settings, spec)
        if upstream_of(gateway_conf, path) != upstream
    }
    assert not misrouted, f"{spec.name} paths the gateway sends elsewhere (None: nowhere): {misrouted}"


# --- .env.example -------------------------------------------------------------------------------


def test_env_example_sets_exactly_the_declared_settings() -> None:
    # ... and the ops profile's own variables, which no service reads (tested below).
    assert sorted(env_example_assignments()) == sorted([*SETTINGS, *OPS_VARIABLES])


def test_env_example_explains_every_variable_in_a_comment_above_it() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            assert number > 0, f"no comment above {line!r}"
            assert lines[number - 1].startswith("#"), f"no comment above {line!r}"


def test_env_example_covers_every_variable_compose_reads() -> None:
    lines = [line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    interpolated = set(re.findall(r"\$\{(\w+)", "\n".join(lines)))
    assert interpolated
    assert interpolated <= set(env_example_assignments())


def test_env_example_matches_the_topology_and_development_defaults() -> None:
    assignments = env_example_assignments()
    assert assignments["MONGO_DB_PREFIX"] == "connective_"
    assert assignments["INLINE_WORKER"] == "false"
    assert assignments["WEB_CONCURRENCY"] == "2"
    assert assignments["TIMEZONE"] == "UTC"
    for spec in SERVICES:
        assert assignments[spec.port_variable] == str(spec.port)
        assert assignments[spec.url_variable] == f"http://127.0.0.1:{spec.port}"


@pytest.mark.parametrize("name", [*SECRETS, *OPS_SECRETS])
def test_env_example_writes_no_secret(name: str) -> None:
    assert env_example_assignments()[name] == ""


def test_env_example_values_are_the_code_defaults() -> None:
    example = {name: value for name, value in env_example_assignments().items() if value}
    wiring = {"MONGO_URL": example["MONGO_URL"], "REDIS_URL": example["REDIS_URL"], "JWT_SECRET": "test-secret"}
    for service_name in SERVICE_NAMES:
        assert Settings.from_env(service_name, {**example, **wiring}) == Settings.from_env(service_name, wiring)
    assert load_freshness_policy(example) == load_freshness_policy({})


@pytest.mark.parametrize("name", sorted(NOT_SETTINGS))
def test_variables_that_are_not_settings_stay_out_of_env_example_and_compose(name: str) -> None:
    assert name not in env_example_assignments()
    assert name not in COMPOSE_FILE.read_text()


def test_ops_variables_are_read_by_the_ops_services_alone(compose_services: dict[str, Any]) -> None:
    assert not set(OPS_VARIABLES) & set(SETTINGS), "a service setting cannot be ops-only"
    assert not set(OPS_VARIABLES) & variables_named_in_the_sources(), "the services' code reads an ops variable"
    readers = {
        name: interpolated_names(definition) & set(OPS_VARIABLES) for name, definition in compose_services.items()
    }
    assert {name for name, read in readers.items() if read} <= set(OPS_SERVICES)
    assert set().union(*readers.values()) == set(OPS_VARIABLES), "an ops variable nothing reads"


def test_env_example_marks_each_ops_variable_as_ops_only() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for name in OPS_VARIABLES:
        (number,) = [index for index, line in enumerate(lines) if line.startswith(f"{name}=")]
        comments: list[str] = []
        while number > 0 and lines[number - 1].startswith("#"):
            number -= 1
            comments.insert(0, lines[number])
        assert "ops only" in " ".join(comments).lower(), f"the comment above {name} must say it is ops only"


# --- the settings the code reads ----------------------------------------------------------------


class RecordingEnviron(dict[str, str]):
    """An environment that remembers the name of every variable read from it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.names: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        self.names.add(name)
        return super().get(name, default)

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        self.names.add(str(name))
        return super().__contains__(name)


def variables_read_by_the_services(monkeypatch: pytest.MonkeyPatch, metrics_dir: Path) -> set[str]:
    """Return every variable a service process reads: its settings, the services' own policies, gunicorn's config."""
    wiring = {"MONGO_URL": "mongomock://", "REDIS_URL": "redis://127.0.0.1:6379/0", "JWT_SECRET": "test-secret"}
    names: set[str] = set()
    for service_name in SERVICE_NAMES:
        environ = RecordingEnviron(wiring)
        Settings.from_env(service_name, environ)
        names |= environ.names
    for load in (load_freshness_policy, load_review_policy):
        environ = RecordingEnviron({})
        load(environ)
        names |= environ.names
    environ = RecordingEnviron({})
    load_scoring(ZoneInfo("UTC"), environ)
    names |= environ.names
    # gunicorn_conf reads os.environ as it is loaded; read it with a recording environment in its place.
    environ = RecordingEnviron({"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    monkeypatch.setattr(os, "environ", environ)
    runpy.run_path(str(REPOSITORY / "shared" / "gunicorn_conf.py"))
    monkeypatch.undo()
    return names | environ.names


def variables_named_in_the_sources() -> set[str]:
    """Return every variable the services' code reads by a literal name."""
    return {
        name
        for package in SOURCE_PACKAGES
        for path in sorted((REPOSITORY / package).rglob("*.py"))
        for name in LITERAL_READ.findall(path.read_text())
    }


def test_settings_are_declared_once_each_with_a_meaning() -> None:
    assert len(SETTINGS) == len(set(SETTINGS))
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and meaning.strip() for name, meaning in ENVIRONMENT_VARIABLES)


def test_declared_settings_are_exactly_what_the_services_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    read = variables_read_by_the_services(monkeypatch, tmp_path) - set(NOT_SETTINGS)
    assert sorted(read) == sorted(SETTINGS)


def test_every_variable_the_sources_read_is_a_declared_setting() -> None:
    named = variables_named_in_the_sources()
    assert named, "no environment reads found: LITERAL_READ no longer matches the code"
    assert named <= {*SETTINGS, *NOT_SETTINGS}, sorted(named - {*SETTINGS, *NOT_SETTINGS})


def test_architecture_doc_describes_every_setting() -> None:
    architecture = (REPOSITORY / "docs" / "architecture.md").read_text()
    missing = [name for name in SETTINGS if f"`{name}`" not in architecture]
    assert not missing, f"docs/architecture.md (Settings) does not describe {missing}"


# --- Dockerfile and .dockerignore ---------------------------------------------------------------


def test_image_contains_every_package_the_distribution_installs() -> None:
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY\s+(\w+)/\s", DOCKERFILE.read_text(), re.MULTILINE))
    assert packages <= copied


def test_image_runs_as_a_non_root_user_on_python_311() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users, "the image must switch to a non-root user"
    assert users[-1] not in {"root", "0"}
    assert re.search(r"^ENV\s+PYTHONUNBUFFERED=1", dockerfile, re.MULTILINE)


def test_docker_context_leaves_out_local_state_but_keeps_the_sources() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if not line.startswith("#")}
    assert {".venv", ".cache", ".git", "tests"} <= ignored
    assert "**/__pycache__" in ignored or "__pycache__" in ignored
    copied = set(re.findall(r"^COPY\s+([\w.]+)", DOCKERFILE.read_text(), re.MULTILINE))
    assert not copied & ignored


# --- nginx itself (skipped where nginx is not installed: apt-get install nginx) ------------------

NGINX = find_nginx()
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EchoUpstream(BaseHTTPRequestHandler):
    """Answers every request with the service name, the path and the forwarded headers."""

    service_name = ""

    def do_request(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {
                "service": self.service_name,
                "path": self.path,
                "request_id": self.headers.get("X-Request-ID"),
                "forwarded_for": self.headers.get("X-Forwarded-For"),
                "forwarded_proto": self.headers.get("X-Forwarded-Proto"),
                "host": self.headers.get("Host"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", "set-by-upstream")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_request  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture(scope="module")
def nginx_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Run gateway.conf under nginx in front of one echo server per service; yield the gateway port."""
    if NGINX is None:
        pytest.skip("nginx is not installed")
    servers = []
    for spec in SERVICES:
        handler = type(f"{spec.name}_upstream", (EchoUpstream,), {"service_name": spec.name})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    upstream_ports = {spec.name: server.server_address[1] for spec, server in zip(SERVICES, servers, strict=True)}
    listen_port = free_port()
    wrapper = local_gateway_config(tmp_path_factory.mktemp("nginx"), listen_port, upstream_ports)
    process = subprocess.Popen(nginx_command(NGINX, wrapper), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen_port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    errors = (
                        (wrapper.parent / "error.log").read_text() if (wrapper.parent / "error.log").exists() else ""
                    )
                    pytest.fail(f"nginx did not start: {errors}")
                time.sleep(0.05)
        yield listen_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for server in servers:
            server.shutdown()
            server.server_close()


def gateway_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    """GET a path through the gateway; return status, headers (lists of values) and the decoded JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        header_values: dict[str, Any] = {}
        for name, value in response.getheaders():
            header_values.setdefault(name.lower(), []).append(value)
        return response.status, header_values, json.loads(response.read())
    finally:
        connection.close()


@needs_nginx
def test_gateway_config_passes_the_nginx_syntax_check(tmp_path: Path) -> None:
    assert NGINX is not None
    wrapper = local_gateway_config(tmp_path, free_port(), {spec.name: free_port() for spec in SERVICES})
    command = nginx_command(NGINX, wrapper, "-t")
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_nginx
@pytest.mark.parametrize(
    ("segment", "service_name"),
    [(segment, name) for name, segments in GATEWAY_ROUTES.items() for segment in segments],
)
def test_nginx_sends_each_first_segment_to_its_service(nginx_gateway: int, segment: str, service_name: str) -> None:
    for path in (f"/{segment}", f"/{segment}/", f"/{segment}/abc/def?limit=5&offset=10"):
        status, _, body = gateway_get(nginx_gateway, path)
        assert (status, body["service"], body["path"]) == (200, service_name, path)


@needs_nginx
@pytest.mark.parametrize("path", ["/", "/unknown", "/challengesX", "/users-list/1", "/healthzz", "/x/challenges"])
def test_nginx_answers_unrouted_paths_with_a_problem_404(nginx_gateway: int, path: str) -> None:
    status, headers, body = gateway_get(nginx_gateway, path)
    assert status == 404
    assert headers["content-type"] == ["application/problem+json"]
    assert body["status"] == 404
    assert body["title"] == "Not Found"


@needs_nginx
def test_nginx_answers_its_own_healthz(nginx_gateway: int) -> None:
    status, _, body = gateway_get(nginx_gateway, "/healthz")
    assert (status, body) == (200, {"status": "ok"})


@needs_nginx
def test_nginx_keeps_a_client_request_id_and_returns_it_once(nginx_gateway: int) -> None:
    status, headers, body = gateway_get(nginx_gateway, "/rules", {"X-Request-ID": "client-chosen-id"})
    assert status == 200
    assert body["request_id"] == "client-chosen-id"
    assert headers["x-request-id"] == ["client-chosen-id"]


@needs_nginx
def test_nginx_mints_a_request_id_when_the_client_sent_none(nginx_gateway: int) -> None:
    _, headers, body = gateway_get(nginx_gateway, "/rules")
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert headers["x-request-id"] == [body["request_id"]]
    _, unrouted_headers, _ = gateway_get(nginx_gateway, "/nowhere")
    assert re.fullmatch(r"[0-9a-f]{32}", unrouted_headers["x-request-id"][0])


@needs_nginx
def test_nginx_forwards_client_address_scheme_and_host(nginx_gateway: int) -> None:
    _, _, body = gateway_get(nginx_gateway, "/awards", {"Host": "learn.example.org:8080"})
    assert body["forwarded_for"] == "127.0.0.1"
    assert body["forwarded_proto"] == "http"
    assert body["host"] == "learn.example.org:8080"


@needs_nginx
def test_nginx_refuses_bodies_over_one_mebibyte_with_a_problem_413(nginx_gateway: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", nginx_gateway, timeout=5)
    try:
        connection.putrequest("POST", "/resources")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("Content-Type") == "application/problem+json"
        assert json.loads(response.read())["status"] == 413
    finally:
        connection.close()
