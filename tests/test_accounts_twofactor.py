"""Two-factor sign-in for members (issue 14 item 7): TOTP enrolment, login with a code and
with a recovery code, replays refused, wrong codes throttled, owners can require it."""

from __future__ import annotations

import html
import re
import time

import pyotp
from werkzeug.test import Client

from tenants.testing import PASSWORD
from tests.helpers import csrf_token, login

ACME = "acme.example.com"
HOST = {"Host": ACME}
_SECRET = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
_CODES = re.compile(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>")


def enrol(client) -> tuple[pyotp.TOTP, list[str]]:
    """Set up two-factor sign-in for the logged-in ``client``; the app and the codes."""
    page = client.get("/account/2fa/setup", headers=HOST)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    secret = _SECRET.search(text).group(1).replace(" ", "")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in text  # the QR code, inline
    assert f"secret={secret}" in text  # the otpauth:// link
    totp = pyotp.TOTP(secret)
    wrong = client.post(
        "/account/2fa/setup",
        headers=HOST,
        data={
            "csrf_token": csrf_token(page),
            "code": "000000" if totp.now() != "000000" else "111111",
        },
    )
    assert wrong.status_code == 422
    done = client.post(
        "/account/2fa/setup",
        headers=HOST,
        data={"csrf_token": csrf_token(page), "code": totp.now()},
    )
    assert done.status_code == 200
    codes = _CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return totp, codes


def wrong_code(totp: pyotp.TOTP) -> str:
    """A code no step around now accepts."""
    now = time.time()
    valid = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30-second step (the current one was spent at enrolment)."""
    return totp.at(time.time() + 30)


def second_step(client: Client, code: str):
    page = client.get("/login/2fa", headers=HOST)
    return client.post(
        "/login/2fa", headers=HOST, data={"csrf_token": csrf_token(page), "code": code}
    )


def test_enrol_then_log_in_with_a_code_that_works_once(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = Client(platform)
    login(owner, ACME, "owner@acme.test")
    totp, _ = enrol(owner)
    assert "On: logging in asks for a code" in owner.get("/account/", headers=HOST).get_data(
        as_text=True
    )

    browser = Client(platform)
    password_only = login(browser, ACME, "owner@acme.test")
    assert password_only.status_code == 303
    assert password_only.headers["Location"].endswith("/login/2fa")
    assert browser.get("/notes/", headers=HOST).status_code == 302  # not logged in yet
    assert (
        second_step(browser, "123456" if next_code(totp) != "123456" else "654321").status_code
        == 401
    )
    code = next_code(totp)
    assert second_step(browser, code).status_code == 303
    assert browser.get("/notes/", headers=HOST).status_code == 200

    # The same code again, on another device: a replay, refused.
    other = Client(platform)
    login(other, ACME, "owner@acme.test")
    replay = second_step(other, code)
    assert replay.status_code == 401
    assert "was used already" in html.unescape(replay.get_data(as_text=True))


def test_a_recovery_code_logs_in_once(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = Client(platform)
    login(owner, ACME, "owner@acme.test")
    _, codes = enrol(owner)
    browser = Client(platform)
    login(browser, ACME, "owner@acme.test")
    used = second_step(browser, codes[3].upper())
    assert used.status_code == 303
    assert "You used a recovery code; 9 left." in browser.get("/", headers=HOST).get_data(
        as_text=True
    )
    again = Client(platform)
    login(again, ACME, "owner@acme.test")
    assert second_step(again, codes[3]).status_code == 401

    # A new list: the old codes stop working, the new ones work.
    fresh = owner.post(
        "/account/2fa/recovery-codes",
        headers=HOST,
        data={
            "csrf_token": csrf_token(owner.get("/account/", headers=HOST)),
            "disable_password": PASSWORD,
        },
    )
    new_codes = _CODES.findall(fresh.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    old = Client(platform)
    login(old, ACME, "owner@acme.test")
    assert second_step(old, codes[4]).status_code == 401
    assert second_step(old, new_codes[0]).status_code == 303


def test_wrong_codes_count_against_the_login_throttle(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = Client(platform)
    login(owner, ACME, "owner@acme.test")
    enrol(owner)
    attacker = Client(platform)
    login(attacker, ACME, "owner@acme.test")
    wrong = wrong_code(pyotp.TOTP(pyotp.random_base32()))
    statuses = [second_step(attacker, wrong).status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


def test_an_owner_requires_it_and_members_must_set_it_up(platform, tenant_client) -> None:
    owner = tenant_client("acme")
    member = tenant_client("acme", role="member")
    page = owner.get("/settings/")
    data = {
        "csrf_token": csrf_token(page),
        "display_name": "Acme",
        "accent": "#4f46e5",
        "require_2fa": "y",
    }
    refused = owner.post("/settings/", data=data)
    assert refused.status_code == 409
    assert "Set up two-factor sign-in for yourself first" in refused.get_data(as_text=True)
    enrol_as(owner)
    assert owner.post("/settings/", data=data).status_code == 302
    platform.registry.refresh(force=True)
    sent = member.get("/notes/")
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/account/2fa/setup")
    setup = member.get("/account/2fa/setup")
    assert "requires it for every member" in setup.get_data(as_text=True)
    # Turning it off is refused while the workspace requires it.
    off = owner.post(
        "/account/2fa/disable",
        data={"csrf_token": csrf_token(owner.get("/account/")), "disable_password": PASSWORD},
    )
    assert off.status_code == 303
    assert "This workspace requires two-factor sign-in" in owner.get("/account/").get_data(
        as_text=True
    )


def enrol_as(client) -> None:
    page = client.get("/account/2fa/setup")
    secret = _SECRET.search(page.get_data(as_text=True)).group(1).replace(" ", "")
    done = client.post(
        "/account/2fa/setup",
        data={"csrf_token": csrf_token(page), "code": pyotp.TOTP(secret).now()},
    )
    assert done.status_code == 200


def test_turning_it_off_needs_the_password(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = Client(platform)
    login(owner, ACME, "owner@acme.test")
    enrol(owner)
    token = csrf_token(owner.get("/account/", headers=HOST))
    owner.post(
        "/account/2fa/disable", headers=HOST, data={"csrf_token": token, "disable_password": "no"}
    )
    assert "stays on" in owner.get("/account/", headers=HOST).get_data(as_text=True)
    owner.post(
        "/account/2fa/disable",
        headers=HOST,
        data={"csrf_token": token, "disable_password": PASSWORD},
    )
    assert login(Client(platform), ACME, "owner@acme.test").status_code == 302
