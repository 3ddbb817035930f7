"""Settings from the environment, with clear errors."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tenants.settings import DEVELOPMENT_SECRET_KEY, Settings, SettingsError
from tests.conftest import TEST_SECRET


def test_defaults_run_on_sqlite_under_instance() -> None:
    settings = Settings.from_environ({}, load_dotenv=False)
    assert settings.is_sqlite and settings.database_url.endswith("instance/platform.db")
    assert settings.base_domain == "localhost"
    assert settings.tenant_routing == "subdomain"
    assert settings.secret_key == DEVELOPMENT_SECRET_KEY


def test_postgres_urls_use_psycopg3() -> None:
    settings = Settings.from_environ({"DATABASE_URL": "postgres://u@h/db"}, load_dotenv=False)
    assert settings.database_url == "postgresql+psycopg://u@h/db" and settings.is_postgres


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BASE_DOMAIN": "https://example.com"}, "BASE_DOMAIN"),
        ({"TENANT_ROUTING": "header"}, "TENANT_ROUTING"),
        ({"TENANT_APP_CACHE_SIZE": "lots"}, "whole number"),
        ({"TENANT_APP_CACHE_SIZE": "0"}, "below 1"),
        ({"REGISTRY_POLL_SECONDS": "-1"}, "negative"),
        ({"PUBLIC_PORT": "80a"}, "PUBLIC_PORT"),
    ],
    ids=[
        "domain-with-scheme",
        "routing",
        "cache-not-number",
        "cache-zero",
        "poll-negative",
        "port",
    ],
)
def test_bad_settings_say_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ(environ, load_dotenv=False)


def test_secret_key_is_required_and_the_development_key_only_where_allowed() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY is missing"):
        Settings.from_environ({}, load_dotenv=False).check_secret_key()
    # Debug mode no longer lets a server use the public key; only the caller decides.
    with pytest.raises(SettingsError, match="SECRET_KEY is missing"):
        Settings.from_environ({"FLASK_DEBUG": "1"}, load_dotenv=False).check_secret_key()
    Settings.from_environ({}, load_dotenv=False).check_secret_key(allow_development_key=True)
    with pytest.raises(SettingsError, match="too weak"):
        Settings.from_environ({"SECRET_KEY": "short"}, load_dotenv=False).check_secret_key()
    strong = Settings.from_environ({"SECRET_KEY": secrets.token_hex(32)}, load_dotenv=False)
    strong.check_secret_key()


def test_wsgi_entry_point_refuses_to_start_without_a_secret(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FLASK_DEBUG"}}
    env["INSTANCE_PATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "from tenants.wsgi import application"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is missing" in result.stderr


def test_urls_come_from_settings_not_requests() -> None:
    settings = Settings(database_url="sqlite://", base_domain="example.com", public_port="8000")
    assert settings.url_for_tenant("acme", "/x") == "http://acme.example.com:8000/x"
    path = settings.with_changes(tenant_routing="path", url_scheme="https", public_port="")
    assert path.url_for_tenant("acme", "/x") == "https://example.com/acme/x"


def test_tenant_databases_setting_is_validated() -> None:
    pg = "postgresql://u@h/db"
    parsed = Settings.from_environ(
        {"DATABASE_URL": pg, "TENANT_DATABASES": "eu=postgresql://u@h/eu, us=postgres://u@h/us"},
        load_dotenv=False,
    )
    assert parsed.tenant_databases == {
        "eu": "postgresql+psycopg://u@h/eu",
        "us": "postgresql+psycopg://u@h/us",
    }
    for bad in (
        "default=postgresql://u@h/x",
        "no-url",
        "EU=postgresql://u@h/x",
        "x=sqlite:///a.db",
    ):
        with pytest.raises(SettingsError, match="TENANT_DATABASES"):
            Settings.from_environ({"DATABASE_URL": pg, "TENANT_DATABASES": bad}, load_dotenv=False)
    with pytest.raises(SettingsError, match="PostgreSQL"):
        Settings.from_environ({"TENANT_DATABASES": "eu=postgresql://u@h/eu"}, load_dotenv=False)


def test_tenant_app_setting_defaults_to_the_workspace() -> None:
    assert Settings.from_environ({}, load_dotenv=False).tenant_app == "tenants.workspace:app"
    chosen = Settings.from_environ({"TENANT_APP": " examples.guestbook:app "}, load_dotenv=False)
    assert chosen.tenant_app == "examples.guestbook:app"


def test_wsgi_entry_point_refuses_to_start_with_an_unknown_tenant_app(tmp_path) -> None:
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": TEST_SECRET,
        "TENANT_APP": "no_such_product:app",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from tenants.wsgi import application"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "TENANT_APP='no_such_product:app': there is no module" in result.stderr
