"""Your account: changing your password ends your sessions on other devices."""

from __future__ import annotations

from werkzeug.test import Client, TestResponse

from tests.conftest import PASSWORD
from tests.helpers import add_member, csrf_token, login

ACME = "acme.example.com"
NEW_PASSWORD = "a-brand-new-password"


def get(client: Client, path: str) -> TestResponse:
    return client.get(path, headers={"Host": ACME})


def change_password(
    client: Client, current: str, new: str = NEW_PASSWORD, confirm: str | None = None
) -> TestResponse:
    token = csrf_token(get(client, "/account/"))
    return client.post(
        "/account/",
        headers={"Host": ACME},
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


def logged_in(platform, email: str = "owner@acme.test", password: str = PASSWORD) -> Client:
    client = Client(platform)
    assert login(client, ACME, email, password).status_code == 302
    return client


def test_password_change_ends_the_other_sessions_only(platform, create_tenant) -> None:
    create_tenant("acme")
    laptop = logged_in(platform)
    phone = logged_in(platform)
    assert get(phone, "/").status_code == 200

    response = change_password(laptop, PASSWORD)
    assert response.status_code == 302
    page = get(laptop, "/account/")
    assert page.status_code == 200
    assert "Your password is changed" in page.get_data(as_text=True)

    gone = get(phone, "/")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert login(Client(platform), ACME, "owner@acme.test", PASSWORD).status_code == 401
    assert login(Client(platform), ACME, "owner@acme.test", NEW_PASSWORD).status_code == 302


def test_wrong_current_password_is_422_and_changes_nothing(platform, create_tenant) -> None:
    create_tenant("acme")
    client = logged_in(platform)
    response = change_password(client, "not-my-password")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="current_password-error"' in page and "not your current password" in page
    assert login(Client(platform), ACME, "owner@acme.test", PASSWORD).status_code == 302


def test_invalid_new_password_is_422_beside_the_field(platform, create_tenant) -> None:
    create_tenant("acme")
    client = logged_in(platform)
    short = change_password(client, PASSWORD, "short")
    assert short.status_code == 422
    assert 'id="new_password-error"' in short.get_data(as_text=True)
    differ = change_password(client, PASSWORD, NEW_PASSWORD, "another-password")
    assert differ.status_code == 422
    assert "The two new passwords differ" in differ.get_data(as_text=True)
    assert login(Client(platform), ACME, "owner@acme.test", PASSWORD).status_code == 302


def test_a_member_changes_their_own_password(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = logged_in(platform)
    add_member(owner, ACME, "ann@acme.test", "ann-password")
    ann = logged_in(platform, "ann@acme.test", "ann-password")
    assert "ann@acme.test" in get(ann, "/account/").get_data(as_text=True)
    assert change_password(ann, "ann-password").status_code == 302
    assert login(Client(platform), ACME, "ann@acme.test", NEW_PASSWORD).status_code == 302
    # The owner's password and session are untouched.
    assert get(owner, "/").status_code == 200
    assert login(Client(platform), ACME, "owner@acme.test", PASSWORD).status_code == 302
