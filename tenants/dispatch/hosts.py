"""Reading the ``Host`` header: canonical form, well-formedness, and where it points.

A Host is attacker-controlled text. It is canonicalized (lower-case, port and one
trailing dot dropped) and accepted only if it is a well-formed DNS name or a bracketed
IPv6 literal; then it is placed relative to the platform's base domain on a label
boundary, so ``acmeexample.com`` is not under ``example.com``. Once placed, a request
is given the platform's public address for that place (``PublicOrigin``), never the
client's spelling of it.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_IPV6 = re.compile(r"^\[[0-9a-f:.]{2,45}\]$")
# The common case in one match: an already-canonical name, with an optional port.
_CANONICAL = re.compile(
    r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
    r"(?::([0-9]{1,5}))?"
)


class BadHost(ValueError):
    """The Host header is missing or malformed; the message says what is wrong."""


class Place(Enum):
    PLATFORM = "platform"  # the bare base domain
    TENANT = "tenant"  # exactly one label below the base domain
    ELSEWHERE = "elsewhere"  # well-formed, but not a name this platform answers for


class Destination(NamedTuple):
    place: Place
    slug: str | None = None


def canonical_host(raw: str | None) -> tuple[str, str | None]:
    """Split ``raw`` into a canonical host name and its port; raise BadHost if malformed."""
    if not raw:
        raise BadHost("The request has no Host header.")
    if len(raw) <= 253 and (match := _CANONICAL.fullmatch(raw)):
        return match.group(1), match.group(2)
    if len(raw) > 260:
        raise BadHost("The Host header is too long.")
    host = raw.lower()
    port: str | None = None
    if host.startswith("["):
        literal, _, rest = host.partition("]")
        host = literal + "]"
        if rest:
            if not rest.startswith(":") or not _PORT.match(rest[1:]):
                raise BadHost("The Host header has a malformed port.")
            port = rest[1:]
        if not _IPV6.match(host):
            raise BadHost("The Host header is not a valid IPv6 literal.")
        return host, port
    if ":" in host:
        host, _, port = host.partition(":")
        if not _PORT.match(port):
            raise BadHost("The Host header has a malformed port.")
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253:
        raise BadHost("The Host header names no valid host.")
    for label in host.split("."):
        if not _LABEL.match(label):
            raise BadHost("The Host header is not a valid host name.")
    return host, port


def locate(host: str, base_domain: str) -> Destination:
    """Where a canonical ``host`` points relative to ``base_domain``."""
    if host == base_domain:
        return Destination(Place.PLATFORM)
    if host.endswith(base_domain) and host[-len(base_domain) - 1] == ".":
        subdomain = host[: -len(base_domain) - 1]
        if "." not in subdomain:
            return Destination(Place.TENANT, subdomain)
    return Destination(Place.ELSEWHERE)


class PublicOrigin:
    """How browsers reach the platform: the scheme and port of its absolute URLs."""

    def __init__(self, scheme: str = "http", port: str = "") -> None:
        if scheme not in {"http", "https"}:
            raise ValueError(f"public scheme {scheme!r} is not http or https")
        self.scheme = scheme
        self.port = port or ("443" if scheme == "https" else "80")
        self.suffix = f":{port}" if port else ""

    def apply(self, environ: WSGIEnvironment, host: str) -> None:
        """Make ``environ`` address ``host`` at the public scheme and port."""
        environ["HTTP_HOST"] = host + self.suffix
        environ["SERVER_NAME"] = host
        environ["SERVER_PORT"] = self.port
        environ["wsgi.url_scheme"] = self.scheme
