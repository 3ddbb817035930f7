"""Custom domains, in one process on SQLite: what "Check now" costs, and a warm lookup.

Run: ``PYTHONPATH=. python -m tests.benchmarks.custom_domains``. A real DNS server
(dnslib) on loopback answers the challenge; the platform is built as in production
(migrations, a provisioned tenant). Prints:

- "Check now": the TXT lookup plus the write that verifies the domain (ms);
- a warm registry lookup by custom domain and by slug (µs): both one dictionary read;
- requests per second through the whole WSGI stack (werkzeug's test client) for a
  verified custom domain's login page and for an unknown custom host (404).
"""

from __future__ import annotations

import tempfile
import time
import timeit
from pathlib import Path

from dnslib.server import DNSLogger, DNSServer
from werkzeug.test import Client

from tenants import lifecycle
from tenants.kernel import Platform
from tenants.settings import Settings
from tenants.storage import migrations
from tenants.testing import FAST_HASH, TEST_SECRET_KEY
from tests.dns_server import RunningDns, Zone


def main() -> None:
    zone = Zone()
    server = DNSServer(
        zone, address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply,-truncated")
    )
    server.start_thread()
    dns = RunningDns(zone, server)
    folder = Path(tempfile.mkdtemp(prefix="custom-domains-bench-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'platform.db'}",
        base_domain="example.com",
        secret_key=TEST_SECRET_KEY,
        instance_path=folder,
        password_hash_method=FAST_HASH,
        dns_resolver=dns.address,
    )
    platform = Platform(settings)
    try:
        with platform.engine.begin() as connection:
            migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
        tenant = lifecycle.provision_tenant(
            platform, lifecycle.NewTenant("acme", "Acme", "o@acme.test", "long-enough-pw")
        )
        view = platform.domains.add(tenant.id, "notes.acme.org", actor="bench")
        zone.publish_txt(view.challenge_name, view.token)
        started = time.perf_counter()
        platform.domains.check(tenant.id, view.id, actor="bench")
        print(f"check now (DNS + write): {(time.perf_counter() - started) * 1000:.1f} ms")
        platform.domains.set_primary(tenant.id, view.id, actor="bench")
        platform.registry.refresh(force=True)
        platform.registry.for_domain("notes.acme.org")
        platform.registry.get("acme")
        platform.registry.poll_seconds = 3600  # measure lookups, not polls
        count = 200_000
        by_domain = timeit.timeit(
            lambda: platform.registry.for_domain("notes.acme.org"), number=count
        )
        by_slug = timeit.timeit(lambda: platform.registry.get("acme"), number=count)
        print(f"warm lookup by domain: {by_domain / count * 1e6:.2f} µs")
        print(f"warm lookup by slug:   {by_slug / count * 1e6:.2f} µs")
        client = Client(platform)
        for host in ("notes.acme.org", "nobody.example.org"):
            client.get("/login", headers={"Host": host})
            requests = 2000
            started = time.perf_counter()
            for _ in range(requests):
                client.get("/login", headers={"Host": host})
            rate = requests / (time.perf_counter() - started)
            print(f"{host}: {rate:.0f} requests/s (werkzeug test client, one thread)")
    finally:
        platform.close()
        server.stop()


if __name__ == "__main__":
    main()
