"""Two-factor sign-in for platform admins (issue 14 item 7): enrolment, login with a code
and with a recovery code, replays refused, and ADMIN_REQUIRE_2FA (on in production)."""

from __future__ import annotations

import re
import time

import pyotp
from werkzeug.test import Client

from tenants.admins import create_admin
from tenants.settings import Settings
from tenants.testing import PASSWORD
from tests.helpers import csrf_token
from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

_SECRET = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
_CODES = re.compile(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>")


def enrol(client: Client) -> tuple[pyotp.TOTP, list[str]]:
    page = client.get("/admin/account/2fa", headers=HOST)
    assert page.status_code == 200
    secret = _SECRET.search(page.get_data(as_text=True)).group(1).replace(" ", "")
    totp = pyotp.TOTP(secret)
    done = client.post(
        "/admin/account/2fa",
        headers=HOST,
        data={"csrf_token": csrf_token(page), "code": totp.now()},
    )
    assert done.status_code == 200
    return totp, _CODES.findall(done.get_data(as_text=True))


def code_step(client: Client, code: str):
    page = client.get("/admin/login/2fa", headers=HOST)
    return client.post(
        "/admin/login/2fa", headers=HOST, data={"csrf_token": csrf_token(page), "code": code}
    )


def test_an_admin_enrols_and_logs_in_with_a_code_then_a_recovery_code(platform, client) -> None:
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    assert log_in_admin(client).status_code == 303
    totp, codes = enrol(client)
    assert len(codes) == 10

    browser = Client(platform)
    first = log_in_admin(browser)
    assert first.headers["Location"].endswith("/admin/login/2fa")
    assert browser.get("/admin/", headers=HOST).status_code == 302
    code = totp.at(time.time() + 30)
    assert code_step(browser, code).status_code == 303
    assert browser.get("/admin/", headers=HOST).status_code == 200

    replay = Client(platform)
    log_in_admin(replay)
    assert code_step(replay, code).status_code == 401

    spare = Client(platform)
    log_in_admin(spare)
    assert code_step(spare, codes[0]).status_code == 303
    again = Client(platform)
    log_in_admin(again)
    assert code_step(again, codes[0]).status_code == 401


def test_with_admin_require_2fa_an_admin_sets_it_up_first(make_platform) -> None:
    platform = make_platform(admin_require_2fa=True)
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    client = Client(platform)
    assert log_in_admin(client).status_code == 303
    sent = client.get("/admin/", headers=HOST)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/admin/account/2fa")
    enrol(client)
    assert client.get("/admin/", headers=HOST).status_code == 200


def test_admin_2fa_is_required_in_production_by_default() -> None:
    assert Settings.from_environ({}, load_dotenv=False).admin_require_2fa is True
    debug = Settings.from_environ({"FLASK_DEBUG": "1"}, load_dotenv=False)
    assert debug.admin_require_2fa is False
    off = Settings.from_environ({"ADMIN_REQUIRE_2FA": "0"}, load_dotenv=False)
    assert off.admin_require_2fa is False
