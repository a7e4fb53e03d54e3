"""Bearer-token authentication (the claims of docs/architecture.md, Tokens) and role checks for views.

A refused token answers 401 with one of a few fixed sentences (REFUSALS): what the library found wrong is
logged here, server-side, and never sent back, so a caller learns neither the verifier's internals nor
anything it could tune a forgery by, and no part of a token is ever echoed or logged.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

__all__ = ["Principal", "TokenVerifier", "authenticate", "mint_token", "requires", "unauthorized"]

import jwt
import structlog
from flask import current_app, g, request
from jwt import exceptions as jwt_errors

from shared.contracts.auth import ROLES, Principal
from shared.errors import Problem
from shared.settings import Settings

CLOCK_SKEW_SECONDS = 30
MAX_CLAIM_ITEMS = 100
# How much of the library's own account of a refusal a log line keeps.
MAX_LOGGED_REASON = 200

log = structlog.get_logger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

MISSING_CREDENTIALS = "A bearer token is required (Authorization: Bearer <token>)"
MALFORMED = "The token is malformed"
NOT_VALID = "The token is not valid"
# Claims whose absence the library reports by name; only these names are ever repeated to the caller.
REQUIRED_CLAIMS = frozenset({"exp", "sub", "iss", "aud"})

# What the caller is told for each of PyJWT's refusals, most specific first (InvalidSignatureError is a
# DecodeError, and every one is a PyJWTError): fixed sentences, never the library's text.
# fmt: off
REFUSALS: tuple[tuple[type[jwt_errors.PyJWTError], str], ...] = (
    (jwt_errors.ExpiredSignatureError,     "The token has expired"),
    (jwt_errors.ImmatureSignatureError,    "The token is not valid yet"),
    (jwt_errors.InvalidSignatureError,     "The token's signature is not valid"),
    (jwt_errors.InvalidAlgorithmError,     "The token's algorithm is not accepted"),
    # A token in an accepted algorithm for another type of key than the one configured.
    (jwt_errors.InvalidKeyError,           "The token's algorithm is not accepted"),
    (jwt_errors.InvalidIssuerError,        "The token's issuer is not accepted"),
    (jwt_errors.InvalidAudienceError,      "The token's audience is not accepted"),
    (jwt_errors.InvalidSubjectError,       "The token's sub claim must be a user id"),
    (jwt_errors.InvalidIssuedAtError,      "The token's iat claim must be a time in seconds"),
    (jwt_errors.InvalidJTIError,           "The token's jti claim must be a string"),
    (jwt_errors.DecodeError,               MALFORMED),
    (jwt_errors.PyJWTError,                NOT_VALID),
)
# fmt: on


def unauthorized(detail: str) -> Problem:
    """Return the 401 problem every refused credential answers, with the challenge RFC 9110 asks for."""
    return Problem(401, detail, kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="connective"'})


def _refusal(error: jwt_errors.PyJWTError) -> str:
    """Return the fixed sentence a library refusal answers."""
    if isinstance(error, jwt_errors.MissingRequiredClaimError):
        return f"A required claim is missing: {error.claim}" if error.claim in REQUIRED_CLAIMS else NOT_VALID
    return next(detail for kind, detail in REFUSALS if isinstance(error, kind))


def _scrubbed(text: str, token: str) -> str:
    """Return the library's reason, shortened, with any part of the token it might quote removed."""
    for part in {token, *token.split(".")}:
        if len(part) >= 8:
            text = text.replace(part, "<token>")
    return text[:MAX_LOGGED_REASON]


def _refuse(detail: str, **reason: Any) -> Problem:
    """Log why a token was refused (never the token) and return the 401 to raise."""
    log.info("token_refused", detail=detail, **reason)
    return unauthorized(detail)


