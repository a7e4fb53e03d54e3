"""TokenVerifier, mint_token and the dev `token` command: Connective's claims, and nothing forged gets in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from shared import cli
from shared.auth import TokenVerifier, mint_token
from shared.errors import Problem
from shared.settings import Settings

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
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


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


def test_unknown_role_is_refused_and_named(verifier: TokenVerifier) -> None:
    token = signed({"sub": "alice", "exp": future(), "roles": ["learner", "superuser"]})
    assert_unauthorized(verifier, token, "superuser")


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
