"""Token claims and roles shared by every service (docs/architecture.md, Tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Roles a token may carry."""

    LEARNER = "learner"
    TEACHER = "teacher"
    ADMIN = "admin"
    SERVICE = "service"


ROLES = frozenset(role.value for role in Role)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, roles and cohorts."""

    user_id: str
    roles: frozenset[str]
    cohorts: tuple[str, ...] = ()

    def has_any(self, *roles: str) -> bool:
        """Return whether the caller holds at least one of these roles."""
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        """Return whether the caller is an administrator."""
        return Role.ADMIN in self.roles

    @property
    def is_staff(self) -> bool:
        """Return whether the caller may act for others (teacher or admin)."""
        return self.has_any(Role.TEACHER, Role.ADMIN)
