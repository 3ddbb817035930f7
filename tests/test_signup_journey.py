"""The signup journey through real gunicorn (2 workers), while another tenant is busy.

Issue 10.1: right after signup, the worker that took the redirect answered 404 because
it had not yet seen the new tenant. Each signup here is followed as a browser follows
it, over real sockets, and must land logged in on its own workspace home.
"""

from __future__ import annotations

import html
import re
import threading
from urllib.parse import urlencode, urlsplit

import pytest

from tenants.settings import Settings
from tests.conftest import PASSWORD
from tests.test_serving import Reply, fetch, serve  # noqa: F401 - serve is a fixture

pytestmark = pytest.mark.server

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SIGNUPS = 50
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_FORM = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]+)"', re.IGNORECASE)
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


class Browser:
    """Cookies per host, redirects followed across hosts: what a browser does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, dict[str, str]] = {}

    def request(self, url: str, form: dict[str, str] | None = None) -> Reply:
        parts = urlsplit(url)
        host = parts.netloc
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        jar = self.cookies.setdefault(host.split(":")[0], {})
        headers = {}
        if jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        reply = fetch(
            self.port,
            host,
            path,
            method="POST" if form is not None else "GET",
            headers=headers,
            body=body,
        )
        for line in reply.headers.get("set-cookie", "").split("\n"):
            if "=" in line:
                name, _, rest = line.partition("=")
                jar[name.strip()] = rest.split(";", 1)[0]
        reply.url = url  # type: ignore[attr-defined]
        return reply

    def follow(self, reply: Reply, limit: int = 5) -> Reply:
        """Follow redirects (relative or absolute) until a page answers."""
        for _ in range(limit):
            if reply.status not in (301, 302, 303, 307, 308):
                return reply
            location = reply.headers["location"]
            if location.startswith("/"):
                base = urlsplit(reply.url)  # type: ignore[attr-defined]
                location = f"{base.scheme}://{base.netloc}{location}"
            reply = self.request(location)
        return reply


def follow_handoff(browser: Browser, signed_up: Reply) -> Reply:
    """From the signup's answer to the new workspace.

    The handoff is a redirect to a one-time login link today; if it becomes a page with
    a form that posts itself (the token in a hidden field), submit that form instead.
    """
    reply = browser.follow(signed_up)
    form = _FORM.search(reply.body) if reply.status == 200 else None
    if form is not None and "login" in form.group(1):
        fields = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(reply.body)}
        reply = browser.follow(browser.request(html.unescape(form.group(1)), fields))
    return reply


@pytest.mark.parametrize("backend", BOTH)
def test_fifty_signups_land_in_their_workspace_while_another_tenant_is_busy(
    settings: Settings,
    create_tenant,
    serve,  # noqa: F811
) -> None:
    create_tenant("busy")
    [server] = serve(settings)  # platform/gunicorn.conf.py, 2 workers, poll every 0.5 s
    stop = threading.Event()
    background: list[int] = []

    def busy_traffic() -> None:
        while not stop.is_set():
            background.append(server.get("busy.example.com", "/login").status)

    threads = [threading.Thread(target=busy_traffic, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    landed: dict[str, tuple[int, str | None]] = {}
    try:
        for index in range(SIGNUPS):
            slug = f"fresh-{index:02d}"
            browser = Browser(server.port)
            page = browser.request("http://example.com/signup")
            match = _CSRF.search(page.body)
            assert match is not None, page.status
            signed_up = browser.request(
                "http://example.com/signup",
                {
                    "name": f"Fresh {index}",
                    "subdomain": slug,
                    "email": f"owner@{slug}.test",
                    "password": PASSWORD,
                    "csrf_token": match.group(1) or match.group(2),
                },
            )
            assert signed_up.status == 200, signed_up.body[:300]  # the hand-over page
            home = follow_handoff(browser, signed_up)
            named = f"Fresh {index}" in home.body
            landed[slug] = (home.status, home.tenant if named else None)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    missed = {slug: result for slug, result in landed.items() if result != (200, slug)}
    assert not missed, f"{len(missed)} of {SIGNUPS} signups did not land: {missed}"
    assert background and set(background) == {200}
