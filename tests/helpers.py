"""Small helpers the tests share."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from werkzeug.test import Client, TestResponse

from tenants.testing import PASSWORD, handoff_of

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    if match is None:
        raise AssertionError("no csrf_token field on the page")
    return match.group(1) or match.group(2)


def host_of(slug: str | None, domain: str = "example.com") -> str:
    return domain if slug is None else f"{slug}.{domain}"


def login(
    client: Client, host: str, email: str, password: str = PASSWORD, prefix: str = ""
) -> TestResponse:
    page = client.get(f"{prefix}/login", headers={"Host": host})
    return client.post(
        f"{prefix}/login",
        headers={"Host": host},
        data={"email": email, "password": password, "csrf_token": csrf_token(page)},
    )


def add_member(
    owner: Client, host: str, email: str, password: str, role: str = "member"
) -> TestResponse:
    """The owner adds a member through the Members page."""
    token = csrf_token(owner.get("/members/create", headers={"Host": host}))
    return owner.post(
        "/members/create",
        headers={"Host": host},
        data={"csrf_token": token, "email": email, "password": password, "role": role},
    )


def follow_handoff(client: Client, signup_page: TestResponse) -> TestResponse:
    """Do what the hand-over page's script does: POST its form to the tenant."""
    url, fields = handoff_of(signup_page)
    parts = urlsplit(url)
    return client.post(parts.path, headers={"Host": parts.netloc}, data=fields)
