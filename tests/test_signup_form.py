"""The signup form as a person meets it: a second password field, a strength hint, common
passwords refused, and after any mistake the password kept and the cursor on the field to fix."""

from __future__ import annotations

import re

import pytest
from werkzeug.test import Client

from tenants.admins import InvalidAdmin, create_admin
from tenants.validation import common_password, password_problem
from tests.conftest import PASSWORD
from tests.test_signup import ROOT, signup


def autofocused(page: str) -> str:
    match = re.search(r"<(?:input|textarea|select)[^>]*\bautofocus\b[^>]*>", page)
    assert match is not None, "no field has the focus"
    return re.search(r'\sid="([^"]+)"', match.group(0)).group(1)


def error_of(page: str, field: str) -> str:
    return page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]


def test_the_form_asks_twice_and_says_what_makes_a_good_password(client: Client) -> None:
    page = client.get("/signup", headers=ROOT).get_data(as_text=True)
    assert 'name="confirm"' in page and "not a common password" in page
    assert autofocused(page) == "name"


@pytest.mark.parametrize("password", ["password", "Password", "12345678", "iloveyou"])
def test_common_passwords_are_refused(platform, client: Client, password: str) -> None:
    answer = signup(client, password=password, confirm=password)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "most common passwords" in error_of(page, "password")
    assert autofocused(page) == "password"
    assert platform.storage.existing_ids() == set()


def test_the_email_is_not_a_password(client: Client) -> None:
    answer = signup(client, email="founder@acme.test", password="founder@acme.test")
    assert answer.status_code == 422
    assert "email address" in error_of(answer.get_data(as_text=True), "password")


def test_a_mistake_keeps_the_password_and_focuses_the_field_to_fix(client: Client) -> None:
    answer = signup(client, subdomain="ab", password=PASSWORD, confirm=PASSWORD)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert autofocused(page) == "subdomain"
    assert page.count(f'value="{PASSWORD}"') == 2  # both password fields keep it

    differ = signup(client, password=PASSWORD, confirm=PASSWORD + "x")
    assert differ.status_code == 422
    page = differ.get_data(as_text=True)
    assert "differ" in error_of(page, "confirm") and autofocused(page) == "confirm"
    assert signup(client, password=PASSWORD, confirm="").status_code == 422  # sent, empty


def test_a_client_without_the_second_field_is_not_asked(client: Client) -> None:
    assert signup(client).status_code == 200  # the hand-over page


def test_the_rules_and_admins() -> None:
    assert common_password("PASSWORD") and common_password("qwerty123")
    assert not common_password(PASSWORD)
    assert password_problem("short") == "Use at least 8 characters."
    assert password_problem(PASSWORD) is None


def test_admins_get_the_same_rules(platform) -> None:
    with pytest.raises(InvalidAdmin, match="most common"):
        create_admin(platform, "root@platform.test", "password1")
