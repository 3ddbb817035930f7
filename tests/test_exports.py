"""The owner's "Download all data": a background job, a signed link that expires (issue 15)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
import zipfile
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import exports, lifecycle
from tenants.registry.models import AuditEntry
from tests.helpers import csrf_token
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    queue_kind,
    running_worker,
    wait_for,
)
from tests.test_backups import fill, rows


@pytest.fixture
def queue_kind() -> str:  # noqa: F811 - exports do not depend on the queue
    return "embedded"


def request_export(owner) -> None:
    page = owner.get("/settings/")
    assert page.status_code == 200 and "Download all data" in page.text
    response = owner.post("/settings/export", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302


def download(client, url: str, **headers: str):
    parts = urlsplit(url)
    return client.get(parts.path, headers={"Host": parts.netloc, **headers})


def audit_actions(platform, tenant_id: int) -> list[str]:
    with Session(platform.engine) as session:
        return list(
            session.execute(
                select(AuditEntry.action)
                .where(AuditEntry.tenant_id == tenant_id, AuditEntry.action.like("tenant.export%"))
                .order_by(AuditEntry.id)
            ).scalars()
        )


def test_owner_downloads_all_data_without_secrets(platform, client, tenant_client, jobs):  # noqa: F811
    owner = tenant_client("acme")
    tenant = platform.registry.get("acme")
    fill(platform, tenant.id)
    expected = rows(platform, tenant.id)

    request_export(owner)
    page = owner.get("/settings/").text
    assert "An export is being prepared" in page and "Download all data</button>" not in page
    request_export_again = owner.post(
        "/settings/export", data={"csrf_token": csrf_token(owner.get("/settings/"))}
    )
    assert request_export_again.status_code == 302  # a second click joins the first job
    assert (
        len(
            list(
                exports.exports_directory(platform.settings.instance_path, tenant.id).glob(
                    ".pending-*"
                )
            )
        )
        == 1
    )

    with running_worker(jobs):
        wait_for(lambda: tenant_services_ready(platform, tenant), message="no export was built")
    page = owner.get("/settings/").text
    assert "An export is being prepared" not in page and "Download all data</button>" in page
    link = platform.services_for(tenant).exports.ready()[0]
    assert link.url in page.replace("&amp;", "&")

    response = download(client, link.url)
    body = response.get_data()
    response.close()

    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["kind"] == "export" and manifest["tenant"]["slug"] == "acme"
        assert manifest["schema_revision"] == tenant.storage_revision
        assert set(manifest["tables"]) == {"users", "notes"}
        # Credentials and sign-in state stay out: hashes, TOTP secrets, tokens, invitations.
        assert manifest["omitted"] == {
            "invitations": ["*"],
            "recovery_codes": ["*"],
            "used_login_tokens": ["*"],
            "user_sessions": ["*"],
            "users": [
                "email_verified_at",
                "password_hash",
                "pending_email",
                "totp_last_step",
                "totp_secret",
            ],
        }
        for name, entry in manifest["tables"].items():
            data = zf.read(f"tables/{name}.jsonl")
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            exported = [json.loads(line) for line in data.splitlines()]
            assert len(exported) == entry["rows"]
            wanted = [
                {k: v for k, v in row.items() if k in entry["columns"]} for row in expected[name]
            ]
            assert exported == wanted
            table = list(csv.reader(io.StringIO(zf.read(f"tables/{name}.csv").decode())))
            assert table[0] == entry["columns"] and len(table) == entry["rows"] + 1
        everything = b"".join(zf.read(item) for item in zf.namelist())
        assert b"secret-hash" not in everything  # the member's hash
        assert owner_hash(platform, tenant.id).encode() not in everything
    assert audit_actions(platform, tenant.id) == [
        "tenant.export_requested",
        "tenant.export",
        "tenant.export_download",
    ]


def owner_hash(platform, tenant_id: int) -> str:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.connect() as connection:
            users = platform.tenant_app.metadata.tables["users"]
            return connection.execute(
                select(users.c.password_hash).where(users.c.role == "owner")
            ).scalar_one()
    finally:
        platform.storage.release(engine)


def tenant_services_ready(platform, tenant) -> bool:
    services = platform.services_for(tenant)
    return bool(services.exports.ready()) and not services.exports.pending()


def test_links_cannot_be_bent_and_expire(platform, client, create_tenant, monkeypatch) -> None:
    acme = create_tenant("acme")
    create_tenant("globex")
    path = exports.build_export(platform, acme.id, "owner@acme.test")
    url = exports.signed_url(platform, acme.id, path.name)
    token = urlsplit(url).path.rsplit("/", 1)[1]
    first = download(client, url)
    first.get_data()
    first.close()
    assert first.status_code == 200

    # A changed signature or a path: not found; another tenant's id names no file: gone.
    assert (
        download(client, url[:-2] + ("AA" if not url.endswith("AA") else "BB")).status_code == 404
    )
    globex = platform.registry.get("globex")
    other = exports.signed_url(platform, globex.id, path.name)
    assert download(client, other).status_code == 410  # globex has no such file
    sneaky = exports.signed_url(platform, acme.id, "../tenant-2/x.zip")
    assert download(client, sneaky).status_code == 404
    # Past EXPORT_LINK_HOURS the link says so.
    later = time.time() + platform.settings.export_link_hours * 3600 + 5
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    expired = download(client, f"http://example.com/exports/{token}")
    monkeypatch.undo()
    assert expired.status_code == 410 and "expired" in expired.text
    # A deleted workspace's links stop working at once.
    lifecycle.delete_tenant(platform, "acme")
    gone = download(client, url)
    assert gone.status_code == 410 and "no longer exists" in gone.text


def test_members_cannot_export(platform, tenant_client) -> None:
    member = tenant_client("acme", role="member")
    page = member.get("/members/")
    response = member.post("/settings/export", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 403


def test_expired_files_are_pruned_and_purge_removes_the_rest(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    old = exports.build_export(platform, acme.id, "owner@acme.test")
    new = exports.build_export(platform, acme.id, "owner@acme.test")
    past = time.time() - platform.settings.export_link_hours * 3600 - 60
    os.utime(old, (past, past))
    assert exports.prune_exports(platform) == 1
    assert not old.exists() and new.exists()
    assert [
        link.name for link in platform.services_for(platform.registry.get("acme")).exports.ready()
    ] == [new.name]
    lifecycle.delete_tenant(platform, "acme")
    lifecycle.purge_tenant(platform, "acme", confirm="acme")
    assert not new.parent.exists()


def test_an_app_that_declares_no_export_offers_none(platform, create_tenant) -> None:
    import dataclasses

    acme = create_tenant("acme")
    platform.tenant_app = dataclasses.replace(platform.tenant_app, export=None)
    assert platform.services_for(platform.registry.get("acme")).open_exports is None
    with pytest.raises(exports.ExportNotAvailable, match="declares no export"):
        exports.build_export(platform, acme.id, "owner@acme.test")
