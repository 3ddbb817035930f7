"""Which names a tenant may bring as a custom domain, in the one form the platform stores.

A pasted domain arrives in every shape people copy it in: ``https://Notes.Acme.com/``,
``notes.acme.com:443``, ``bücher.example``, ``notes.acme.com.``. :func:`normalize_domain`
turns it into the stored form, the A-label in lower case (``xn--bcher-kva.example``), or
raises :class:`DomainNameError` with a message for the person who typed it. A URL is
refused rather than silently cut down (the message names the domain it found), so what
is saved is exactly what the person confirmed. :func:`display_domain` gives the U-label
back for pages.

Plain functions (``idna``, no SQLAlchemy or Flask): the dispatcher's TLS ask endpoint
canonicalizes its ``domain`` parameter with them too.
"""

from __future__ import annotations

import re

import idna

#: The longest DNS name, and label (RFC 1035).
MAX_NAME = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):/*", re.IGNORECASE)


class DomainNameError(ValueError):
    """The text is not a domain a tenant may add; the message says why, for a person."""


def normalize_domain(raw: str, base_domain: str) -> str:
    """The A-label form of ``raw`` (lower-case, no trailing dot), or DomainNameError."""
    text = (raw or "").strip()
    if not text:
        raise DomainNameError("Enter a domain, like notes.example.org.")
    if len(text) > 300:
        raise DomainNameError("That is too long for a domain name (at most 253 characters).")
    found = _host_of_url(text)
    if found is not None:
        raise DomainNameError(
            f"Enter the domain alone, without “https://”, a port or a path: {found}"
            if found
            else "Enter the domain alone, without “https://”, a port or a path."
        )
    if any(character.isspace() for character in text):
        raise DomainNameError("A domain name has no spaces.")
    if text.endswith("."):
        text = text[:-1]
    if "*" in text:
        raise DomainNameError("Wildcard domains cannot be added; enter one name.")
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii").lower()
    except idna.IDNAError as error:
        raise DomainNameError(f"“{_short(raw)}” is not a valid domain name ({error}).") from None
    except UnicodeError:
        raise DomainNameError(f"“{_short(raw)}” is not a valid domain name.") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_NAME:
        raise DomainNameError("That domain is too long (at most 253 characters).")
    if len(labels) < 2:
        raise DomainNameError(
            "Enter a full domain with at least two parts, like notes.example.org."
        )
    for label in labels:
        if not label or len(label) > MAX_LABEL or not _LABEL.match(label):
            raise DomainNameError(
                f"“{_short(raw)}” is not a valid domain name: each part between dots has "
                "1 to 63 letters, digits or hyphens, and no hyphen at either end."
            )
    if labels[-1].isdigit():
        raise DomainNameError("Enter a domain name, not an IP address.")
    base = base_domain.lower().rstrip(".")
    if ascii_name == base or ascii_name.endswith("." + base):
        raise DomainNameError(
            f"{display_domain(ascii_name)} is the platform's own address; add a domain you "
            "own instead. Your workspace keeps its subdomain as well."
        )
    return ascii_name


def display_domain(ascii_name: str) -> str:
    """The U-label form of a stored name for people (``bücher.example``); as is if not IDN."""
    if "xn--" not in ascii_name:
        return ascii_name
    try:
        return idna.decode(ascii_name)
    except (idna.IDNAError, UnicodeError):
        return ascii_name


def canonical_or_none(raw: str) -> str | None:
    """``raw`` as a stored name would be (for lookups), or None if it cannot be one."""
    try:
        text = raw.strip().rstrip(".")
        if not text or len(text) > MAX_NAME or "/" in text or ":" in text:
            return None
        name = idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return name


def _host_of_url(text: str) -> str | None:
    """If ``text`` looks like a URL (a scheme, a path, a port, user info): the host in it
    ("" if none can be told); None if it is a bare name."""
    rest = text
    scheme = _SCHEME.match(text)
    if scheme and (
        text[scheme.end(1) :].startswith("://")
        or scheme.group(1).lower()
        in {
            "http",
            "https",
        }
    ):
        rest = text[scheme.end() :]
    elif not any(mark in text for mark in "/:?#@"):
        return None
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = host.rpartition("@")[2]
    host = host.split(":", 1)[0].strip().rstrip(".")
    return host


def _short(raw: str) -> str:
    text = raw.strip()
    return text if len(text) <= 60 else text[:57] + "…"
