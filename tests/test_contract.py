"""The contract: loading TENANT_APP, what a TenantApp must hold, and what the kernel imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from flask import render_template

from tenants.contract import ContractError, TenantApp, load_tenant_app
from tenants.web.shared import SharedFlask, SharedParts
from tenants.workspace import app as workspace

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_tenant_app_is_the_workspace() -> None:
    assert load_tenant_app("tenants.workspace:app") is workspace
    assert load_tenant_app("examples.guestbook:app").name == "guestbook"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tenants.workspace", "is not 'package.module:attribute'"),
        ("no_such_package.app:app", "there is no module 'no_such_package.app'"),
        ("tenants.workspace:nothing", "has no attribute 'nothing'"),
        ("tenants.workspace:MODULES", "is a list, not a tenants.contract.TenantApp"),
    ],
    ids=["no-colon", "module-missing", "attribute-missing", "wrong-type"],
)
def test_a_bad_tenant_app_setting_says_what_to_do(spec: str, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        load_tenant_app(spec)


def test_an_import_error_inside_the_app_is_not_hidden(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "broken_product.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency"):
        load_tenant_app("broken_product:app")


def test_a_tenant_app_without_a_history_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="has no env.py"):
        TenantApp(
            name="x",
            create_app=workspace.create_app,
            metadata=workspace.metadata,
            migrations=tmp_path,
            provision=workspace.provision,
            sign_in=workspace.sign_in,
        )


def test_importing_the_dispatcher_loads_neither_flask_nor_sqlalchemy() -> None:
    code = (
        "import sys, tenants.dispatch.subdomain, tenants.dispatch.path, "
        "tenants.dispatch.resolver, tenants.dispatch.requestlog; "
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"


def test_import_layers_hold() -> None:
    """The import-linter contracts of pyproject.toml (scripts/test.sh runs them too)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_a_blueprint_template_folder_is_found(tmp_path: Path) -> None:
    from flask import Blueprint

    folder = tmp_path / "bp_templates" / "probe"
    folder.mkdir(parents=True)
    (folder / "page.html").write_text("from the blueprint")
    parts = SharedParts("bp-probe")
    app = SharedFlask("probe", parts=parts, root_path=str(tmp_path))
    app.register_blueprint(Blueprint("probe", __name__, template_folder=str(folder.parent)))
    app.ready()
    with app.test_request_context("/"):
        assert render_template("probe/page.html") == "from the blueprint"


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_templates_reload_in_debug_only(tmp_path: Path, debug: bool) -> None:
    (tmp_path / "templates").mkdir()
    page = tmp_path / "templates" / "page.html"
    page.write_text("first")
    app = SharedFlask("probe", parts=SharedParts("reload-probe"), root_path=str(tmp_path))
    app.config["DEBUG"] = debug
    app.ready()
    with app.test_request_context("/"):
        assert render_template("page.html") == "first"
        page.write_text("second, edited")
        import os

        os.utime(page, (page.stat().st_atime, page.stat().st_mtime + 5))
        assert render_template("page.html") == ("second, edited" if debug else "first")
