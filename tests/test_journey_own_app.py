"""Journey: bring your own Flask app. ``TENANT_APP=examples.guestbook:app``, and the platform's
signup, admin console, suspend/delete, fleet migrate and isolation work unchanged.

The platform here is the ``tenants.testing`` plugin's, pointed at the guestbook the way a
user's own test suite would (``tenants_app_spec``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from werkzeug.test import Client

from examples.guestbook import app as guestbook
from tenants.admins import create_admin
from tenants.storage import migrations
from tenants.testing import PASSWORD
from tests.helpers import csrf_token, follow_handoff
from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

ROOT = Path(__file__).resolve().parent.parent
ROOT_HOST = {"Host": "example.com"}
ACME = {"Host": "acme.example.com"}
GLOBEX = {"Host": "globex.example.com"}
ENTRIES = re.compile(r'data-entries="(\d+)"')


@pytest.fixture
def tenants_app_spec() -> str:
    return "examples.guestbook:app"


def entries_shown(client: Client, host: dict[str, str]) -> int:
    page = client.get("/", headers=host)
    assert page.status_code == 200, page.status_code
    match = ENTRIES.search(page.get_data(as_text=True))
    assert match is not None
    return int(match.group(1))


def sign_up(client: Client, slug: str, name: str):
    page = client.get("/signup", headers=ROOT_HOST)
    return client.post(
        "/signup",
        headers=ROOT_HOST,
        data={
            "name": name,
            "subdomain": slug,
            "email": f"founder@{slug}.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(page),
        },
    )


def add_entry(client: Client, host: dict[str, str], text: str):
    token = csrf_token(client.get("/", headers=host))
    return client.post("/", headers=host, data={"text": text, "csrf_token": token})


def test_signup_lands_on_the_guestbook_showing_its_name_and_count(platform) -> None:
    assert platform.tenant_app is not None and platform.tenant_app.name == "guestbook"
    client = Client(platform)
    response = sign_up(client, "acme", "Acme Corporation")
    assert response.status_code == 200
    landed = follow_handoff(client, response)
    assert landed.status_code == 303 and landed.headers["Location"] == "/"
    page = client.get("/", headers=ACME).get_data(as_text=True)
    assert "Acme Corporation's guestbook" in page
    assert entries_shown(client, ACME) == 0
    assert add_entry(client, ACME, "Hello from the founder").status_code == 303
    assert entries_shown(client, ACME) == 1


def test_the_admin_console_describes_suspends_and_deletes_a_guestbook(
    platform, tenant_client
) -> None:
    acme = tenant_client("acme")
    assert add_entry(acme, ACME, "first").status_code == 303
    assert add_entry(acme, ACME, "second").status_code == 303
    tenant_id = platform.registry.get("acme").id

    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    admin = Client(platform)
    assert log_in_admin(admin).status_code == 303
    page = admin.get(f"/admin/tenants/{tenant_id}", headers=HOST).get_data(as_text=True)
    assert re.search(r"Entries</th><td>2</td>", page)
    assert re.search(r"Members</th><td>1</td>", page)

    def act(action: str, **data: str) -> int:
        token = csrf_token(admin.get(f"/admin/tenants/{tenant_id}", headers=HOST))
        return admin.post(
            f"/admin/tenants/{tenant_id}/{action}",
            headers=HOST,
            data={"csrf_token": token, **data},
        ).status_code

    assert act("suspend") == 303
    assert acme.get("/").status_code == 403
    assert act("resume") == 303
    assert entries_shown(acme, {"Host": acme.host}) == 2
    assert act("delete", confirm="acme") == 303
    assert acme.get("/").status_code == 404
    assert platform.storage.exists(tenant_id)  # kept through the grace period
    assert act("purge", confirm="acme") == 303
    assert not platform.storage.exists(tenant_id)


def test_guestbooks_are_isolated(platform, tenant_client, assert_isolated) -> None:
    assert_isolated("entries", {"text": "acme's secret"})
    globex = tenant_client("globex")
    acme = tenant_client("acme", role="member")  # the tenants exist: a member signs in
    assert entries_shown(acme, ACME) == 1
    assert entries_shown(globex, GLOBEX) == 0
    # A session of one guestbook is nobody on another.
    replay = Client(platform)
    cookie = acme.get_cookie("session", domain="acme.example.com")
    replay.set_cookie("session", cookie.value, domain="globex.example.com")
    assert replay.get("/", headers=GLOBEX).status_code == 302


NEW_REVISION = '''"""Add entries.pinned

Revision ID: g0002_pinned
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "g0002_pinned"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "entries", sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("entries", "pinned")
'''


def test_fleet_migrate_upgrades_every_guestbook(platform, create_tenant, tmp_path: Path) -> None:
    """The real command, in its own process, with TENANT_APP naming a copy of the history."""
    for slug in ("acme", "globex"):
        create_tenant(slug)
    history = tmp_path / "guestbook_v2" / "migrations"
    shutil.copytree(guestbook.migrations, history, ignore=shutil.ignore_patterns("__pycache__"))
    # On top of whatever the guestbook's head is now (other revisions come and go).
    head = ScriptDirectory(str(guestbook.migrations)).get_current_head()
    (history / "versions" / "g0002_pinned.py").write_text(NEW_REVISION.replace("{head}", head))
    package = history.parent
    (package / "__init__.py").write_text(
        "import dataclasses\nfrom pathlib import Path\n\n"
        "from examples.guestbook import app as v1\n\n"
        "app = dataclasses.replace(v1, migrations=Path(__file__).parent / 'migrations')\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": platform.settings.database_url,
        "INSTANCE_PATH": str(platform.settings.instance_path),
        "BASE_DOMAIN": "example.com",
        "SECRET_KEY": platform.settings.secret_key,
        "TENANT_APP": "guestbook_v2:app",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    command = [sys.executable, "-m", "flask", "--app", "tenants.wsgi", "tenants"]
    behind = subprocess.run([*command, "status"], env=env, capture_output=True, text=True)
    assert behind.returncode == 1 and "2 of 2 tenants are not at g0002_pinned" in behind.stdout
    migrated = subprocess.run([*command, "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    assert "Upgraded 2, failed 0" in migrated.stdout
    done = subprocess.run([*command, "status"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "All 2 tenants are at g0002_pinned" in done.stdout
    migrations.forget_scripts()
    for slug in ("acme", "globex"):
        tenant_id = platform.registry.get(slug).id
        engine = platform.storage.engine_for(tenant_id)
        try:
            with engine.connect() as connection:
                columns = connection.exec_driver_sql(
                    "SELECT * FROM entries LIMIT 0"
                    if platform.settings.is_sqlite
                    else f'SELECT * FROM "tenant_{tenant_id}".entries LIMIT 0'
                ).keys()
        finally:
            platform.storage.release(engine)
        assert "pinned" in columns
