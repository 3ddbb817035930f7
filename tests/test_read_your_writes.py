"""The user who changes the workspace sees the change at once, whichever process answers."""

from __future__ import annotations

from werkzeug.test import Client

from tests.helpers import csrf_token, login

ACME = {"Host": "acme.example.com"}


def test_settings_change_is_seen_at_once_on_a_process_that_has_not_polled(
    make_platform, create_tenant
) -> None:
    writer = make_platform()
    lagging = make_platform(registry_poll_seconds=3600)  # would not poll on its own
    from tenants import lifecycle
    from tests.conftest import PASSWORD

    lifecycle.provision_tenant(
        writer, lifecycle.NewTenant("acme", "Acme", "owner@acme.test", PASSWORD)
    )
    client = Client(lagging)
    login(client, "acme.example.com", "owner@acme.test")
    assert "Acme" in client.get("/", headers=ACME).get_data(as_text=True)

    client.application = writer
    form = client.get("/settings/", headers=ACME)
    saved = client.post(
        "/settings/",
        headers=ACME,
        data={"display_name": "Acme Renamed", "accent": "#0f766e", "csrf_token": csrf_token(form)},
    )
    assert saved.status_code == 302

    client.application = lagging
    first = client.get("/settings/", headers=ACME)
    assert first.status_code == 307 and first.headers["Location"] == "/settings/"
    page = client.get("/settings/", headers=ACME)
    assert page.status_code == 200
    assert "Acme Renamed" in page.get_data(as_text=True)
    assert "--accent: #0f766e" in page.get_data(as_text=True)
    # Caught up: no more redirects.
    assert client.get("/", headers=ACME).status_code == 200
