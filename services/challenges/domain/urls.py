"""Canonical URLs: two links to the same page share one form, so the same page is shared only once."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from services.challenges.domain.errors import InvalidUrl

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
