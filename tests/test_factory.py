"""create_app(tenant, services): config order, identity, and the URL map its apps share."""

from __future__ import annotations

import pytest
from flask import Blueprint, render_template_string, url_for

from tenants.keys import derive_tenant_secret
from tenants.web.shared import RoutesDifferError, SharedFlask


def test_config_defaults_then_environment_then_overrides(
    platform, create_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tenant("acme", name="Acme Corporation")
    tenant = platform.registry.get("acme")
    monkeypatch.setenv("WORKSPACE_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("WORKSPACE_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("WORKSPACE_TENANT_ID", "999")
    app = platform.build_tenant_app(tenant, config={"MAX_CONTENT_LENGTH": 4096})
    assert app.config["TENANT_NAME"] == "Acme Corporation"
    assert app.config["MAX_CONTENT_LENGTH"] == 4096  # overrides win over the environment
    # The tenant's identity cannot be changed from the environment.
    assert app.config["SECRET_KEY"] == derive_tenant_secret(platform.settings.secret_key, tenant.id)
    assert app.config["TENANT_ID"] == tenant.id
    platform.release_app(app)
    monkeypatch.delenv("WORKSPACE_MAX_CONTENT_LENGTH")
    again = platform.build_tenant_app(tenant)
    assert again.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    platform.release_app(again)


def test_tenant_apps_share_one_compiled_url_map(platform, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    acme = platform.tenant_app_for("acme")
    globex = platform.tenant_app_for("globex")
    assert acme is not globex
    assert acme.url_map is globex.url_map
    assert acme.jinja_env is globex.jinja_env
    assert acme.view_functions.keys() == globex.view_functions.keys()
    with globex.test_request_context("/notes/", base_url="http://globex.example.com"):
        assert url_for("notes.index") == "/notes/"


def _probe_app(parts, *extra: tuple[str, str]) -> SharedFlask:
    app = SharedFlask("probe", parts=parts)
    bp = Blueprint("probe", __name__)
    bp.add_url_rule("/probe", "page", lambda: "page")
    for rule, endpoint in extra:
        bp.add_url_rule(rule, endpoint, lambda: "x")
    app.register_blueprint(bp)
    return app.ready()


def test_an_app_with_a_route_the_shared_map_lacks_is_refused_naming_it() -> None:
    from tenants.web.shared import SharedParts

    parts = SharedParts("probe")
    first = _probe_app(parts)
    assert parts.url_map is first.url_map
    with pytest.raises(RoutesDifferError, match=r"/extra \(.*GET.*\) → probe.extra"):
        _probe_app(parts, ("/extra", "extra"))


def test_an_app_missing_a_shared_route_is_refused_naming_it() -> None:
    from tenants.web.shared import SharedParts

    parts = SharedParts("probe")
    _probe_app(parts, ("/extra", "extra"))
    with pytest.raises(RoutesDifferError, match="no view for probe.extra"):
        _probe_app(parts)


def test_two_definitions_keep_their_own_maps_in_one_process() -> None:
    from tenants.web.shared import SharedParts

    one, other = SharedParts("one"), SharedParts("other")
    a = _probe_app(one)
    b = _probe_app(other, ("/extra", "extra"))
    assert a.url_map is not b.url_map
    assert "probe.extra" in b.view_functions and "probe.extra" not in a.view_functions


def test_a_template_global_of_one_app_is_not_seen_by_another(platform, create_tenant) -> None:
    create_tenant("acme")
    create_tenant("globex")
    acme = platform.tenant_app_for("acme")
    globex = platform.tenant_app_for("globex")
    acme.add_template_global(lambda: "acme only", "greeting")
    template = "{{ greeting() if greeting is defined else 'none' }}"
    with acme.test_request_context("/", base_url="http://acme.example.com"):
        assert render_template_string(template) == "acme only"
    with globex.test_request_context("/", base_url="http://globex.example.com"):
        assert render_template_string(template) == "none"


def test_a_shared_global_set_differently_by_two_apps_is_refused(platform, create_tenant) -> None:
    from tenants.web.shared import TemplateGlobalConflict

    create_tenant("acme")
    create_tenant("globex")
    acme = platform.tenant_app_for("acme")
    globex = platform.tenant_app_for("globex")
    acme.jinja_env.globals["shared_thing"] = "acme"
    with pytest.raises(TemplateGlobalConflict, match="add_template_global"):
        globex.jinja_env.globals["shared_thing"] = "globex"
