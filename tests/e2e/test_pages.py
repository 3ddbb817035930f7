"""Each page item of issue 11, in Chromium, at 1280 and at 390 px.

- nothing scrolls sideways, even with a 600-character word and a long URL in notes;
- the accent-coloured elements keep 4.5:1 contrast whatever the accent (#ffffff here),
  computed from the colours the browser rendered;
- deleting a note, removing a member and suspending a tenant ask first (no JavaScript
  needed: the confirmation is a page);
- error pages inside a workspace keep it; the unknown workspace links to signup;
- the landing page's Log in leads to a workspace's login; the phone menu opens.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN, screenshot
from tests.e2e.test_journeys import check_accessible, log_in

SLUG = "umbrella"
OWNER = ("owner@umbrella.test", "umbrella-password-1")
MEMBER = ("member@umbrella.test", "member-password-1")
LONG_WORD = "Supercalifragilistic" * 30  # 600 characters, no break
LONG_URL = "https://example.com/" + "/".join(f"segment-{n}-of-a-long-path" for n in range(30))
WIDTHS = {"desktop": 1280, "phone": 390}

# The WCAG 2 contrast of the accent-coloured elements, as rendered: text colour against
# the nearest opaque background behind it.
CONTRASTS = """(selectors) => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      if (!el.offsetParent && getComputedStyle(el).position !== "fixed") continue;
      found.push({selector, text: el.textContent.trim().slice(0, 30),
                  ratio: ratio(rgb(getComputedStyle(el).color).slice(0, 3), background(el))});
    }
  }
  return found;
}"""
ACCENT_SELECTORS = [
    "main a.button:not(.secondary):not(.danger)",
    "main button.button:not(.secondary):not(.danger)",
    "main a:not(.button)",
    ".stats strong",
    "nav a[aria-current=page]",
]


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{page.url} is {width}px wide"


@pytest.fixture(scope="module")
def umbrella(server) -> str:
    """A workspace made with the CLI, with a member."""
    server.flask(
        "tenants", "create", SLUG, "--name", "Umbrella Corporation",
        "--owner-email", OWNER[0], "--owner-password", OWNER[1],
    )  # fmt: skip
    return SLUG


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def width(request) -> int:
    return WIDTHS[request.param]


@pytest.fixture
def owner(browser, server, umbrella, width) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, server.url(umbrella, "/login"), *OWNER)
    expect(page).to_have_url(server.url(umbrella, "/"))
    yield page
    context.close()


def open_nav(page: Page, name: str) -> None:
    """Follow a top-navigation link; at phone width it is behind the Menu button first."""
    link = page.locator("nav#main-nav").get_by_role("link", name=name, exact=True)
    if not link.is_visible():
        page.locator("label.menu-button").click()
    link.click()


def test_pages_fit_the_width_and_keep_the_accent_readable(owner: Page, server, width) -> None:
    page = owner
    # The owner picks white, the worst case for text on white.
    open_nav(page, "Settings")
    page.get_by_label("Accent colour").fill("#ffffff")
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page.locator(".flash")).to_contain_text("too light")

    # Notes with a 600-character word and a long URL.
    for title, body in (
        (f"A long word ({width})", LONG_WORD),
        (f"A long link ({width})", LONG_URL),
    ):
        page.goto(server.url(SLUG, "/notes/new"))
        page.get_by_label("Title").fill(title)
        page.get_by_label("Body").fill(body)
        page.get_by_role("button", name="Save note").click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()

    for path in ("/", "/notes/", "/members/", "/settings/", "/account/"):
        page.goto(server.url(SLUG, path))
        no_sideways_scroll(page)
        check_accessible(page)
        seen = page.evaluate(CONTRASTS, ACCENT_SELECTORS)
        low = [item for item in seen if item["ratio"] < 4.5]
        assert not low, (path, low)
        if path == "/":
            assert any(item["selector"] == ".stats strong" for item in seen)
        if path == "/notes/":
            screenshot(page, f"16-long-notes-{width}")


def test_the_phone_menu_opens(browser, server, umbrella) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        log_in(page, server.url(umbrella, "/login"), *OWNER)
        expect(page).to_have_url(server.url(umbrella, "/"))
        nav = page.locator("nav#main-nav")
        expect(nav).to_be_hidden()
        header = page.locator("header").bounding_box()
        assert header["height"] < 90  # one line: brand and Menu
        page.locator("label.menu-button").click()
        expect(nav.get_by_role("link", name="Members")).to_be_visible()
        no_sideways_scroll(page)
        nav.get_by_role("link", name="Members").click()
        expect(page.get_by_role("heading", name="Members")).to_be_visible()
    finally:
        context.close()


def test_delete_a_note_and_remove_a_member_ask_first(owner: Page, server, width) -> None:
    page = owner
    title = f"Note to delete at {width}"
    page.goto(server.url(SLUG, "/notes/new"))
    page.get_by_label("Title").fill(title)
    page.get_by_role("button", name="Save note").click()
    note = page.locator("li.note", has_text=title)
    note.get_by_role("link", name=re.compile("Delete")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    no_sideways_scroll(page)
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("li.note", has_text=title)).to_be_visible()  # nothing happened
    page.locator("li.note", has_text=title).get_by_role("link", name=re.compile("Delete")).click()
    page.get_by_role("button", name="Delete note").click()
    expect(page.locator(".flash")).to_contain_text("deleted")
    expect(page.locator("li.note", has_text=title)).to_have_count(0)

    email = f"temp-{width}@umbrella.test"
    page.goto(server.url(SLUG, "/members/create"))  # invitations have their own journey
    page.get_by_label("Email").fill(email)
    page.get_by_label("Initial password").fill(MEMBER[1])
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flash")).to_contain_text(f"{email} is now a member")
    no_sideways_scroll(page)  # the members page at 390 px: rows stack
    row = page.locator("tr", has_text=email)
    remove = row.get_by_role("link", name=re.compile("Remove"))
    remove.scroll_into_view_if_needed()
    box = remove.bounding_box()
    assert box["x"] + box["width"] <= page.viewport_size["width"]  # on screen
    remove.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(email)
    page.get_by_role("button", name="Remove member").click()
    expect(page.locator(".flash")).to_contain_text("removed")
    expect(page.locator("tr", has_text=email)).to_have_count(0)
    screenshot(page, f"17-members-{width}")


def test_error_pages_keep_the_workspace(owner: Page, server, width) -> None:
    page = owner
    response = page.goto(server.url(SLUG, "/no-such-page"))
    assert response.status == 404
    expect(page.locator("header")).to_contain_text("Umbrella Corporation")
    expect(page.get_by_role("link", name="Back to Umbrella Corporation")).to_be_visible()
    no_sideways_scroll(page)
    screenshot(page, f"18-workspace-404-{width}")
    page.get_by_role("link", name="Back to Umbrella Corporation").click()
    expect(page).to_have_url(server.url(SLUG, "/"))


def test_front_door_log_in_and_dead_ends(browser, server, umbrella, width) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(server.url())
        expect(page.locator("nav#main-nav")).not_to_contain_text("Admin")  # not for visitors
        no_sideways_scroll(page)
        page.locator("#log-in").get_by_label(re.compile("subdomain")).fill(umbrella)
        page.locator("#log-in").get_by_role("button", name="Log in").click()
        expect(page).to_have_url(server.url(umbrella, "/login"))

        response = page.goto(server.url("no-such-workspace"))
        assert response.status == 404
        no_sideways_scroll(page)
        page.get_by_role("link", name="Sign up").click()
        expect(page).to_have_url(server.url(None, "/signup"))
    finally:
        context.close()


def test_suspension_asks_for_a_reason_that_members_see(browser, server, width) -> None:
    slug = f"initech-{width}"
    server.flask(
        "tenants", "create", slug, "--name", "Initech",
        "--owner-email", "owner@initech.test", "--owner-password", "initech-password-1",
    )  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        admin = context.new_page()
        admin.goto(server.url(None, "/admin/login"))
        log_in(admin, admin.url, *ADMIN)
        admin.get_by_label("Search").fill(slug)
        admin.get_by_role("button", name="Search").click()
        admin.get_by_role("link", name=slug, exact=True).click()
        no_sideways_scroll(admin)
        admin.get_by_role("link", name="Suspend…").click()
        expect(admin.get_by_role("heading", level=1)).to_contain_text(f"Suspend {slug}")
        no_sideways_scroll(admin)
        admin.get_by_label(re.compile("Reason")).fill("Licence expired")
        admin.get_by_role("button", name=f"Suspend {slug}").click()
        expect(admin.locator(".badge.suspended").first).to_be_visible()
        expect(admin.locator("main")).to_contain_text("Licence expired")

        visitor = context.browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = visitor.new_page()
            response = page.goto(server.url(slug, "/login"))
            for _ in range(50):  # every worker sees it soon (polled, not timed)
                if response.status == 403:
                    break
                page.wait_for_timeout(100)
                response = page.goto(server.url(slug, "/login"))
            assert response.status == 403
            expect(page.locator("body")).to_contain_text("Initech has been suspended")
            expect(page.locator("body")).to_contain_text("Reason: Licence expired.")
            no_sideways_scroll(page)
        finally:
            visitor.close()
    finally:
        context.close()


def test_admins_page_adds_and_removes_an_admin(browser, server, width) -> None:
    email = f"second-{width}@platform.test"
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        admin = context.new_page()
        admin.goto(server.url(None, "/admin/login"))
        log_in(admin, admin.url, *ADMIN)
        expect(admin.get_by_role("heading", name="Tenants")).to_be_visible()
        open_nav(admin, "Admins")
        expect(admin.get_by_role("heading", name="Admins")).to_be_visible()
        check_accessible(admin)
        admin.get_by_label("Email").fill(email)
        admin.get_by_label("Password").fill("a second long password")
        admin.get_by_role("button", name="Add admin").click()
        expect(admin.locator(".flash")).to_contain_text(f"Added {email}")
        no_sideways_scroll(admin)
        admin.locator("tr", has_text=email).get_by_role("link", name="Remove…").click()
        expect(admin.get_by_role("heading", level=1)).to_contain_text(email)
        no_sideways_scroll(admin)
        admin.get_by_role("button", name="Remove admin").click()
        expect(admin.locator(".flash")).to_contain_text(f"Removed {email}")
        expect(admin.locator("tbody tr", has_text=email)).to_have_count(0)
        expect(admin.locator("main")).to_contain_text("removed")  # the Changes list
    finally:
        context.close()
