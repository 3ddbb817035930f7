"""Reading a domain's challenge TXT record with dnspython, from a configurable server.

``DNS_RESOLVER`` (``host:port``) names the server asked; empty means the system's
resolvers (``/etc/resolv.conf``). Tests start a real DNS server on loopback (dnslib) and
point this at it. Every failure becomes a sentence for the domain's owner.
"""

from __future__ import annotations

import dns.exception
import dns.name
import dns.resolver

#: Seconds one check may wait for DNS in total (a "Check now" click waits this at most).
LIFETIME = 4.0


class LookupFailed(Exception):
    """The record could not be read or does not hold the token; the message says which."""


def make_resolver(spec: str, *, lifetime: float | None = None) -> dns.resolver.Resolver:
    """A resolver asking ``spec`` ("host:port"), or the system's resolvers if empty."""
    if lifetime is None:
        lifetime = LIFETIME
    if spec:
        resolver = dns.resolver.Resolver(configure=False)
        host, _, port = spec.rpartition(":")
        resolver.nameservers = [host.strip("[]")]
        resolver.port = int(port)
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise LookupFailed(
                "This server has no DNS resolver configured; the operator sets DNS_RESOLVER."
            ) from None
    resolver.lifetime = lifetime
    resolver.timeout = lifetime
    resolver.cache = None  # a re-check must see a record published a second ago
    return resolver


def txt_values(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at ``name`` (each record's parts joined), or LookupFailed."""
    try:
        answer = resolver.resolve(dns.name.from_text(name), "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        raise LookupFailed(f"No TXT record found: {name} does not exist in DNS yet.") from None
    except dns.resolver.NoAnswer:
        raise LookupFailed(f"No TXT record found at {name}.") from None
    except dns.resolver.LifetimeTimeout:
        raise LookupFailed("The DNS server did not answer in time; try again shortly.") from None
    except dns.resolver.NoNameservers:
        raise LookupFailed(
            f"The DNS servers for {name} refused or failed the query; try again shortly."
        ) from None
    except dns.exception.DNSException as error:
        raise LookupFailed(f"DNS lookup failed ({error.__class__.__name__}).") from None
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def verify(resolver: dns.resolver.Resolver, name: str, token: str) -> None:
    """Return if a TXT record at ``name`` holds ``token``; else LookupFailed saying why."""
    values = txt_values(resolver, name)
    if token in (value.strip() for value in values):
        return
    shown = ", ".join(f"“{value[:40]}”" for value in values[:3])
    raise LookupFailed(
        f"The TXT record at {name} holds {shown}, not this domain's token; "
        "copy the token shown here exactly."
    )
