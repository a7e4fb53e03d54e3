"""The deployment files agree with devstack/topology.py and docs/architecture.md, and fail here when they drift."""

from __future__ import annotations

import http.client
import importlib
import json
import os
import re
import runpy
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
from ruamel.yaml import YAML

from devstack.gateway import LISTEN, find_nginx, local_gateway_config, nginx_command
from devstack.topology import GATEWAY_PORT, GATEWAY_ROUTES, SERVICES, ServiceSpec, service
from services.challenges.settings import load_freshness_policy
from services.leaderboards.settings import load_scoring
from services.peer_review.settings import load_review_policy
from shared.faults import CRASH_VARIABLE
from shared.registry import SERVICE_NAMES
from shared.settings import ENVIRONMENT_VARIABLES as SHARED_VARIABLES
from shared.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"
GATEWAY_CONF = REPOSITORY / "deploy" / "nginx" / "gateway.conf"
ENV_EXAMPLE = REPOSITORY / ".env.example"
DOCKERFILE = REPOSITORY / "Dockerfile"
DOCKERIGNORE = REPOSITORY / ".dockerignore"

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
SOURCE_PACKAGES = ("shared", "services")
# A variable named literally where the code reads it: environ.get("X"), environ["X"], getenv("X"), read.text("X").
LITERAL_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\(|\bread\.\w+\()\s*["']([A-Z][A-Z0-9_]*)["']""")
COMPOSE_INTERPOLATION = re.compile(r"^\$\{(\w+):-([^}]*)\}$")

# The longest RQ job timeout (shared.settings.Settings.job_timeout_seconds defaults to it).
LONGEST_JOB_TIMEOUT_SECONDS = 30

INFRASTRUCTURE = ("mongo", "redis")

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
    assert set(compose_services) == expected


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
    publishing = {name for name, definition in compose_services.items() if definition.get("ports")}
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


# --- .env.example -------------------------------------------------------------------------------


def test_env_example_sets_exactly_the_declared_settings() -> None:
    assert sorted(env_example_assignments()) == sorted(SETTINGS)


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


@pytest.mark.parametrize("name", SECRETS)
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
