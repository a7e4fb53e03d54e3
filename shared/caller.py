"""Who sent the current request, for the hooks that run before any view (rate limits, idempotency records).

Such a hook keys something by the caller but must not refuse the request itself: a request without a valid
token is the view's to answer with 401, as it would without the hook.
"""

from __future__ import annotations

from shared.auth import Principal, authenticate
from shared.errors import Problem


def current_caller() -> Principal | None:
    """Return the caller of this request, or None without a valid bearer token (never raising).

    `authenticate` checks a request's token once and remembers its principal or its refusal, so hooks
    and the view may all ask without checking (or logging) the token again.
    """
    try:
        return authenticate()
    except Problem:
        return None
