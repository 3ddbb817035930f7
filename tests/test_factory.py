"""create_app(tenant): config order, identity, and the URL map shared by all tenant apps."""

from __future__ import annotations

import pytest

from tenants.workspace.app import RoutesDifferError, WorkspaceFlask
from tenants.workspace.factory import create_app, derive_tenant_secret


def test_config_defaults_then_environment_then_test_config(
    platform, create_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tenant("acme", name="Acme Corporation")
    tenant = platform.registry.get("acme")
    monkeypatch.setenv("WORKSPACE_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("WORKSPACE_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("WORKSPACE_TENANT_ID", "999")
    app = create_app(tenant, {"MAX_CONTENT_LENGTH": 4096}, platform=platform)
    assert app.config["TENANT_NAME"] == "Acme Corporation"
    assert app.config["MAX_CONTENT_LENGTH"] == 4096  # test config wins over the environment
    # The tenant's identity cannot be changed from the environment.
    assert app.config["SECRET_KEY"] == derive_tenant_secret(platform.settings.secret_key, tenant.id)
    assert app.config["TENANT_ID"] == tenant.id
    monkeypatch.delenv("WORKSPACE_MAX_CONTENT_LENGTH")
    assert create_app(tenant, platform=platform).config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    platform.release_app(app)


def test_tenant_apps_share_one_compiled_url_map(platform, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    acme = platform.tenant_app("acme")
    globex = platform.tenant_app("globex")
    assert acme is not globex
    assert acme.url_map is globex.url_map
    assert acme.view_functions.keys() == globex.view_functions.keys()
    with globex.test_request_context("/notes/", base_url="http://globex.example.com"):
        from flask import url_for

        assert url_for("notes.index") == "/notes/"


def test_a_tenant_app_with_other_routes_is_refused(platform, create_tenant) -> None:
    create_tenant("acme")
    platform.tenant_app("acme")  # the shared map exists
    app = WorkspaceFlask("probe")
    app.view_functions["extra"] = lambda: "x"
    with pytest.raises(RoutesDifferError, match="same routes"):
        app.share_routes()
