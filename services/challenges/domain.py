"""Pure rules of the challenges service: challenges' life cycle and the knowledge commons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit


class DomainError(Exception):
    """A rule was broken; the message says which, in words a user understands."""


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it exists."""


class Forbidden(DomainError):
    """The caller lacks the role or ownership the action needs."""


class InvalidState(DomainError):
    """The action does not fit the object's current state."""


class DuplicateResource(DomainError):
    """A resource with the same canonical URL exists already."""

    def __init__(self, existing_id: str) -> None:
        super().__init__("This page has been shared already: endorse it or propose an update to it instead")
        self.existing_id = existing_id


class ChallengeStatus(StrEnum):
    """Where a challenge is in its life."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    ARCHIVED = "archived"


class ChallengeKind(StrEnum):
    """What learners do in a challenge."""

    SUBMISSION = "submission"
    RESOURCE = "resource"
    KNOWLEDGE = "knowledge"


@dataclass(frozen=True)
class Criterion:
    """One line of a rubric."""

    criterion: str
    max_score: int
    description: str = ""


@dataclass(frozen=True)
class ReviewSettings:
    """How peer review runs for a challenge."""

    reviewers_per_submission: int = 3
    due_hours: int = 72
    blind: bool = True


@dataclass(frozen=True)
class Challenge:
    """A teacher's challenge."""

    id: str
    owner_id: str
    title: str
    description: str
    created_at: datetime
    updated_at: datetime
    kind: ChallengeKind = ChallengeKind.SUBMISSION
    tags: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    points: int = 100
    rubric: tuple[Criterion, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    review: ReviewSettings = field(default_factory=ReviewSettings)
    status: ChallengeStatus = ChallengeStatus.DRAFT
    published_at: datetime | None = None

    def is_open_to(self, cohorts: tuple[str, ...]) -> bool:
        """Return whether a learner of these cohorts may take part (no cohorts: open to all)."""
        return not self.cohorts or bool(set(self.cohorts).intersection(cohorts))


def check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    """Refuse a window that ends before it starts."""
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidState("ends_at must be after starts_at")


def publish(challenge: Challenge, now: datetime) -> Challenge:
    """Publish a draft challenge."""
    if challenge.status != ChallengeStatus.DRAFT:
        raise InvalidState(f"Only a draft can be published; this challenge is {challenge.status}")
    if challenge.ends_at and challenge.ends_at <= now:
        raise InvalidState("This challenge's ends_at has passed; move it before publishing")
    return replace(challenge, status=ChallengeStatus.PUBLISHED, published_at=now, updated_at=now)


def may_manage(challenge: Challenge, user_id: str, is_admin: bool) -> bool:
    """Return whether the user may change this challenge (its teacher, or an admin)."""
    return is_admin or challenge.owner_id == user_id


def may_see(challenge: Challenge, user_id: str, cohorts: tuple[str, ...], is_staff: bool) -> bool:
    """Return whether the user may see this challenge; learners see only published ones open to them."""
    if is_staff or challenge.owner_id == user_id:
        return True
    return challenge.status != ChallengeStatus.DRAFT and challenge.is_open_to(cohorts)


@dataclass(frozen=True)
class Resource:
    """A shared learning resource in the knowledge commons."""

    id: str
    owner_id: str
    url: str
    canonical_url: str
    title: str
    created_at: datetime
    summary: str = ""
    tags: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    challenge_id: str | None = None
    endorsement_count: int = 0
    status: str = "active"


# Query parameters that identify a campaign or a click, never the page itself.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "_gl",
        "ref_src",
        "si",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED_PATH = "/:@!$&'()*+,;=-._~"


class InvalidUrl(DomainError):
    """The text is not an absolute http(s) URL."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMETERS


def canonicalize_url(url: str) -> str:
    """Return the form two links to the same page share (scheme/host case, ports, tracking, slashes)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidUrl(f"Not a valid URL: {url!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidUrl("A resource URL must be an absolute http or https URL")
    host = parts.hostname.lower().rstrip(".")
    while host.startswith("www."):
        host = host[4:]
    if not host.strip("."):
        raise InvalidUrl("A resource URL must name a host")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    # The same page over http and https is the same resource.
    scheme = "https"
    path = quote(unquote(parts.path), safe=_UNRESERVED_PATH)
    path = re.sub(r"/{2,}", "/", path).rstrip("/")
    stripped = True
    while stripped:
        stripped = False
        for index_page in ("/index.html", "/index.htm", "/index.php"):
            if path.endswith(index_page):
                path = path[: -len(index_page)].rstrip("/")
                stripped = True
    query_pairs = [
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(name)
    ]
    query = urlencode(sorted(query_pairs), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


@dataclass(frozen=True)
class ChallengeQuery:
    """Which challenges a listing shows."""

    statuses: tuple[ChallengeStatus, ...] | None = None
    tag: str | None = None
    owner_id: str | None = None
    # None: every audience; a tuple: challenges open to all or to one of these cohorts.
    open_to_cohorts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ResourceQuery:
    """Which resources a listing shows."""

    tag: str | None = None
    owner_id: str | None = None
    challenge_id: str | None = None
