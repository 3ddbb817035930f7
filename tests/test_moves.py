"""Moving a tenant between PostgreSQL databases (issue 15): copy, verify, flip, recover."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenants import moves
from tenants.registry.models import Tenant
from tests.helpers import Client, csrf_token, login
from tests.test_backups import add_note, fill, rows
from tests.test_multi_database import create, schemas_in, sharded  # noqa: F401 - a fixture

POSTGRES = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)]
)
ROOT = Path(__file__).resolve().parents[1]


def registry_row(platform, tenant_id: int) -> Tenant:
    with Session(platform.engine) as session:
        return session.get_one(Tenant, tenant_id)


def other_database(platform, tenant_id: int) -> str:
    return "second" if registry_row(platform, tenant_id).database == "default" else "default"


def url_of(platform, name: str) -> str:
    return platform.storage.databases[name].url.render_as_string(hide_password=False)


@POSTGRES
def test_move_copies_verifies_flips_and_drops_the_old_copy(sharded, make_platform) -> None:  # noqa: F811
    acme = create(sharded, "acme")
    fill(sharded, acme.id)
    before = rows(sharded, acme.id)
    source = registry_row(sharded, acme.id).database
    target = other_database(sharded, acme.id)
    other_process = make_platform(tenant_databases={"second": url_of(sharded, "second")})
    assert rows(other_process, acme.id) == before  # it has placed acme on the source

    report = moves.move_tenant(sharded, "acme", target, actor="test")

    row = registry_row(sharded, acme.id)
    assert (row.database, row.move_state, row.write_lock_until) == (target, None, None)
    assert (report.source, report.target, report.rows) == (source, target, 5)
    assert 0 < report.write_window < 5
    schema = f"tenant_{acme.id}"
    assert schema in schemas_in(url_of(sharded, target))
    assert not {schema, schema + "_moved"} & schemas_in(url_of(sharded, source))
    assert rows(sharded, acme.id) == before
    # Writes work again, on the target; the other process switches with the registry.
    assert add_note(sharded, acme.id) == 4
    other_process.registry.refresh(force=True)
    record = other_process.registry.get("acme")
    assert record.database == target
    services = other_process.services_for(record)
    with services.engine.connect() as connection:
        notes = sharded.tenant_app.metadata.tables["notes"]
        assert connection.execute(sa.select(sa.func.count()).select_from(notes)).scalar() == 4
    services.close()
    with Session(sharded.engine) as session:
        from tenants.registry.models import AuditEntry

        actions = session.execute(
            sa.select(AuditEntry.action).where(AuditEntry.tenant_id == acme.id)
        ).scalars()
        assert [a for a in actions if a.startswith("tenant.move")] == [
            "tenant.move_start",
            "tenant.move_flip",
            "tenant.move_done",
        ]


ACME = "acme.example.com"


def stale_process(platform, make_platform) -> tuple[object, Client]:
    """Another process serving ``platform``'s tenants, its owner of acme logged in, whose
    next registry poll is an hour away: it sees a move only when a request makes it look."""
    serving = make_platform(
        tenant_databases={"second": url_of(platform, "second")}, registry_poll_seconds=3600
    )
    client = Client(serving)
    assert login(client, ACME, "owner@acme.test").status_code == 302
    return serving, client


@POSTGRES
def test_a_write_that_missed_the_flip_is_told_to_try_again_and_its_retry_lands(
    sharded,  # noqa: F811
    make_platform,
) -> None:
    """A process that has not seen the flip yet serves a write with the app it built for
    the source (a write that waited on the move's locks is in the same place). The old
    copy is gone, so the write fails: the member is told to send it again (503 with
    Retry-After, not a 500), nothing was saved, and the retry lands once, on the target."""
    acme = create(sharded, "acme")
    target = other_database(sharded, acme.id)
    _serving, client = stale_process(sharded, make_platform)
    host = ACME
    note = {
        "title": "sent during the move",
        "body": "",
        "csrf_token": csrf_token(client.get("/notes/new", headers={"Host": host})),
    }

    moves.move_tenant(sharded, "acme", target, actor="test")

    reply = client.post("/notes/new", headers={"Host": host}, data=note)
    assert reply.status_code == 503, reply.text
    assert reply.headers["Retry-After"] == "1"
    assert "nothing from this request was saved" in reply.text
    retry = client.post("/notes/new", headers={"Host": host}, data=note)
    assert retry.status_code == 302
    titles = [row["title"] for row in rows(sharded, acme.id)["notes"]]
    assert titles.count("sent during the move") == 1


@POSTGRES
def test_a_read_that_missed_the_flip_is_served_from_the_new_copy(
    sharded,  # noqa: F811
    make_platform,
) -> None:
    """The same stale process, reading: the dispatcher runs the read once more, on the app
    built for the new copy, so the reader sees its page and never the move."""
    acme = create(sharded, "acme")
    target = other_database(sharded, acme.id)
    serving, client = stale_process(sharded, make_platform)
    host = ACME
    assert client.get("/notes/", headers={"Host": host}).status_code == 200

    moves.move_tenant(sharded, "acme", target, actor="test")
    add_note(sharded, acme.id)  # only the new copy has it

    page = client.get("/notes/", headers={"Host": host})
    assert page.status_code == 200, page.status
    assert ">new<" in page.get_data(as_text=True)
    assert "X-Tenants-Storage-Moved" not in page.headers
    assert serving.registry.get("acme").database == target


@POSTGRES
def test_bad_moves_are_one_clear_error_and_change_nothing(sharded) -> None:  # noqa: F811
    acme = create(sharded, "acme")
    here = registry_row(sharded, acme.id).database
    runner = sharded.console.test_cli_runner()
    for args, message in [
        (["tenants", "move", "acme", "--to", here], "already lives on database"),
        (["tenants", "move", "acme", "--to", "nowhere"], "No database “nowhere”"),
        (["tenants", "move", "ghost", "--to", "second"], "No tenant “ghost”"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and result.output.strip().count("\n") == 0
    row = registry_row(sharded, acme.id)
    assert (row.database, row.move_state, row.write_lock_until, row.version) == (
        here,
        None,
        None,
        registry_row(sharded, acme.id).version,
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_cannot_move(platform, create_tenant) -> None:
    create_tenant("acme")
    with pytest.raises(moves.MoveError, match="needs PostgreSQL"):
        moves.move_tenant(platform, "acme", "second")


@POSTGRES
@pytest.mark.parametrize("step", ["leased", "locked", "copied"])
def test_a_failure_before_the_flip_leaves_the_tenant_on_its_source(sharded, step) -> None:  # noqa: F811
    acme = create(sharded, "acme")
    fill(sharded, acme.id)
    before = rows(sharded, acme.id)
    source = registry_row(sharded, acme.id).database
    target = other_database(sharded, acme.id)

    def fail(reached: str) -> None:
        if reached == step:
            raise RuntimeError(f"failed at {step}")

    with pytest.raises(RuntimeError):
        moves.move_tenant(sharded, "acme", target, step_hook=fail)

    row = registry_row(sharded, acme.id)
    assert (row.database, row.move_state, row.write_lock_until) == (source, None, None)
    assert f"tenant_{acme.id}" not in schemas_in(url_of(sharded, target))
    assert rows(sharded, acme.id) == before
    assert add_note(sharded, acme.id) == 4  # writable at once
    assert moves.move_tenant(sharded, "acme", target).rows == 6


@POSTGRES
def test_a_failure_after_the_flip_is_finished_by_running_again(sharded) -> None:  # noqa: F811
    acme = create(sharded, "acme")
    fill(sharded, acme.id)
    source = registry_row(sharded, acme.id).database
    target = other_database(sharded, acme.id)

    def fail(reached: str) -> None:
        if reached == "flipped":
            raise RuntimeError("failed after the flip")

    with pytest.raises(RuntimeError):
        moves.move_tenant(sharded, "acme", target, step_hook=fail)
    row = registry_row(sharded, acme.id)
    assert row.database == target and row.move_state["flipped"] and row.write_lock_until is None
    assert f"tenant_{acme.id}" in schemas_in(url_of(sharded, source))  # not retired yet

    report = moves.move_tenant(sharded, "acme", target)

    assert report.recovered == "finished"
    assert registry_row(sharded, acme.id).move_state is None
    assert f"tenant_{acme.id}" not in schemas_in(url_of(sharded, source))


def kill_mid_move(platform, slug: str, target: str, step: str, lease: float, tmp_path: Path):
    settings = platform.settings
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    fields["instance_path"] = str(settings.instance_path)
    marker = tmp_path / f"moved-to-{step}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.move_child",
            json.dumps(fields),
            slug,
            target,
            step,
            str(lease),
            str(marker),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, f"the move exited early ({child.returncode})"
            assert time.monotonic() < deadline, "the move never reached its step"
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL


@POSTGRES
@pytest.mark.slow
@pytest.mark.parametrize("step", moves.STEPS)
def test_a_move_killed_at_any_step_recovers(sharded, client, step, tmp_path) -> None:  # noqa: F811
    acme = create(sharded, "acme")
    fill(sharded, acme.id)
    before = rows(sharded, acme.id)
    source = registry_row(sharded, acme.id).database
    target = other_database(sharded, acme.id)
    lease = 5.0

    kill_mid_move(sharded, "acme", target, step, lease, tmp_path)
    sharded.storage.forget(acme.id)  # read the placement as a process seeing the registry

    row = registry_row(sharded, acme.id)
    flipped = step in ("flipped", "retired")
    assert row.database == (target if flipped else source)
    assert rows(sharded, acme.id) == before  # nothing lost, wherever it is read
    # Writable again within the lease, with nobody running anything.
    deadline = time.monotonic() + lease + 2
    sharded.registry.refresh(force=True)
    while sharded.registry.get("acme").refuses_writes() is not None:
        assert time.monotonic() < deadline, "the tenant stayed read-only past its lease"
        time.sleep(0.2)
        sharded.registry.refresh(force=True)

    report = moves.move_tenant(sharded, "acme", target)

    assert report.recovered == ("finished" if flipped else "undone")
    row = registry_row(sharded, acme.id)
    assert (row.database, row.move_state) == (target, None)
    assert rows(sharded, acme.id) == before
    schema = f"tenant_{acme.id}"
    assert not {schema, schema + "_moved"} & schemas_in(url_of(sharded, source))
    assert add_note(sharded, acme.id) == 4


@POSTGRES
def test_admin_sees_databases_and_queues_a_move(sharded, tmp_path) -> None:  # noqa: F811
    from werkzeug.test import Client

    from tenants.admins import create_admin
    from tenants.jobs.runtime import close_runtime, install_runtime
    from tests.conftest import PASSWORD
    from tests.helpers import csrf_token
    from tests.jobs_support import make_job_settings, running_worker, wait_for
    from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

    acme = create(sharded, "acme")
    create(sharded, "globex")
    create_admin(sharded, ADMIN_EMAIL, PASSWORD)
    admin = Client(sharded)
    assert log_in_admin(admin).status_code == 303

    page = admin.get("/admin/databases", headers=HOST)
    assert page.status_code == 200
    text = page.text
    assert "<code>default</code></td>\n          <td>1</td>" in text
    assert "<code>second</code></td>\n          <td>1</td>" in text
    assert text.count(" MB</td>") == 2

    source = registry_row(sharded, acme.id).database
    target = other_database(sharded, acme.id)
    tenant_page = admin.get(f"/admin/tenants/{acme.id}", headers=HOST)
    assert "Move to another database" in tenant_page.text
    token = csrf_token(tenant_page)
    refused = admin.post(
        f"/admin/tenants/{acme.id}/move", headers=HOST, data={"csrf_token": token, "to": source}
    )
    assert refused.status_code == 422

    runtime = install_runtime(sharded, make_job_settings("embedded", tmp_path))
    try:
        queued = admin.post(
            f"/admin/tenants/{acme.id}/move",
            headers=HOST,
            data={"csrf_token": token, "to": target},
        )
        assert queued.status_code == 303
        with running_worker(runtime):
            wait_for(
                lambda: (
                    registry_row(sharded, acme.id).move_state is None
                    and registry_row(sharded, acme.id).database == target
                ),
                timeout=60,
                message="the move job never finished",
            )
    finally:
        close_runtime(sharded)
    assert (
        "<code>" + target + "</code></td>\n          <td>2</td>"
        in admin.get("/admin/databases", headers=HOST).text
    )
