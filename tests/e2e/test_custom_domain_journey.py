"""Browser journey: an owner brings a custom domain, proves it by DNS, and works on it.

gunicorn serves the platform (``BASE_DOMAIN=localhost``); a real DNS server (dnslib, on
loopback) is the platform's ``DNS_RESOLVER``; Chromium resolves ``*.test`` to loopback
(``--host-resolver-rules`` in conftest), as a CNAME to the platform would. The owner adds
the domain, reads the TXT record on the page, the test publishes it, "Check now"
verifies it, "Make primary" moves the workspace there, and the workspace answers on the
new domain. Screenshots go to a temporary folder (docs/screenshots/ with scripts/screenshots.sh).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
from dnslib.server import DNSLogger, DNSServer

from tests.dns_server import RunningDns, Zone
from tests.e2e.conftest import ROOT, _free_port, screenshot, start_gunicorn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOMAIN = "notes.acme.test"
OWNER = ("owner@acme.test", "owner-password-1")


@pytest.fixture(scope="module")
def dns() -> Iterator[RunningDns]:
    zone = Zone()
    server = DNSServer(
        zone, address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply,-truncated")
    )
    server.start_thread()
    yield RunningDns(zone, server)
    server.stop()
    server.server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, dns: RunningDns) -> Iterator[int]:
    instance = tmp_path_factory.mktemp("e2e-domains")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{instance / 'platform.db'}",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_hex(32),
        "BASE_DOMAIN": "localhost",
        "PUBLIC_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "DNS_RESOLVER": dns.address,
    }
    env.pop("FLASK_DEBUG", None)

    def flask(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "tenants.wsgi", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    flask("db", "upgrade")
    flask(
        "tenants",
        "create",
        "acme",
        "--name",
        "Acme Notes",
        "--owner-email",
        OWNER[0],
        "--owner-password",
        OWNER[1],
    )
    process = start_gunicorn(port, env, instance / "gunicorn.log")
    yield port
    process.terminate()
    process.wait(15)


@pytest.fixture
def page(browser, site: int):
    """A page of the suite's Chromium, which resolves ``*.test`` to loopback (conftest)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_owner_adds_verifies_and_moves_to_a_custom_domain(page, site: int, dns) -> None:
    from playwright.sync_api import expect

    subdomain = f"http://acme.localhost:{site}"
    custom = f"http://{DOMAIN}:{site}"
    page.goto(subdomain + "/login")
    page.get_by_label("Email").fill(OWNER[0])
    page.get_by_label("Password").fill(OWNER[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header")).to_contain_text("Acme Notes")

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Custom domains").click()
    # A URL pasted in is refused beside the field, and nothing is saved.
    page.get_by_label("Domain").fill(f"https://{DOMAIN}/notes")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator("#domain-error")).to_contain_text("without “https://”")
    expect(page.locator("table.dns-records")).to_have_count(0)

    page.get_by_label("Domain").fill(DOMAIN)
    page.get_by_role("button", name="Add domain").click()
    record = page.locator("tr.txt-record")
    expect(record).to_contain_text(f"_tenants-challenge.{DOMAIN}")
    expect(page.locator(".domain-status")).to_have_text("pending")
    token = page.locator("code.token").inner_text().strip()
    screenshot(page, "11-custom-domain-pending")

    # Not published yet: "Check now" says so.
    page.get_by_role("button", name=f"Check now {DOMAIN}").click()
    expect(page.locator("p.flash")).to_contain_text("does not exist in DNS")

    dns.zone.publish_txt(f"_tenants-challenge.{DOMAIN}", token)
    page.get_by_role("button", name=f"Check now {DOMAIN}").click()
    expect(page.locator(".domain-status")).to_have_text("verified")
    screenshot(page, "12-custom-domain-verified")

    page.get_by_role("button", name=f"Make primary {DOMAIN}").click()
    # The workspace now lives on the custom domain: the subdomain redirects there, and
    # the session (host-only) stayed behind, so the owner signs in on the new address.
    page.goto(subdomain + "/notes/")
    assert page.url.startswith(custom + "/")
    page.get_by_label("Email").fill(OWNER[0])
    page.get_by_label("Password").fill(OWNER[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header")).to_contain_text("Acme Notes")
    assert page.url.startswith(custom + "/")
    screenshot(page, "13-custom-domain-workspace")
