"""The names a tenant is found by, and the 64-bit hash every process indexes them with.

A request names its tenant by a *key* of some *kind*: the slug (``acme`` in
``acme.example.com`` or ``example.com/acme/``), or a verified custom domain
(``notes.acme.org``, its A-label).
Keys are compared lower-cased. Each process keeps the hashes of all routable keys
(:mod:`tenants.registry.keyindex`) so that a name nobody holds is refused without a query.

The hash is the first 8 bytes of MD5 over ``"<kind>:<key>"``, read as a signed
big-endian integer: Python computes it with ``hashlib`` and PostgreSQL with ``md5()``
(the generated column ``tenants.key_hash``, see the platform migration 0003), and both
agree (``tests/test_registry_lookup.py`` checks 100,000 of them).
It is a fingerprint for an in-memory filter, never for security: a collision only
costs one point query.
"""

from __future__ import annotations

import hashlib

#: The key kinds the registry answers for.
SLUG = "slug"
DOMAIN = "domain"


def key_hash(kind: str, key: str) -> int:
    """The signed 64-bit fingerprint of ``key`` (already lower-cased) of ``kind``."""
    digest = hashlib.md5(f"{kind}:{key}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def slug_hash(slug: str) -> int:
    return key_hash(SLUG, slug.lower())


def domain_hash(domain: str) -> int:
    return key_hash(DOMAIN, domain.lower())
