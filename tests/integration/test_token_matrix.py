# ruff: noqa: E501 - the cases are a table, one case per line
"""Every way a bearer token can be wrong, against every documented endpoint of the three services.

Each service runs twice: in development mode (HS256 with a secret) and as in production (RS256 with a
public key, an issuer and an audience configured). Every endpoint of its OpenAPI document but the
operations' endpoints is called with each bad token of its mode (TOKEN_CASES) and must answer a 401
problem+json with `WWW-Authenticate: Bearer ...` and the case's fixed sentence, whose body names neither the
token library, nor a traceback or an exception class, nor any part of the token; and the refusal must
change nothing (every collection and every Redis key compared before and after). A valid token of the same
mode is accepted on every endpoint (the control: what is refused is the token, not the call).

The classroom screen and its stream also take a token in the query string (`?token=`), which must be
refused the same way.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import jwt.exceptions
import pytest
from flask import Flask

from devstack.servers import RedisServer
from services.challenges.app import create_app as create_challenges_app
from services.leaderboards.app import create_app as create_leaderboards_app
from services.peer_review.app import create_app as create_peer_review_app
from shared.settings import Settings
from tests.factories import NO_RATE_LIMITS, SECRET, rsa_key_pair
from tests.integration.leaderboards_world import snapshot
from tests.integration.matrix import documented_operations

pytestmark = pytest.mark.integration

ISSUER = "https://idp.connective.test"
AUDIENCE = "connective"
APPS: dict[str, Callable[[Settings], Flask]] = {
    "challenges": create_challenges_app,
    "peer_review": create_peer_review_app,
    "leaderboards": create_leaderboards_app,
}
# What each path parameter of the OpenAPI documents is filled with: any well-formed value, since a refused
# token must be answered before a view looks anything up.
PARAMETERS = {"kind": "submission", "version": "1", "board": "global", "user_id": "alice"}
OBJECT_ID = "6b02e48625231e1d5301a2b7"

# Words that would tell a caller how tokens are checked: the library, a traceback, any exception's name.
LEAKED_WORDS = (
    "jwt",
    "traceback",
    "exception",
    *(name.lower() for name in dir(jwt.exceptions) if name.endswith("Error")),
    *(name.lower() for name in dir(builtins) if name.endswith(("Error", "Exception"))),
)


PRIVATE_KEY, PUBLIC_KEY = rsa_key_pair()
OTHER_PRIVATE_KEY, _ = rsa_key_pair()


@dataclass(frozen=True)
class Mode:
    """How a deployment verifies tokens: its settings and how its identity provider signs a valid token."""

    name: str
    environ: dict[str, str]
    key: str
    algorithm: str
    registered: dict[str, str]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Return a valid token's claims (an admin's, so a refusal is never for want of a role), changed."""
        now = int(datetime.now(UTC).timestamp())
        claims: dict[str, Any] = {"sub": "alice", "roles": ["admin"], "iat": now, "exp": now + 3600, **self.registered}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROPPED}

    def sign(self, claims: dict[str, Any], key: str | None = None) -> str:
        """Sign claims as this mode's identity provider does (or with another key of the same kind)."""
        return jwt.encode(claims, key or self.key, algorithm=self.algorithm)

    def valid(self) -> str:
        """Return a token this mode accepts."""
        return self.sign(self.claims())


# A claim left out of a token.
DROPPED: Any = object()

