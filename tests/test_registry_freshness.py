"""A process never answers 404 or 403 for a change it could know about (issue 10.1).

Two platforms over one database stand for two server processes. The reader has just
polled the registry (or could not have polled for an hour: ``registry_poll_seconds``
large), then a change is made through the writer and the reader is asked at once, as a
browser does when it follows the signup's redirect.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from sqlalchemy import event
from werkzeug.test import Client

from tenants import lifecycle
from tenants.registry.lookup import MISS_CHECK_BURST
from tests.conftest import PASSWORD
from tests.helpers import csrf_token
from tests.helpers import follow_handoff as submit_handoff

ROOT = {"Host": "example.com"}


def sign_up(client: Client, slug: str):
    page = client.get("/signup", headers=ROOT)
    return client.post(
        "/signup",
        headers=ROOT,
        data={
            "name": f"{slug.title()} Inc",
            "subdomain": slug,
            "email": f"founder@{slug}.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(page),
        },
    )


def follow_handoff(client: Client, response):
    """From the signup's hand-over page into the new workspace, as a browser goes."""
    assert response.status_code == 200, response.status_code
    handed_over = submit_handoff(client, response)
    assert handed_over.status_code == 303, handed_over.status_code
    target = urlsplit(handed_over.headers["Location"])
    host = target.netloc or handed_over.request.host
    return client.get(target.path, headers={"Host": host})


def test_a_new_tenant_is_served_at_once_by_a_process_that_just_polled(
    make_platform, create_tenant
) -> None:
    writer = make_platform()
    reader = make_platform(registry_poll_seconds=3600)  # would not poll on its own for an hour
    create_tenant("busy")
    browser = Client(reader)
    assert browser.get("/login", headers={"Host": "busy.example.com"}).status_code == 200

    for slug in ("acme", "globex", "initech"):
        signed_up = sign_up(Client(writer), slug)
        landed = follow_handoff(browser, signed_up)
        assert landed.status_code == 200, f"{slug}: {landed.status_code}"
        assert f"{slug.title()} Inc" in landed.get_data(as_text=True)


def test_a_resumed_tenant_is_served_at_once_by_a_process_that_saw_it_suspended(
    make_platform, create_tenant
) -> None:
    writer = make_platform()
    reader = make_platform(registry_poll_seconds=3600)
    create_tenant("acme")
    client = Client(reader)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200

    lifecycle.suspend_tenant(writer, "acme")
    reader.registry.refresh(force=True)  # the reader has seen the suspension
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 403

    lifecycle.resume_tenant(writer, "acme")
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200


def test_a_new_tenant_after_an_unknown_name_is_served_at_once(make_platform) -> None:
    """The name was asked for (and refused) before it existed; then it is created."""
    writer = make_platform()
    reader = make_platform(registry_poll_seconds=3600)
    client = Client(reader)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 404

    lifecycle.provision_tenant(
        writer, lifecycle.NewTenant("acme", "Acme", "owner@acme.test", PASSWORD)
    )
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200


def test_a_flood_of_unknown_names_makes_no_query_per_request(make_platform, create_tenant) -> None:
    platform = make_platform(registry_poll_seconds=3600)
    create_tenant("acme")
    client = Client(platform)
    assert client.get("/login", headers={"Host": "acme.example.com"}).status_code == 200
    assert platform.registry.wait_loaded()
    queries: list[str] = []
    event.listen(
        platform.engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_a: None if sql.startswith("BEGIN") else queries.append(sql),
    )
    requests = 3000
    started = time.monotonic()
    for index in range(requests):
        response = client.get("/", headers={"Host": f"nobody-{index}.example.com"})
        assert response.status_code == 404
    elapsed = time.monotonic() - started
    # A bounded freshness check (a burst, then one per interval), never one per request.
    bound = MISS_CHECK_BURST + elapsed / platform.registry.miss_check_seconds + 1
    assert len(queries) <= bound, (len(queries), bound)
    assert len(queries) < requests / 5, (len(queries), elapsed)
    assert all("registry_changes" in sql for sql in queries)  # feed polls only
