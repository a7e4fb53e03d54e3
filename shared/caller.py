"""Who sent the current request, for the hooks that run before any view (rate limits, idempotency records).

Such a hook keys something by the caller but must not refuse the request itself: a request without a valid
token is the view's to answer with 401, as it would without the hook.
"""

from __future__ import annotations

from flask import g

from shared.auth import Principal, authenticate
from shared.errors import Problem

# Set on `g` once this request's token was refused, so that every hook does not check (and log) it again.
_REFUSED = "connective_caller_refused"


def current_caller() -> Principal | None:
    """Return the caller of this request, or None without a valid bearer token (never raising)."""
    if g.get(_REFUSED):
        return None
    try:
        return authenticate()
    except Problem:
        setattr(g, _REFUSED, True)
        return None
