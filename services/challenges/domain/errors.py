"""Errors the challenges service's rules raise: the shared families, and the conflicts of its own."""

from __future__ import annotations

from shared.domain import DomainError, Forbidden, InvalidField, InvalidState, NotFound, TooLarge

__all__ = [
    "DomainError",
    "DuplicateResource",
    "Forbidden",
    "InvalidField",
    "InvalidState",
    "InvalidUrl",
    "NotFound",
    "TooLarge",
]


class DuplicateResource(InvalidState):
    """A resource with the same canonical URL exists already."""

    kind = "duplicate-resource"

    def __init__(self, existing_id: str) -> None:
        super().__init__(
            "This page has been shared already: endorse it or propose an update to it instead",
            existing_id=existing_id,
        )
        self.existing_id = existing_id


class InvalidUrl(InvalidField):
    """The text is not an absolute http(s) URL."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(field, message)
