"""What people see of jobs: the admin console (retry, discard, audited) and a workspace's
own Background jobs page (its jobs only, followed until done)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from tenants import lifecycle
from tenants.accounts.models import UsedLoginToken, utcnow
from tenants.admins import create_admin
from tenants.jobs.runtime import JobRuntime
from tenants.kernel import Platform
from tenants.registry.models import AuditEntry
from tenants.testing import PASSWORD
from tests.helpers import add_member, csrf_token, login
from tests.job_samples import fail_until, record_notes
from tests.jobs_support import (  # noqa: F401 - fixtures
    finished,
    job_settings,
    jobs,
    queue_kind,
    running_worker,
    wait_for,
)
from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

Create = Callable[..., lifecycle.ProvisionedTenant]


@pytest.fixture
def queue_kind() -> str:  # noqa: F811 - the pages do not depend on the queue
    return "embedded"


@pytest.fixture
def admin(platform: Platform, client: Client) -> Client:
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    assert log_in_admin(client).status_code == 303
    return client


def audit(platform: Platform) -> list[tuple[str, str, dict]]:
    with Session(platform.engine) as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.action.like("job.%"))
            .order_by(AuditEntry.id)
        ).all()
    return [tuple(row) for row in rows]


def post(client: Client, path: str, **data: str):
    token = csrf_token(client.get("/admin/jobs/?view=all", headers=HOST))
    return client.post(path, headers=HOST, data={"csrf_token": token, **data})


def test_the_console_shows_jobs_per_tenant_and_retries_and_discards_with_an_audit(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
    admin: Client,
) -> None:
    acme = create_tenant("acme")
    create_tenant("globex")
    failing = fail_until.enqueue_for(platform.registry.get("acme"), platform=platform, succeed_on=9)
    with running_worker(jobs):
        wait_for(lambda: finished(jobs, failing.id))
    waiting = [
        record_notes.enqueue_for(platform.registry.get("globex"), platform=platform, label=str(i))
        for i in range(3)
    ]
    page = admin.get("/admin/jobs/", headers=HOST)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3 messages waiting" in text
    summary = re.search(r"By tenant.*?</table>", text, re.S).group(0)
    assert re.search(r">globex</a></td>\s*<td>3</td>\s*<td>0</td>\s*<td>0</td>", summary)
    assert re.search(r">acme</a></td>\s*<td>0</td>\s*<td>0</td>\s*<td><a [^>]*>1</a>", summary)

    failed_page = admin.get(f"/admin/jobs/?view=failed&tenant={acme.id}", headers=HOST)
    assert failing.id[:8] in failed_page.get_data(as_text=True)
    assert "secret internals" in failed_page.get_data(as_text=True)  # admins see the cause

    answer = post(admin, f"/admin/jobs/{failing.id}/retry", view="failed")
    assert answer.status_code == 303
    assert jobs.store.get(failing.id).state == "queued"
    answer = post(admin, f"/admin/jobs/{waiting[0].id}/discard", view="live")
    assert answer.status_code == 303
    assert jobs.store.get(waiting[0].id).state == "discarded"
    assert audit(platform) == [
        (
            ADMIN_EMAIL,
            "job.retry",
            {"job": failing.id, "name": "tests.fail_until", "was": "failed"},
        ),
        (
            ADMIN_EMAIL,
            "job.discard",
            {"job": waiting[0].id, "name": "tests.record_notes", "was": "queued"},
        ),
    ]
    # Discarding it again changes nothing, and says why.
    again = post(admin, f"/admin/jobs/{waiting[0].id}/discard", view="live")
    assert again.status_code == 303
    followed = admin.get(again.headers["Location"], headers=HOST).get_data(as_text=True)
    assert "Nothing changed" in followed and "only queued or failed" in followed
    assert len(audit(platform)) == 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/jobs/?view=nope", 400),
        ("/admin/jobs/?tenant=abc", 400),
        ("/admin/jobs/?page=0", 400),
        ("/admin/jobs/?page=x", 400),
        ("/admin/jobs/?tenant=999", 404),
        ("/admin/jobs/?view=all&tenant=platform", 200),
    ],
)
def test_the_console_refuses_bad_filters_clearly(
    admin: Client,
    jobs: JobRuntime,  # noqa: F811
    path: str,
    status: int,
) -> None:
    response = admin.get(path, headers=HOST)
    assert response.status_code == status
    if status == 400:
        assert (
            "choose" in response.get_data(as_text=True)
            or "whole number" in (response.get_data(as_text=True))
            or "tenant id" in response.get_data(as_text=True)
        )


def test_unknown_jobs_are_404_and_strangers_are_sent_to_log_in(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    client: Client,
) -> None:
    assert client.get("/admin/jobs/", headers=HOST).status_code == 302
    assert client.post(f"/admin/jobs/{'a' * 32}/retry", headers=HOST).status_code in (302, 400)
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    log_in_admin(client)
    assert post(client, f"/admin/jobs/{'a' * 32}/retry").status_code == 404


def tenant_host(slug: str) -> dict[str, str]:
    return {"Host": f"{slug}.example.com"}


def test_an_owner_starts_the_cleanup_and_follows_it_until_done(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    acme = create_tenant("acme")
    app = platform.tenant_app_for("acme")
    from tenants.appkit import db

    with app.app_context():
        db.session.add_all(
            [
                UsedLoginToken(nonce="old", used_at=utcnow().replace(year=2020)),
                UsedLoginToken(nonce="fresh", used_at=utcnow()),
            ]
        )
        db.session.commit()
    owner = Client(platform)
    assert login(owner, "acme.example.com", "owner@acme.test").status_code == 302
    host = tenant_host("acme")
    listing = owner.get("/jobs/", headers=host)
    assert listing.status_code == 200 and "No background jobs yet" in listing.get_data(True)
    started = owner.post("/jobs/cleanup", headers=host, data={"csrf_token": csrf_token(listing)})
    assert started.status_code == 303
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    waiting = owner.get(f"/jobs/{job_id}", headers=host)
    assert waiting.status_code == 200 and waiting.headers["Refresh"] == "2"
    assert "waiting for a worker" in waiting.get_data(as_text=True)
    row = jobs.store.get(job_id)
    assert (row.tenant_id, row.name) == (acme.id, "accounts.purge_spent_login_tokens")

    with running_worker(jobs):
        wait_for(lambda: finished(jobs, job_id))
    done = owner.get(f"/jobs/{job_id}", headers={**host, "Accept": "application/json"})
    body = json.loads(done.get_data(as_text=True))
    assert body["state"] == "succeeded" and body["result"] == {"deleted": 1}
    assert body["percent"] == 100
    page = owner.get(f"/jobs/{job_id}", headers=host)
    assert "Refresh" not in page.headers and "deleted 1" in page.get_data(as_text=True)
    with app.app_context():
        assert [t.nonce for t in db.session.execute(select(UsedLoginToken)).scalars()] == ["fresh"]
    assert "Clean up spent login links" in owner.get("/jobs/", headers=host).get_data(True)


def test_a_workspace_sees_only_its_own_jobs(
    platform: Platform,
    jobs: JobRuntime,  # noqa: F811
    create_tenant: Create,
) -> None:
    create_tenant("acme")
    create_tenant("globex")
    theirs = record_notes.enqueue_for(platform.registry.get("globex"), platform=platform, label="g")
    owner = Client(platform)
    login(owner, "acme.example.com", "owner@acme.test")
    host = tenant_host("acme")
    assert owner.get(f"/jobs/{theirs.id}", headers=host).status_code == 404
    assert owner.get("/jobs/not-a-job-id", headers=host).status_code == 404
    assert theirs.id not in owner.get("/jobs/", headers=host).get_data(as_text=True)
    add_member(owner, "acme.example.com", "member@acme.test", PASSWORD)
    member = Client(platform)
    login(member, "acme.example.com", "member@acme.test")
    assert member.get("/jobs/", headers=host).status_code == 403