def _string_list(claims: dict[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
    value = claims.get(name)
    if value is None:
        if required:
            raise _refuse(f"A required claim is missing: {name}")
        return ()
    if not isinstance(value, list) or len(value) > MAX_CLAIM_ITEMS:
        raise _refuse(f"The token's {name} claim must be a list of strings", claim_type=type(value).__name__)
    if not all(isinstance(item, str) and 0 < len(item) <= 128 for item in value):
        raise _refuse(f"The token's {name} claim must be a list of strings")
    return tuple(value)


class TokenVerifier:
    """Checks signatures and claims; HS256 with a secret in development, a public key in production."""

    def __init__(self, settings: Settings) -> None:
        self.key: str = settings.jwt_public_key or settings.jwt_secret or ""
        if not self.key:
            raise ValueError("a JWT secret or public key is required")
        self.algorithms = list(settings.jwt_algorithms)
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self._verified: dict[str, tuple[Principal, int, int]] = {}

    # Tokens verified already, with the moments they are good from and until: a front-end sends the same
    # token with every request, and checking a signature costs more than the rest of a board read.
    CACHE_SIZE = 4096

    def _cached(self, token: str) -> Principal | None:
        """Return a remembered principal while its token is still within its `nbf`..`exp` (with the skew).

        The bounds are PyJWT's own (valid from `nbf - skew`, expired from `exp + skew`), so a remembered
        token is refused from the same moment a fresh check would refuse it.
        """
        hit = self._verified.get(token)
        if hit is None:
            return None
        principal, not_before, expires = hit
        now = time.time()
        if not_before - CLOCK_SKEW_SECONDS <= now < expires + CLOCK_SKEW_SECONDS:
            return principal
        self._verified.pop(token, None)
        return None

    def verify(self, token: str) -> Principal:
        """Return the principal a valid token names; raise a 401 Problem otherwise."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        principal, claims = self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()
        # Whole seconds, as PyJWT compares them (int() of what it accepted; a float could overflow).
        self._verified[token] = (principal, int(claims.get("nbf", 0)), int(claims["exp"]))
        return principal

    def _verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        options = {"require": ["exp", "sub"], "verify_aud": self.audience is not None}
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options=options,  # type: ignore[arg-type]
            )
        except jwt_errors.PyJWTError as error:
            raise _refuse(
                _refusal(error), library_error=type(error).__name__, library_reason=_scrubbed(str(error), token)
            ) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 128:
            raise _refuse("The token's sub claim must be a user id")
        roles = _string_list(claims, "roles", required=True)
        if not roles:
            raise _refuse("The token names no role", user_id=subject)
        unknown = sorted(set(roles) - ROLES)
        if unknown:
            raise _refuse("The token names a role that is not known", user_id=subject, unknown_roles=unknown)
        cohorts = _string_list(claims, "cohorts", required=False)
        return Principal(user_id=subject, roles=frozenset(roles), cohorts=cohorts), claims


def mint_token(
    secret: str,
    user_id: str,
    roles: Iterable[str],
    *,
    cohorts: Iterable[str] = (),
    lifetime: timedelta = timedelta(hours=12),
    algorithm: str = "HS256",
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """Sign a token with Connective's claims (development and tests; production uses an identity provider)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user_id,
        "roles": list(roles),
        "iat": now,
        "exp": now + lifetime,
    }
    cohort_list = list(cohorts)
    if cohort_list:
        claims["cohorts"] = cohort_list
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=algorithm)


def authenticate() -> Principal:
    """Return the caller of this request, raising a 401 Problem without a valid bearer token."""
    cached = g.get("principal")
    if cached is not None:
        return cast(Principal, cached)
    # A request's token is checked (and a refusal logged) once, however many hooks and views ask.
    refused = g.get("token_refusal")
    if refused is not None:
        raise cast(Problem, refused)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    verifier: TokenVerifier = current_app.extensions["connective"].verifier
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(MISSING_CREDENTIALS)
        principal = verifier.verify(token.strip())
    except Problem as problem:
        g.token_refusal = problem
        raise
    g.principal = principal
    return principal


def requires(*roles: str) -> Callable[[View], View]:
    """Require a valid token and, if roles are named, at least one of them (403 otherwise)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if roles and not principal.has_any(*roles):
                raise Problem(403, f"This action needs one of these roles: {', '.join(roles)}", kind="forbidden")
            return view(*args, **kwargs)

        return cast(View, wrapper)

    return decorate
