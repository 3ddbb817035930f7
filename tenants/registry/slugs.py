"""Which names a tenant may take as its subdomain (and path prefix)."""

from __future__ import annotations

import re

#: Names that belong to the platform, to mail and to common infrastructure: a tenant
#: holding one could phish users or take over a service's name.
RESERVED_SLUGS = frozenset(
    """
    www admin api app mail smtp imap pop pop3 ftp sftp static assets cdn media signup
    login logout auth oauth sso status health healthz readyz livez metrics help support
    docs blog billing root system public platform tenants tenant dashboard console
    account accounts security webmail autoconfig autodiscover mx ns ns1 ns2 dns
    origin localhost test dev staging internal exports find find-workspaces
    """.split()
)

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")


class InvalidSlug(ValueError):
    """A subdomain that cannot be a tenant's; the message says why, for a person."""


def canonical_slug(raw: str) -> str:
    """Lower-case and trim a subdomain as typed; validation comes after."""
    return raw.strip().lower()


def validate_slug(raw: str, *, extra_reserved: frozenset[str] = frozenset()) -> str:
    """Return the canonical slug for ``raw`` or raise :class:`InvalidSlug` saying why."""
    slug = canonical_slug(raw)
    if not slug:
        raise InvalidSlug("Choose a subdomain.")
    if len(slug) < 3:
        raise InvalidSlug("A subdomain has at least 3 characters.")
    if len(slug) > 63:
        raise InvalidSlug("A subdomain has at most 63 characters.")
    if not _LABEL.match(slug):
        raise InvalidSlug(
            "Use only letters a-z, digits and hyphens, starting and ending with a letter or digit."
        )
    if slug.startswith("xn--"):
        raise InvalidSlug("Internationalized (xn--) subdomains are not accepted.")
    if slug in RESERVED_SLUGS or slug in extra_reserved or slug.startswith("pg_"):
        raise InvalidSlug(f"“{slug}” is reserved; choose another subdomain.")
    return slug
