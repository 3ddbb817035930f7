"""Journey: add a product module ("tasks") to the reference workspace, as docs/extending.md says.

The module is written to a temporary folder exactly as a user would write it (a package
with the model, blueprint and nav link; one template), a TENANT_APP module composes the
workspace's modules plus tasks over a copy of the workspace's history, and the real
commands run in their own processes: ``tenants revision --autogenerate`` writes the
migration, ``tenants migrate`` brings every existing tenant to it. Then every tenant is
served the new pages, and one tenant's tasks are invisible to another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from werkzeug.test import Client

from tenants.storage import migrations
from tenants.workspace import HISTORY
from tests.conftest import TEST_SECRET
from tests.helpers import csrf_token, login

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tasks_journey"
TENANT_APP = f"{PACKAGE}.workspace_with_tasks:app"

# File 1: the module (model, blueprint, nav link).
TASKS_MODULE = '''"""Tasks: a to-do list shared by the members of a workspace."""

from datetime import datetime

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import Boolean, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from tenants.appkit import NavLink, ProductModule, TenantBase, db, utcnow


class Task(TenantBase):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


bp = Blueprint("tasks", __name__, url_prefix="/tasks", template_folder="templates")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    if request.method == "POST" and request.form.get("title", "").strip():
        db.session.add(Task(title=request.form["title"].strip()[:200]))
        db.session.commit()
        return redirect(url_for("tasks.index"), code=303)
    tasks = db.session.execute(select(Task).order_by(Task.id)).scalars().all()
    return render_template("tasks/index.html", tasks=tasks)


module = ProductModule(
    name="tasks", blueprint=bp, models=(Task,), nav=(NavLink("Tasks", "tasks.index"),)
)
'''

# File 2: its template.
TASKS_TEMPLATE = """{% extends "layout.html" %}
{% block title %}Tasks{% endblock %}
{% block content %}
<h1>Tasks</h1>
<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input name="title" aria-label="New task"><button class="button">Add</button></form>
<ul class="tasks">{% for task in tasks %}<li>{{ task.title }}</li>{% endfor %}</ul>
{% endblock %}
"""

# File 3: the one line that registers it (here a TENANT_APP module, so the test leaves the
# real workspace alone; in a checkout it is one line in tenants/workspace/__init__.py).
COMPOSITION = '''"""The reference workspace plus tasks, over its own copy of the history."""

from pathlib import Path

from tasks_journey import tasks
from tenants.workspace import MODULES, workspace_app

app = workspace_app(
    [*MODULES, tasks.module],
    migrations=Path(__file__).parent / "migrations",
    name="workspace-with-tasks",
)
'''


@pytest.fixture(scope="session")
def tasks_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's project folder: the module, its template, the composition and history."""
    root = tmp_path_factory.mktemp("project")
    package = root / PACKAGE
    (package / "tasks" / "templates" / "tasks").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks" / "__init__.py").write_text(TASKS_MODULE)
    (package / "tasks" / "templates" / "tasks" / "index.html").write_text(TASKS_TEMPLATE)
    (package / "workspace_with_tasks.py").write_text(COMPOSITION)
    shutil.copytree(HISTORY, package / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def command_env(root: Path, database_url: str, instance_path: Path, secret: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance_path),
        "BASE_DOMAIN": "example.com",
        "SECRET_KEY": secret,
        "TENANT_APP": TENANT_APP,
        "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)]),
    }


def flask(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tenants.wsgi", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def generated_revision(tasks_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tenants revision --autogenerate``, once: it needs no database but a scratch one."""
    scratch = tmp_path_factory.mktemp("scratch")
    env = command_env(tasks_project, f"sqlite:///{scratch / 'platform.db'}", scratch, TEST_SECRET)
    result = flask(env, "tenants", "revision", "-m", "add tasks", "--autogenerate")
    assert result.returncode == 0, result.stderr
    versions = tasks_project / PACKAGE / "migrations" / "versions"
    [new] = [path for path in versions.glob("*.py") if not path.name.startswith("000")]
    assert new.name in result.stdout
    return new


@pytest.fixture
def with_tasks_importable(tasks_project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(tasks_project))
    yield
    migrations.forget_scripts()


def test_autogenerate_writes_the_tasks_table_and_nothing_else(generated_revision: Path) -> None:
    source = generated_revision.read_text()
    assert "add tasks" in source
    assert "op.create_table('tasks'" in source or 'op.create_table("tasks"' in source
    # On top of the workspace's head (whatever revision that is now).
    head = ScriptDirectory(str(HISTORY)).get_current_head()
    assert f"down_revision: str | None = '{head}'" in source
    for other in ("users", "notes", "used_login_tokens", "invitations"):
        assert f"create_table('{other}'" not in source and f"drop_table('{other}'" not in source


def test_the_module_is_served_to_every_tenant_after_migrate_and_stays_isolated(
    platform, make_platform, create_tenant, generated_revision: Path, with_tasks_importable
) -> None:
    # Tenants that exist before the module does.
    for slug in ("acme", "globex"):
        create_tenant(slug)
    env = command_env(
        generated_revision.parents[3],
        platform.settings.database_url,
        platform.settings.instance_path,
        platform.settings.secret_key,
    )
    behind = flask(env, "tenants", "status")
    assert behind.returncode == 1, behind.stdout + behind.stderr
    migrated = flask(env, "tenants", "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "Upgraded 2, failed 0" in migrated.stdout

    served = make_platform(tenant_app=TENANT_APP)
    assert served.tenant_app.name == "workspace-with-tasks"
    acme, globex = Client(served), Client(served)
    acme_host, globex_host = {"Host": "acme.example.com"}, {"Host": "globex.example.com"}
    assert login(acme, "acme.example.com", "owner@acme.test").status_code == 302
    assert login(globex, "globex.example.com", "owner@globex.test").status_code == 302

    home = acme.get("/", headers=acme_host).get_data(as_text=True)
    assert 'href="/tasks/"' in home  # the nav link comes from the module's registration
    assert 'href="/notes/"' in home  # the existing modules are still there
    page = acme.get("/tasks/", headers=acme_host)
    assert page.status_code == 200
    token = csrf_token(page)
    added = acme.post("/tasks/", headers=acme_host, data={"title": "Ship it", "csrf_token": token})
    assert added.status_code == 303
    assert "<li>Ship it</li>" in acme.get("/tasks/", headers=acme_host).get_data(as_text=True)
    other = globex.get("/tasks/", headers=globex_host)
    assert other.status_code == 200 and "Ship it" not in other.get_data(as_text=True)

    # The plain workspace (the default TENANT_APP) is untouched in this process.
    assert "tasks" not in platform.tenant_app.metadata.tables
    assert "tasks" in served.tenant_app.metadata.tables
