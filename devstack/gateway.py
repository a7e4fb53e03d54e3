"""The gateway of `make run`: compose's nginx config (deploy/nginx/gateway.conf) run locally, unprivileged.

Compose's config names the API containers (`challenges-api:5001`, ...) and listens on 8080; run here, the
same file is rewritten to the local APIs' ports and wrapped in a whole nginx.conf that keeps its pid,
logs and temporary files in one directory, so one origin serves every public path locally as it does
under compose. Tests run the same rewrite (tests/unit/test_deployment_files.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from devstack.processes import REPO_ROOT
from devstack.topology import GATEWAY_PORT, SERVICES

GATEWAY_CONF = REPO_ROOT / "deploy" / "nginx" / "gateway.conf"
# The port make run's gateway listens on (if free), as compose's does.
LOCAL_GATEWAY_PORT = GATEWAY_PORT
LISTEN = re.compile(r"^\s*listen\s+(\d+)\s*;", re.MULTILINE)
ACCESS_LOG = re.compile(r"access_log\s+/var/log/nginx/access\.log")
# Debian installs nginx in /usr/sbin, which a user's PATH may not hold.
SBIN_LOCATIONS = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"))


def find_nginx() -> str | None:
    """Return the nginx binary on the PATH or in the sbin folders, or None where it is not installed."""
    return shutil.which("nginx") or next((str(path) for path in SBIN_LOCATIONS if path.is_file()), None)


def local_gateway_config(directory: Path, listen_port: int, upstream_ports: Mapping[str, int]) -> Path:
    """Write gateway.conf, pointed at local APIs, wrapped in an nginx.conf in `directory`; return the wrapper."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = GATEWAY_CONF.read_text()
    for spec in SERVICES:
        conf, count = re.subn(
            rf"server\s+{re.escape(spec.compose_name)}-api:{spec.port}\s*;",
            f"server 127.0.0.1:{upstream_ports[spec.name]};",
            conf,
        )
        if count != 1:
            raise ValueError(f"{GATEWAY_CONF} has no upstream server line for {spec.compose_name}-api")
    conf, count = LISTEN.subn(f"    listen 127.0.0.1:{listen_port};", conf)
    if count != 1:
        raise ValueError(f"{GATEWAY_CONF} must listen on exactly one port")
    conf = ACCESS_LOG.sub(f"access_log {directory / 'access.log'}", conf)
    (directory / "gateway.conf").write_text(conf)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    wrapper = directory / "nginx.conf"
    wrapper.write_text(
        f"daemon off;\nmaster_process off;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n{temp_paths}\n    include {directory / 'gateway.conf'};\n}}\n"
    )
    return wrapper


def nginx_command(nginx: str, wrapper: Path, *arguments: str) -> list[str]:
    """Return an nginx command line that touches nothing outside the wrapper's directory."""
    directory = wrapper.parent
    return [nginx, "-p", f"{directory}/", "-e", str(directory / "error.log"), "-c", str(wrapper), *arguments]
