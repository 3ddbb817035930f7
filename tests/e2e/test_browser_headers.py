"""The security headers as Chromium applies them: no page breaks, no page can be framed.

These tests create no tenant (the journeys, which share the server, own the fleet); the
journeys' own checks cover the workspace under the same policy (its accent colour is the
nonce-allowed inline style, and signup's redirect to the new tenant is a form action).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect


def csp_reports(page: Page) -> list[str]:
    """Console errors Chromium writes when a policy blocks something, collected as they come."""
    reports: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "X-Frame-Options" in text:
            reports.append(text)

    page.on("console", on_console)
    return reports


@pytest.mark.parametrize(
    ("slug", "path", "heading"),
    [
        (None, "/", "workspace"),
        (None, "/signup", "Create"),
        (None, "/admin/login", "admin"),
        ("no-such-tenant", "/", "No workspace here"),
    ],
    ids=["landing", "signup", "admin-login", "dispatcher-404"],
)
def test_pages_render_under_the_policy(page: Page, server, slug, path, heading) -> None:
    reports = csp_reports(page)
    response = page.goto(server.url(slug, path))
    assert response is not None
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    # The page is styled (the stylesheet or the dispatcher page's inline style applied).
    margin = page.evaluate("getComputedStyle(document.body).margin")
    assert margin == "0px"
    assert reports == []


def test_no_page_can_be_framed(page: Page, server) -> None:
    reports = csp_reports(page)
    page.goto(server.url(None, "/healthz"))  # any page of another origin than the frame
    target = server.url(None, "/admin/login")
    page.set_content(f'<iframe id="victim" src="{target}" width="600" height="400"></iframe>')
    page.wait_for_timeout(500)
    frame = page.frame_locator("#victim")
    expect(frame.get_by_label("Email")).to_have_count(0)
    assert any("frame-ancestors" in report or "X-Frame-Options" in report for report in reports)
