"""What people do with the platform, in a real Chromium against real gunicorn.

One journey per test, in order (they share one server, as a real platform would):
a visitor signs up acme and works in it, a member joins, another tenant sees
nothing of it, an admin suspends and resumes acme. Screenshots of each step go to a
temporary folder, or to docs/screenshots/ (the README's) with scripts/screenshots.sh.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN, SUPPORT_EMAIL, screenshot

PASSWORD = "acme-password-1"
MEMBER = ("member@acme.test", "member-password-1")
ACCENT = "#0f766e"
NOTE_TITLE = "Launch plan"

# Labels, titles and landmarks: checked on every page the journeys visit.
A11Y_CHECK = """() => {
  const problems = [];
  if (!document.title.trim()) problems.push("no <title>");
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one <main>");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.type === "submit") continue;
    const labelled = (el.labels && el.labels.length > 0) || el.getAttribute("aria-label");
    if (!labelled) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  const ids = [...document.querySelectorAll("[id]")].map(e => e.id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupes.length) problems.push(`duplicate ids: ${[...new Set(dupes)].join(", ")}`);
  return problems;
}"""


def check_accessible(page: Page) -> None:
    page.wait_for_load_state("load")  # a click's navigation may still be under way
    assert page.evaluate(A11Y_CHECK) == [], page.url


def signup(page: Page, server, slug: str, name: str, email: str) -> None:
    page.goto(server.url(None, "/signup"))
    page.get_by_label("Workspace name").fill(name)
    page.get_by_label("Subdomain").fill(slug)
    page.get_by_label("Your email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create workspace").click()


def log_in(page: Page, url: str, email: str, password: str) -> None:
    """Log in from the keyboard alone: type, Tab, type, Enter."""
    page.goto(url)
    page.get_by_label("Email").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")


def test_landing_and_signup_pages(page: Page, server) -> None:
    page.goto(server.url())
    expect(page.get_by_role("heading", level=1)).to_contain_text("workspace")
    check_accessible(page)
    screenshot(page, "01-landing")
    page.get_by_role("link", name="Create a workspace").click()
    expect(page).to_have_url(server.url(None, "/signup"))
    check_accessible(page)
    screenshot(page, "02-signup")


def test_visitor_signs_up_and_works_in_the_workspace(context, server) -> None:
    page = context.new_page()
    signup(page, server, "acme", "Acme Corporation", "founder@acme.test")
    expect(page).to_have_url(server.url("acme", "/"))
    expect(page.locator("header")).to_contain_text("Acme Corporation")
    check_accessible(page)

    # The owner gives the workspace its colour.
    page.get_by_role("link", name="Settings").click()
    check_accessible(page)
    page.get_by_label("Accent colour").fill(ACCENT)
    page.get_by_role("button", name=re.compile("Save")).click()
    accent = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--accent')"
    )
    assert accent.strip() == ACCENT

    # A note.
    page.get_by_role("link", name="Notes").first.click()
    page.get_by_role("link", name=re.compile("New note|Write the first note")).first.click()
    check_accessible(page)
    page.get_by_label("Title").fill(NOTE_TITLE)
    page.get_by_label("Body").fill("Ship the platform on Monday.\nTell the team.")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("heading", name=NOTE_TITLE)).to_be_visible()
    screenshot(page, "04-notes")

    # A member.
    page.get_by_role("link", name="Members").click()
    page.get_by_role("link", name="Create an account without email").click()
    check_accessible(page)
    page.get_by_label("Email").fill(MEMBER[0])
    page.get_by_label("Name").fill("Mia Member")
    page.get_by_label("Initial password").fill(MEMBER[1])
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("main")).to_contain_text(MEMBER[0])
    check_accessible(page)
    screenshot(page, "05-members")

    page.goto(server.url("acme", "/"))
    expect(page.get_by_role("heading", name=NOTE_TITLE)).to_be_visible()
    screenshot(page, "03-workspace")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "06-workspace-phone")
    # At phone width nothing overflows sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_member_logs_in_and_sees_the_note(context, server) -> None:
    page = context.new_page()
    log_in(page, server.url("acme", "/login"), *MEMBER)
    expect(page).to_have_url(server.url("acme", "/"))
    page.get_by_role("link", name="Notes").first.click()
    expect(page.get_by_role("heading", name=NOTE_TITLE)).to_be_visible()


def test_another_tenant_sees_nothing_of_acme(context, server) -> None:
    page = context.new_page()
    signup(page, server, "globex", "Globex", "founder@globex.test")
    expect(page).to_have_url(server.url("globex", "/"))
    page.goto(server.url("globex", "/notes/"))
    expect(page.locator("main")).not_to_contain_text(NOTE_TITLE)
    # acme's member is nobody here.
    other = context.browser.new_context()
    try:
        login_page = other.new_page()
        log_in(login_page, server.url("globex", "/login"), *MEMBER)
        expect(login_page.get_by_role("alert")).to_contain_text("do not match")
    finally:
        other.close()


def test_taken_subdomain_shows_the_message_by_the_field(page: Page, server) -> None:
    signup(page, server, "ACME", "Acme again", "someone@else.test")
    error = page.locator("#subdomain-error")
    expect(error).to_contain_text("taken")
    field = page.get_by_label("Subdomain")
    assert field.get_attribute("aria-describedby") == "subdomain-error"
    check_accessible(page)
    screenshot(page, "07-signup-taken")


def test_admin_finds_suspends_and_resumes_acme(browser, server) -> None:
    admin_context = browser.new_context(viewport={"width": 1280, "height": 860})
    visitor_context = browser.new_context()
    try:
        admin = admin_context.new_page()
        admin.goto(server.url(None, "/admin/"))
        expect(admin).to_have_url(re.compile(r"/admin/login"))
        check_accessible(admin)
        log_in(admin, admin.url, *ADMIN)
        expect(admin.get_by_role("heading", name="Tenants")).to_be_visible()
        admin.get_by_label("Search").fill("acme")
        admin.get_by_role("button", name="Search").click()
        expect(admin.get_by_role("link", name="acme", exact=True)).to_be_visible()
        check_accessible(admin)
        screenshot(admin, "08-admin-tenants")

        admin.get_by_role("link", name="acme", exact=True).click()
        admin.get_by_role("link", name="Suspend…").click()  # the confirmation step
        admin.get_by_label(re.compile("Reason")).fill("Payment overdue since March")
        admin.get_by_role("button", name="Suspend acme").click()
        expect(admin.locator(".badge.suspended").first).to_be_visible()
        screenshot(admin, "09-admin-tenant")

        visitor = visitor_context.new_page()
        response = visitor.goto(server.url("acme", "/login"))
        for _ in range(20):  # every worker sees it within a second
            if response.status == 403:
                break
            visitor.wait_for_timeout(100)
            response = visitor.goto(server.url("acme", "/login"))
        assert response.status == 403
        expect(visitor.locator("body")).to_contain_text("suspended")
        expect(visitor.locator("body")).to_contain_text("Reason: Payment overdue since March.")
        expect(visitor.get_by_role("link", name=f"Email {SUPPORT_EMAIL}")).to_have_attribute(
            "href", f"mailto:{SUPPORT_EMAIL}"
        )
        screenshot(visitor, "10-suspended")

        admin.get_by_role("button", name="Resume").click()
        expect(admin.locator(".badge.active").first).to_be_visible()
        for _ in range(20):
            response = visitor.goto(server.url("acme", "/login"))
            if response.status == 200:
                break
            visitor.wait_for_timeout(100)
        assert response.status == 200
    finally:
        admin_context.close()
        visitor_context.close()


@pytest.fixture(autouse=True)
def _fail_on_server_errors(context):
    """No page a journey visits may answer 5xx."""
    errors: list[str] = []
    context.on(
        "response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 500 else None
    )
    yield
    assert errors == []
