"""TokenVerifier, mint_token and the dev `token` command: Connective's claims, and nothing forged gets in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask import Flask
from structlog.testing import capture_logs

from shared import cli
from shared.auth import TokenVerifier, authenticate, mint_token
from shared.errors import Problem
from shared.settings import Settings
from tests.factories import rsa_key_pair

SECRET = "development-secret-long-enough-for-hs256"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "service": "challenges",
        "mongo_url": "mongomock://localhost/",
        "redis_url": "redis://localhost:6379/0",
        "jwt_secret": SECRET,
    }
    values.update(overrides)
    return Settings(**values)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_made_token(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """Build a JWT without PyJWT's safety checks, as an attacker would."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def future() -> int:
    return int((datetime.now(UTC) + timedelta(hours=1)).timestamp())


def signed(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    """Return (private PEM, public PEM)."""
    return rsa_key_pair()


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(make_settings())


def assert_unauthorized(verifier: TokenVerifier, token: str, detail_part: str = "") -> Problem:
    with pytest.raises(Problem) as raised:
        verifier.verify(token)
    assert raised.value.status == 401
    assert "Bearer" in raised.value.headers["WWW-Authenticate"]
    assert detail_part in raised.value.detail
    return raised.value


def test_valid_hs256_token_yields_principal_with_roles_and_cohorts(verifier: TokenVerifier) -> None:
    token = mint_token(SECRET, "alice", ["teacher", "learner"], cohorts=["c1", "c2"])
    principal = verifier.verify(token)
    assert principal.user_id == "alice"
    assert principal.roles == frozenset({"teacher", "learner"})
    assert principal.cohorts == ("c1", "c2")
    assert principal.is_staff
    assert not principal.is_admin


def test_token_without_cohorts_yields_no_cohorts(verifier: TokenVerifier) -> None:
    principal = verifier.verify(mint_token(SECRET, "bob", ["learner"]))
    assert principal.cohorts == ()
    assert not principal.is_staff


def test_expired_token_is_refused_with_401(verifier: TokenVerifier) -> None:
    token = mint_token(SECRET, "alice", ["learner"], lifetime=timedelta(minutes=-5))
    assert_unauthorized(verifier, token, "expired")


def test_token_expired_within_clock_skew_is_still_accepted(verifier: TokenVerifier) -> None:
    token = mint_token(SECRET, "alice", ["learner"], lifetime=timedelta(seconds=-5))
    assert verifier.verify(token).user_id == "alice"


def test_a_verified_token_is_refused_once_it_expires_although_its_check_was_remembered(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = mint_token(SECRET, "alice", ["learner"], lifetime=timedelta(minutes=1))
    assert verifier.verify(token).user_id == "alice"
    assert verifier.verify(token).user_id == "alice"  # remembered
    later = datetime.now(UTC) + timedelta(minutes=2)
    monkeypatch.setattr("shared.auth.time.time", later.timestamp)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(later))
    assert_unauthorized(verifier, token, "expired")


class _FrozenDatetime:
    """Stands in for the datetime module PyJWT reads the time from."""

    def __init__(self, moment: datetime) -> None:
        self._moment = moment

    def now(self, tz: object = None) -> datetime:
        return self._moment


def test_token_signed_with_another_secret_is_refused(verifier: TokenVerifier) -> None:
    token = mint_token("some-other-secret-of-sufficient-length", "alice", ["admin"])
    assert_unauthorized(verifier, token, "not valid")


def test_garbage_token_is_refused(verifier: TokenVerifier) -> None:
    assert_unauthorized(verifier, "not.a.jwt")


@pytest.mark.parametrize("missing", ["sub", "exp"])
def test_token_missing_a_required_claim_is_refused(verifier: TokenVerifier, missing: str) -> None:
    claims: dict[str, Any] = {"sub": "alice", "exp": future(), "roles": ["learner"]}
    del claims[missing]
    assert_unauthorized(verifier, signed(claims))


def test_token_without_roles_is_refused(verifier: TokenVerifier) -> None:
    assert_unauthorized(verifier, signed({"sub": "alice", "exp": future()}), "roles")


@pytest.mark.parametrize("roles", ["teacher", {"teacher": True}, ["teacher", 7], [""]])
def test_roles_claim_that_is_not_a_list_of_strings_is_refused(verifier: TokenVerifier, roles: object) -> None:
    assert_unauthorized(verifier, signed({"sub": "alice", "exp": future(), "roles": roles}), "roles")


def test_unknown_role_is_refused_without_repeating_it(verifier: TokenVerifier) -> None:
    token = signed({"sub": "alice", "exp": future(), "roles": ["learner", "superuser"]})
    problem = assert_unauthorized(verifier, token, "role that is not known")
    assert "superuser" not in problem.detail


def test_a_token_naming_no_role_is_refused(verifier: TokenVerifier) -> None:
    assert_unauthorized(verifier, signed({"sub": "alice", "exp": future(), "roles": []}), "no role")


def test_cohorts_claim_that_is_not_a_list_is_refused(verifier: TokenVerifier) -> None:
    token = signed({"sub": "alice", "exp": future(), "roles": ["learner"], "cohorts": "c1"})
    assert_unauthorized(verifier, token, "cohorts")


def test_alg_none_token_is_refused(verifier: TokenVerifier) -> None:
    token = hand_made_token(
        {"alg": "none", "typ": "JWT"}, {"sub": "mallory", "exp": future(), "roles": ["admin"]}, key=None
    )
    assert_unauthorized(verifier, token)


def test_rs256_token_is_accepted_with_the_public_key(rsa_keys: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_keys
    verifier = TokenVerifier(make_settings(jwt_secret=None, jwt_public_key=public_pem, jwt_algorithms=("RS256",)))
    principal = verifier.verify(mint_token(private_pem, "alice", ["teacher"], algorithm="RS256"))
    assert principal.user_id == "alice"
    assert principal.roles == frozenset({"teacher"})


def test_hs256_token_signed_with_the_public_key_is_refused(rsa_keys: tuple[str, str]) -> None:
    _, public_pem = rsa_keys
    verifier = TokenVerifier(
        make_settings(jwt_secret=None, jwt_public_key=public_pem, jwt_algorithms=("RS256", "EdDSA"))
    )
    forged = hand_made_token(
        {"alg": "HS256", "typ": "JWT"},
        {"sub": "mallory", "exp": future(), "roles": ["admin"]},
        key=public_pem.encode(),
    )
    assert_unauthorized(verifier, forged)


def test_hs256_token_with_the_dev_secret_is_refused_in_public_key_mode(rsa_keys: tuple[str, str]) -> None:
    _, public_pem = rsa_keys
    verifier = TokenVerifier(make_settings(jwt_secret=None, jwt_public_key=public_pem, jwt_algorithms=("RS256",)))
    assert_unauthorized(verifier, mint_token(SECRET, "mallory", ["admin"]))


def test_token_in_an_allowed_algorithm_not_matching_the_key_type_is_refused(rsa_keys: tuple[str, str]) -> None:
    _, public_pem = rsa_keys
    verifier = TokenVerifier(
        make_settings(jwt_secret=None, jwt_public_key=public_pem, jwt_algorithms=("RS256", "EdDSA"))
    )
    token = jwt.encode(
        {"sub": "mallory", "exp": future(), "roles": ["admin"]},
        ed25519.Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
    )
    assert_unauthorized(verifier, token)


def test_issuer_is_enforced_when_configured() -> None:
    verifier = TokenVerifier(make_settings(jwt_issuer="https://idp.example"))
    assert verifier.verify(mint_token(SECRET, "alice", ["learner"], issuer="https://idp.example")).user_id == "alice"
    assert_unauthorized(verifier, mint_token(SECRET, "alice", ["learner"], issuer="https://evil.example"))
    assert_unauthorized(verifier, mint_token(SECRET, "alice", ["learner"]))


def test_audience_is_enforced_when_configured() -> None:
    verifier = TokenVerifier(make_settings(jwt_audience="connective"))
    assert verifier.verify(mint_token(SECRET, "alice", ["learner"], audience="connective")).user_id == "alice"
    assert_unauthorized(verifier, mint_token(SECRET, "alice", ["learner"], audience="another-app"))
    assert_unauthorized(verifier, mint_token(SECRET, "alice", ["learner"]))


def test_audience_is_not_required_when_not_configured(verifier: TokenVerifier) -> None:
    assert verifier.verify(mint_token(SECRET, "alice", ["learner"], audience="anything")).user_id == "alice"


def test_verifier_needs_a_secret_or_a_public_key() -> None:
    with pytest.raises(ValueError, match="secret or public key"):
        TokenVerifier(make_settings(jwt_secret=None))


def now_seconds() -> int:
    return int(datetime.now(UTC).timestamp())


def raw_segment(value: object) -> str:
    return b64url(json.dumps(value).encode())


def signed_raw(header: dict[str, Any], payload: bytes, secret: str = SECRET) -> str:
    """Sign any payload bytes with the secret, as a careless (or hostile) issuer holding the key could."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


HS256 = {"alg": "HS256", "typ": "JWT"}
GOOD = {"sub": "alice", "roles": ["learner"]}


def _hostile_tokens() -> dict[str, str]:
    """Tokens each refused for its own reason, with the detail the caller must get (one of REFUSALS' sentences)."""
    exp = now_seconds() + 3600
    return {
        "The token has expired": signed({**GOOD, "exp": now_seconds() - 120}),
        "The token is not valid yet": signed({**GOOD, "exp": exp, "nbf": now_seconds() + 120}),
        "The token's signature is not valid": signed({**GOOD, "exp": exp}, "another-secret-of-sufficient-length"),
        "The token's algorithm is not accepted": hand_made_token({"alg": "none"}, {**GOOD, "exp": exp}, key=None),
        "A required claim is missing: exp": signed(dict(GOOD)),
        "A required claim is missing: sub": signed({"roles": ["learner"], "exp": exp}),
        "A required claim is missing: roles": signed({"sub": "alice", "exp": exp}),
        "The token's sub claim must be a user id": signed({**GOOD, "sub": 42, "exp": exp}),
        "The token's roles claim must be a list of strings": signed({**GOOD, "roles": "admin", "exp": exp}),
        "The token's cohorts claim must be a list of strings": signed({**GOOD, "cohorts": {"7a": 1}, "exp": exp}),
        "The token's iat claim must be a time in seconds": signed({**GOOD, "exp": exp, "iat": "yesterday"}),
        "The token's jti claim must be a string": signed({**GOOD, "exp": exp, "jti": 7}),
        "The token is malformed": "not.a.jwt",
        "The token is not valid": hand_made_token(
            {**HS256, "crit": ["x-attacker-chosen-extension"]}, {**GOOD, "exp": exp}, key=SECRET.encode()
        ),
    }


# Built again in each test: a token made at collection would drift out of its window (nbf, exp) on a long run.
HOSTILE_DETAILS = sorted(_hostile_tokens())
# Words of the library and of Python that must never reach a caller.
LEAKS = ("jwt", "pyjwt", "traceback", "error", "exception", "signature has expired", "segments", "padding")


@pytest.mark.parametrize("detail", HOSTILE_DETAILS)
def test_each_refusal_answers_its_fixed_sentence_and_nothing_of_the_library(
    verifier: TokenVerifier, detail: str
) -> None:
    token = _hostile_tokens()[detail]
    problem = assert_unauthorized(verifier, token)
    assert problem.detail == detail
    answered = json.dumps(problem.to_dict()).lower()
    assert not [word for word in LEAKS if word in answered]
    assert not [part for part in token.split(".") if len(part) >= 8 and part.lower() in answered]


MANGLED_PAYLOADS = (
    b"[1, 2, 3]",
    b"not json at all",
    b'{"sub": "alice", "roles": ["learner"], "exp": [1]}',
    b'{"sub": "alice", "roles": ["learner"], "exp": "soon"}',
    b'{"sub": "alice", "roles": ["learner"], "exp": 1e400}',
    b'{"sub": "alice", "roles": ["learner"], "exp": 4102444800, "nbf": {"a": 1}}',
    b'{"sub": "alice", "roles": ["learner"], "exp": 4102444800, "iat": 1e400}',
    b'{"sub": "alice", "roles": [["learner"]], "exp": 4102444800}',
    b'{"sub": "alice", "roles": ["learner"], "exp": 4102444800, "cohorts": [""]}',
    b'{"sub": "", "roles": ["learner"], "exp": 4102444800}',
    b'{"sub": "alice", "roles": ["learner"], "exp": null}',
)


@pytest.mark.parametrize("payload", MANGLED_PAYLOADS)
def test_a_signed_token_with_mangled_claims_answers_a_fixed_401(verifier: TokenVerifier, payload: bytes) -> None:
    """What a careless issuer signs is refused with one of the fixed sentences, never a 500 or the library's text."""
    problem = assert_unauthorized(verifier, signed_raw(HS256, payload))
    assert "error" not in problem.detail.lower()
    assert "jwt" not in problem.detail.lower()


@pytest.mark.parametrize(
    "header",
    [{"alg": ["HS256"]}, {"alg": {"HS256": True}}, {"alg": "HS256", "kid": 7}, {"alg": "HS256", "crit": "b64"}],
)
def test_a_token_with_a_mangled_header_answers_a_fixed_401(verifier: TokenVerifier, header: dict[str, Any]) -> None:
    token = f"{raw_segment(header)}.{raw_segment({**GOOD, 'exp': future()})}.c2ln"
    assert_unauthorized(verifier, token)


def test_a_far_off_expiry_is_accepted_and_remembered_without_overflowing(verifier: TokenVerifier) -> None:
    token = signed_raw(HS256, json.dumps({**GOOD, "exp": 10**400}).encode())
    assert verifier.verify(token).user_id == "alice"
    assert verifier.verify(token).user_id == "alice"


def test_a_token_not_valid_yet_within_the_skew_is_accepted() -> None:
    verifier = TokenVerifier(make_settings())
    assert verifier.verify(signed({**GOOD, "exp": future(), "nbf": now_seconds() + 5})).user_id == "alice"


def test_a_remembered_token_is_refused_when_the_clock_is_set_back_before_its_nbf(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache holds a token to the same nbf bound as a fresh check: a clock stepped back finds it not valid yet."""
    token = signed({**GOOD, "exp": future(), "nbf": now_seconds() + 5})
    assert verifier.verify(token).user_id == "alice"
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    monkeypatch.setattr("shared.auth.time.time", earlier.timestamp)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(earlier))
    assert_unauthorized(verifier, token, "not valid yet")


def test_a_refused_token_is_not_remembered(verifier: TokenVerifier) -> None:
    token = signed({**GOOD, "exp": future(), "nbf": now_seconds() + 120})
    assert_unauthorized(verifier, token, "not valid yet")
    assert_unauthorized(verifier, token, "not valid yet")


def test_a_refusal_is_logged_with_the_librarys_reason_and_without_the_token(verifier: TokenVerifier) -> None:
    token = mint_token("another-secret-of-sufficient-length", "mallory", ["admin"])
    with capture_logs() as logs:
        assert_unauthorized(verifier, token)
    (line,) = [entry for entry in logs if entry["event"] == "token_refused"]
    assert line["log_level"] == "info"
    assert line["library_error"] == "InvalidSignatureError"
    assert line["library_reason"]
    logged = json.dumps(logs, default=str)
    assert not [part for part in token.split(".") if part in logged]


def test_what_a_token_holds_is_logged_as_the_library_names_it_and_never_answered(verifier: TokenVerifier) -> None:
    extension = "x-named-by-the-library"
    token = hand_made_token({**HS256, "crit": [extension]}, {**GOOD, "exp": future()}, key=SECRET.encode())
    with capture_logs() as logs:
        problem = assert_unauthorized(verifier, token)
    (line,) = [entry for entry in logs if entry["event"] == "token_refused"]
    assert extension in line["library_reason"]
    assert extension not in problem.detail


def test_a_library_reason_quoting_the_token_is_logged_without_it(
    verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = mint_token(SECRET, "alice", ["learner"])

    def quoting(raw: str, *args: object, **kwargs: object) -> dict[str, Any]:
        raise jwt.DecodeError(f"could not read {raw}")

    monkeypatch.setattr(jwt, "decode", quoting)
    with capture_logs() as logs:
        assert_unauthorized(verifier, token, "malformed")
    logged = json.dumps(logs, default=str)
    assert "could not read" in logged
    assert not [part for part in token.split(".") if part in logged]


def test_a_requests_token_is_checked_and_its_refusal_logged_once_however_often_it_is_asked_for(
    verifier: TokenVerifier,
) -> None:
    """A hook (rate limits) and the view both authenticate: one check, one log line, the same 401 each time."""
    app = Flask(__name__)
    app.extensions["connective"] = SimpleNamespace(verifier=verifier)
    token = mint_token("another-secret-of-sufficient-length", "mallory", ["admin"])
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}), capture_logs() as logs:
        refusals = []
        for _ in range(3):
            with pytest.raises(Problem) as raised:
                authenticate()
            refusals.append(raised.value)
    assert {problem.detail for problem in refusals} == {"The token's signature is not valid"}
    assert [entry["event"] for entry in logs] == ["token_refused"]


def test_a_valid_token_is_authenticated_once_per_request(verifier: TokenVerifier) -> None:
    app = Flask(__name__)
    app.extensions["connective"] = SimpleNamespace(verifier=verifier)
    with app.test_request_context(headers={"Authorization": f"Bearer {mint_token(SECRET, 'alice', ['learner'])}"}):
        assert authenticate() is authenticate()


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.delenv("JWT_ISSUER", raising=False)
    monkeypatch.delenv("JWT_AUDIENCE", raising=False)


@pytest.mark.usefixtures("cli_environment")
def test_token_command_prints_a_token_the_services_accept(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["token", "--user", "alice", "--role", "teacher,learner", "--cohorts", "c1,c2"])
    assert status == 0
    principal = TokenVerifier(make_settings()).verify(capsys.readouterr().out.strip())
    assert principal.user_id == "alice"
    assert principal.roles == frozenset({"teacher", "learner"})
    assert principal.cohorts == ("c1", "c2")


@pytest.mark.usefixtures("cli_environment")
def test_token_command_defaults_to_the_learner_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--user", "bob"]) == 0
    assert TokenVerifier(make_settings()).verify(capsys.readouterr().out.strip()).roles == frozenset({"learner"})


def test_token_command_exits_2_without_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    assert cli.main(["token", "--user", "alice"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "JWT_SECRET" in captured.err


@pytest.mark.usefixtures("cli_environment")
def test_token_command_exits_2_with_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--user", "alice", "--role", "wizard"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "wizard" in captured.err
