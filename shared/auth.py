"""Bearer-token authentication (the claims of docs/architecture.md, Tokens) and role checks for views."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

__all__ = ["Principal", "TokenVerifier", "authenticate", "mint_token", "requires"]

import jwt
from flask import current_app, g, request

from shared.contracts.auth import ROLES, Principal
from shared.errors import Problem
from shared.settings import Settings

CLOCK_SKEW_SECONDS = 30
MAX_CLAIM_ITEMS = 100

View = TypeVar("View", bound=Callable[..., Any])


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="connective"'})


def _string_list(claims: dict[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
    value = claims.get(name)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or len(value) > MAX_CLAIM_ITEMS:
        raise _unauthorized(f"The token's {name} claim must be a list of strings")
    if not all(isinstance(item, str) and 0 < len(item) <= 128 for item in value):
        raise _unauthorized(f"The token's {name} claim must be a list of strings")
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
        self._verified: dict[str, tuple[Principal, float, float]] = {}

    # Tokens verified already, with the moments they are good from and until: a front-end sends the same
    # token with every request, and checking a signature costs more than the rest of a board read.
    CACHE_SIZE = 4096

    def _cached(self, token: str) -> Principal | None:
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
        self._verified[token] = (principal, float(claims.get("nbf", 0)), float(claims["exp"]))
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
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The token has expired") from None
        except jwt.PyJWTError as error:  # includes InvalidKeyError: a token for another key type
            raise _unauthorized(f"The token is not valid: {error}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 128:
            raise _unauthorized("The token's sub claim must be a user id")
        roles = _string_list(claims, "roles", required=True)
        unknown = sorted(set(roles) - ROLES)
        if unknown:
            raise _unauthorized(f"The token names unknown roles: {', '.join(unknown)}")
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
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("A bearer token is required (Authorization: Bearer <JWT>)")
    verifier: TokenVerifier = current_app.extensions["connective"].verifier
    principal = verifier.verify(token.strip())
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
