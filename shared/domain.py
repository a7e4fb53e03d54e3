"""What every service's rules raise when they are broken: pure, so domain modules may import it.

Each error names a problem type (`kind`, the last segment of the problem's `type` URL); the HTTP edge turns
every error into problem+json by its family (`shared.errors.DOMAIN_STATUSES`): not found 404, forbidden
403, conflict 409, invalid field 422, too large 413, any other broken rule 422. A service refines a family
with a subclass that names its own kind, e.g. a duplicate resource is a conflict of kind
`duplicate-resource`; keyword details (`existing_id=...`) become members of the problem document.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule was broken; the message says which, in words a user understands."""

    kind: ClassVar[str] = "rule-violation"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.details = details


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it exists."""

    kind = "not-found"


class Forbidden(DomainError):
    """The caller lacks the role or ownership the action needs."""

    kind = "forbidden"


class InvalidState(DomainError):
    """The action conflicts with the object's current state (a duplicate, a wrong status, a lost race)."""

    kind = "invalid-state"


class InvalidField(DomainError):
    """A field's value breaks a rule that needs stored state to check (answered 422 naming the field)."""

    kind = "validation-error"

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class TooLarge(DomainError):
    """The stored object would grow past its limit."""

    kind = "too-large"
