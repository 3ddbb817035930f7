"""What the accounts-and-email tests share: verified owners, opening mailed links."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from werkzeug.test import Client, TestResponse

from tenants.accounts.models import User, utcnow
from tenants.kernel import Platform
from tests.helpers import csrf_token


def verify_all(platform: Platform, slug: str) -> None:
    """Mark every account of ``slug`` verified (as if each had followed its link)."""
    tenant = platform.registry.get(slug)
    assert tenant is not None
    engine = platform.storage.engine_for(tenant.id)
    try:
        with engine.begin() as connection:
            connection.execute(sa.update(User).values(email_verified_at=utcnow()))
    finally:
        platform.storage.release(engine)


def open_link(client: Client, url: str, data: dict[str, str] | None = None) -> TestResponse:
    """GET (or POST ``data`` to) an absolute link from a message, on its own host."""
    parts = urlsplit(url)
    headers = {"Host": parts.netloc}
    if data is None:
        return client.get(parts.path, headers=headers)
    return client.post(parts.path, headers=headers, data=data)


def confirm_link(client: Client, url: str) -> TestResponse:
    """Open a confirmation link and press its Confirm button (opening alone changes nothing)."""
    page = open_link(client, url)
    if page.status_code != 200:
        return page
    return open_link(client, url, data={"csrf_token": csrf_token(page)})


def user_row(platform: Platform, slug: str, email: str) -> User | None:
    tenant = platform.registry.get(slug)
    assert tenant is not None
    engine = platform.storage.engine_for(tenant.id)
    try:
        with sa.orm.Session(engine, expire_on_commit=False) as session:
            return session.execute(
                sa.select(User).where(sa.func.lower(User.email) == email.lower())
            ).scalar_one_or_none()
    finally:
        platform.storage.release(engine)