SECRET_MODE = Mode("secret", {"JWT_SECRET": SECRET}, SECRET, "HS256", {})
PUBLIC_KEY_MODE = Mode(
    "public_key",
    {"JWT_PUBLIC_KEY": PUBLIC_KEY, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE},
    PRIVATE_KEY,
    "RS256",
    {"iss": ISSUER, "aud": AUDIENCE},
)
MODES = (SECRET_MODE, PUBLIC_KEY_MODE)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hand_made(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """Build a token without the library's checks, as an attacker would: HS256 with any key, or unsigned."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _in_the_future(mode: Mode, claim: str) -> dict[str, str]:
    # Two minutes: well beyond the 30 seconds of clock skew allowed.
    later = int((datetime.now(UTC) + timedelta(minutes=2)).timestamp())
    return _bearer(mode.sign(mode.claims(**{claim: later})))


def _expired(mode: Mode) -> dict[str, str]:
    now = int(datetime.now(UTC).timestamp())
    return _bearer(mode.sign(mode.claims(iat=now - 7200, exp=now - 120)))


def _wrong_signature(mode: Mode) -> dict[str, str]:
    other = "another-secret-of-at-least-32-bytes-long" if mode is SECRET_MODE else OTHER_PRIVATE_KEY
    return _bearer(mode.sign(mode.claims(), key=other))


def _only_with_a_public_key(make: Callable[[Mode], dict[str, str]]) -> Callable[[Mode], dict[str, str] | None]:
    return lambda mode: make(mode) if mode is PUBLIC_KEY_MODE else None


MISSING = "A bearer token is required (Authorization: Bearer <token>)"
MALFORMED = "The token is malformed"
ALGORITHM = "The token's algorithm is not accepted"


@dataclass(frozen=True)
class TokenCase:
    """A bad credential, the headers carrying it in a mode (None: the mode has no such flaw), and the answer."""

    name: str
    headers: Callable[[Mode], dict[str, str] | None]
    detail: str


# fmt: off
TOKEN_CASES = (
    TokenCase("no Authorization header",          lambda mode: {},                                                                              MISSING),
    TokenCase("an empty bearer",                  lambda mode: {"Authorization": "Bearer "},                                                    MISSING),
    TokenCase("a bearer of blanks",               lambda mode: {"Authorization": "Bearer     "},                                               MISSING),
    TokenCase("the Basic scheme",                 lambda mode: {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},                                 MISSING),
    TokenCase("a valid token in another scheme",  lambda mode: {"Authorization": f"Token {mode.valid()}"},                                      MISSING),
    TokenCase("a valid token without a scheme",   lambda mode: {"Authorization": mode.valid()},                                                 MISSING),
    TokenCase("garbage",                          lambda mode: _bearer("this-is-not-a-token-at-all"),                                           MALFORMED),
    TokenCase("three segments of garbage",        lambda mode: _bearer("garbage-one.garbage-two.garbage-three"),                                MALFORMED),
    TokenCase("expired",                          _expired,                                                                                     "The token has expired"),
    TokenCase("not valid yet (nbf)",              lambda mode: _in_the_future(mode, "nbf"),                                                     "The token is not valid yet"),
    TokenCase("issued in the future (iat)",       lambda mode: _in_the_future(mode, "iat"),                                                     "The token is not valid yet"),
    TokenCase("a wrong signature",                _wrong_signature,                                                                             "The token's signature is not valid"),
    TokenCase("alg none",                         lambda mode: _bearer(_hand_made({"alg": "none", "typ": "JWT"}, mode.claims(), None)),        ALGORITHM),
    TokenCase("HS256 signed with the public key", _only_with_a_public_key(lambda mode: _bearer(_hand_made({"alg": "HS256", "typ": "JWT"}, mode.claims(), PUBLIC_KEY.encode()))), ALGORITHM),
    TokenCase("HS256 with the dev secret",        _only_with_a_public_key(lambda mode: _bearer(jwt.encode(mode.claims(), SECRET, algorithm="HS256"))), ALGORITHM),
    TokenCase("a wrong issuer",                   _only_with_a_public_key(lambda mode: _bearer(mode.sign(mode.claims(iss="https://evil.test")))), "The token's issuer is not accepted"),
    TokenCase("no issuer",                        _only_with_a_public_key(lambda mode: _bearer(mode.sign(mode.claims(iss=DROPPED)))),           "A required claim is missing: iss"),
    TokenCase("a wrong audience",                 _only_with_a_public_key(lambda mode: _bearer(mode.sign(mode.claims(aud="another-app")))),     "The token's audience is not accepted"),
    TokenCase("no audience",                      _only_with_a_public_key(lambda mode: _bearer(mode.sign(mode.claims(aud=DROPPED)))),           "A required claim is missing: aud"),
    TokenCase("no sub",                           lambda mode: _bearer(mode.sign(mode.claims(sub=DROPPED))),                                    "A required claim is missing: sub"),
    TokenCase("no exp",                           lambda mode: _bearer(mode.sign(mode.claims(exp=DROPPED))),                                    "A required claim is missing: exp"),
    TokenCase("no roles",                         lambda mode: _bearer(mode.sign(mode.claims(roles=DROPPED))),                                  "A required claim is missing: roles"),
    TokenCase("sub a number",                     lambda mode: _bearer(mode.sign(mode.claims(sub=42))),                                         "The token's sub claim must be a user id"),
    TokenCase("exp not a number",                 lambda mode: _bearer(mode.sign(mode.claims(exp="tomorrow"))),                                 MALFORMED),
    TokenCase("roles a string",                   lambda mode: _bearer(mode.sign(mode.claims(roles="admin"))),                                  "The token's roles claim must be a list of strings"),
    TokenCase("cohorts a dict",                   lambda mode: _bearer(mode.sign(mode.claims(cohorts={"7a": True}))),                           "The token's cohorts claim must be a list of strings"),
    TokenCase("an unknown role",                  lambda mode: _bearer(mode.sign(mode.claims(roles=["admin", "superuser"]))),                   "The token names a role that is not known"),
    TokenCase("no role at all",                   lambda mode: _bearer(mode.sign(mode.claims(roles=[]))),                                       "The token names no role"),
)
# fmt: on


def _applicable() -> list[Any]:
    return [
        pytest.param(service, mode, case, id=f"{service}-{mode.name}-{case.name}")
        for service in APPS
        for mode in MODES
        for case in TOKEN_CASES
        if case.headers(mode) is not None
    ]


Apps = dict[tuple[str, str], Flask]


@pytest.fixture(scope="module")
def apps(redis_server: RedisServer, mongo_server_url: str, database_prefix: str, mongo_client: Any) -> Iterator[Apps]:
    """Return each service's app in each mode, on FerretDB and real Redis (the session drops the databases)."""
    built: Apps = {}
    for service, create_app in APPS.items():
        for mode in MODES:
            environ = {
                "MONGO_URL": mongo_server_url,
                "REDIS_URL": redis_server.url,
                "MONGO_DB_PREFIX": f"{database_prefix}{mode.name}_",
                **NO_RATE_LIMITS,
                **mode.environ,
            }
            built[(service, mode.name)] = create_app(Settings.from_env(service, environ))
    yield built
    for app in built.values():
        app.extensions["connective"].dependencies.runtime.mongo.close()


def endpoints(app: Flask) -> list[tuple[str, str]]:
    """Return every documented (METHOD, path) of the app but the operations' endpoints, parameters filled in."""
    filled = []
    for method, template in sorted(documented_operations(app.test_client())):
        path = template
        for name in re.findall(r"{(\w+)}", template):
            value = PARAMETERS.get(name) or (OBJECT_ID if name.endswith("_id") else None)
            assert value is not None, f"no value to fill {{{name}}} of {method} {template} with"
            path = path.replace(f"{{{name}}}", value)
        filled.append((method, path))
    return filled


def call(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    """Send a request as a front-end would: a write with a JSON body (empty), a read without one."""
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return client.open(path, method=method, headers=headers, json=body, buffered=False)


def leaks(body: str, credentials: str) -> list[str]:
    """Return what a refusal's body gives away: the library's or Python's words, or any part of the token."""
    lowered = body.lower()
    found = [word for word in LEAKED_WORDS if word in lowered]
    parts = {credentials, *re.split(r"[\s.]", credentials)}
    found += [f"token part {part[:12]}..." for part in parts if len(part) >= 8 and part in body]
    return found


def check_refusal(response: Any, detail: str, credentials: str) -> list[str]:
    """Return what is wrong with a 401 refusal: status, media type, challenge, detail, and any leak."""
    if response.status_code != 401:
        # Never read a stream that was let through: it would run for its whole life.
        shown = "" if response.is_streamed else response.get_data(as_text=True)[:200]
        response.close()
        return [f"answered {response.status_code}: {shown}"]
    problems = []
    body = response.get_data(as_text=True)
    if response.mimetype != "application/problem+json":
        problems.append(f"media type {response.mimetype}")
    if not response.headers.get("WWW-Authenticate", "").startswith("Bearer "):
        problems.append(f"WWW-Authenticate {response.headers.get('WWW-Authenticate')!r}")
    document = response.get_json(silent=True) or {}
    if (document.get("status"), document.get("detail")) != (401, detail):
        problems.append(f"document {document}")
    problems += [f"leaks {leak}" for leak in leaks(body, credentials)]
    return problems


@pytest.mark.parametrize(("service", "mode", "case"), _applicable())
def test_a_bad_token_is_refused_by_every_endpoint_with_a_fixed_401_that_changes_nothing(
    apps: Apps, service: str, mode: Mode, case: TokenCase
) -> None:
    app = apps[(service, mode.name)]
    client = app.test_client()
    headers = case.headers(mode)
    assert headers is not None
    credentials = headers.get("Authorization", "")
    before = snapshot(app)
    failures = {}
    for method, path in endpoints(app):
        problems = check_refusal(call(client, method, path, headers), case.detail, credentials)
        if problems:
            failures[f"{method} {path}"] = problems
    assert not failures, f"{case.name} ({mode.name}): {json.dumps(failures, indent=1)}"
    assert snapshot(app) == before


@pytest.mark.parametrize("mode", MODES, ids=[mode.name for mode in MODES])
@pytest.mark.parametrize("service", APPS)
def test_a_valid_token_of_the_mode_is_accepted_by_every_endpoint(apps: Apps, service: str, mode: Mode) -> None:
    """The control: the same endpoints, called the same way with a valid token, are not refused as unauthorized."""
    app = apps[(service, mode.name)]
    client = app.test_client()
    headers = _bearer(mode.valid())
    answered = {}
    for method, path in endpoints(app):
        response = call(client, method, path, headers)
        answered[f"{method} {path}"] = response.status_code
        response.close()
    assert answered
    assert not {endpoint: status for endpoint, status in answered.items() if status in (401, 500)}


CLASSROOM_PATHS = ("/leaderboards/global/view", "/leaderboards/global/stream")


@pytest.mark.parametrize("mode", MODES, ids=[mode.name for mode in MODES])
def test_a_bad_token_in_the_classroom_screens_query_is_refused_the_same_way(apps: Apps, mode: Mode) -> None:
    """The screen and its stream take their token in the URL: every bad one answers the same fixed 401."""
    app = apps[("leaderboards", mode.name)]
    client = app.test_client()
    failures = {}
    for case in TOKEN_CASES:
        headers = case.headers(mode)
        credentials = (headers or {}).get("Authorization", "").partition(" ")[2]
        if headers is None or case.detail == MISSING or credentials.count(".") != 2:
            continue  # no token, or a flaw of the header only: nothing to put in a URL
        for path in CLASSROOM_PATHS:
            response = client.get(path, query_string={"token": credentials})
            problems = check_refusal(response, case.detail, credentials)
            if problems:
                failures[f"{case.name}: {path}"] = problems
    for path in CLASSROOM_PATHS:
        unknown = "an-unknown-view-token-of-32-chars"
        problems = check_refusal(
            client.get(path, query_string={"token": unknown}),
            "This token does not open this board's screen, or it has expired",
            unknown,
        )
        if problems:
            failures[f"an unknown view token: {path}"] = problems
    assert not failures, json.dumps(failures, indent=1)
    assert client.get(CLASSROOM_PATHS[0], query_string={"token": mode.valid()}).status_code == 200


def test_every_case_is_tried_in_some_mode_and_the_public_key_mode_tries_them_all() -> None:
    assert all(case.headers(PUBLIC_KEY_MODE) is not None for case in TOKEN_CASES)
    assert len({case.name for case in TOKEN_CASES}) == len(TOKEN_CASES)


def test_the_leak_check_finds_the_library_an_exception_and_the_token() -> None:
    """The check the matrix relies on (beside the exact detail): each of these bodies would fail a refusal."""
    token = PUBLIC_KEY_MODE.valid()
    assert leaks('{"detail": "The token has expired"}', f"Bearer {token}") == []
    assert leaks('{"detail": "The token is not valid: DecodeError"}', token)
    assert leaks('{"detail": "PyJWT says no"}', token)
    assert leaks('{"detail": "Traceback (most recent call last)"}', token)
    assert leaks('{"detail": "KeyError: sub"}', token)
    assert leaks(f'{{"detail": "bad header {token.split(".")[0]}"}}', f"Bearer {token}")
