"""Errors the rules raise; the app turns each into a problem+json answer."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken; the message says which, in words a user understands.

    Keyword details (e.g. `existing_id`) are added to the problem document the client receives.
    """

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.details = details


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it exists."""


class Forbidden(DomainError):
    """The caller lacks the role or ownership the action needs."""


class InvalidState(DomainError):
    """The action does not fit the object's current state."""


class DuplicateResource(InvalidState):
    """A resource with the same canonical URL exists already."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(
            "This page has been shared already: endorse it or propose an update to it instead",
            existing_id=existing_id,
        )
        self.existing_id = existing_id


class InvalidField(DomainError):
    """A field's value breaks a rule that needs stored state to check (answered 422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidUrl(InvalidField):
    """The text is not an absolute http(s) URL."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(field, message)


class TooLarge(DomainError):
    """The stored object would grow past its limit (answered 413)."""
