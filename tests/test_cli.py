"""The Flask CLI: tenants create/list/suspend/resume/delete, admin create, db upgrade."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import FAST_HASH, TEST_SECRET


@pytest.fixture
def cli(platform):
    runner = platform.console.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return invoke


def test_create_list_suspend_resume_delete(cli, platform) -> None:
    result = cli(
        "tenants",
        "create",
        "acme",
        "--name",
        "Acme",
        "--owner-email",
        "o@acme.test",
        "--owner-password",
        "long-enough",
    )
    assert result.exit_code == 0, result.output
    assert "http://acme.example.com/" in result.output
    assert platform.storage.exists(platform.registry.get("acme").id)

    listing = cli("tenants", "list")
    assert listing.exit_code == 0 and "acme" in listing.output and "active" in listing.output

    assert cli("tenants", "suspend", "acme").exit_code == 0
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme").status == "suspended"
    assert cli("tenants", "resume", "acme").exit_code == 0
    assert cli("tenants", "resume", "acme").output.strip() == "acme is active."  # idempotent
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme").status == "active"

    tenant_id = platform.registry.get("acme").id
    deleted = cli("tenants", "delete", "acme", "--yes")
    assert deleted.exit_code == 0 and "undelete acme" in deleted.output
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme") is None  # routed nowhere (its slug stays reserved)
    assert platform.storage.exists(tenant_id)
    restored = cli("tenants", "undelete", "acme")
    assert (
        restored.exit_code == 0 and restored.output.strip() == "Restored acme: it is active again."
    )
    assert cli("tenants", "delete", "acme", "--yes").exit_code == 0
    wrong = cli("tenants", "purge", "acme", input="acne\n")
    assert wrong.exit_code == 1 and "nothing was purged" in wrong.output
    assert platform.storage.exists(tenant_id)
    purged = cli("tenants", "purge", "acme", input="acme\n")
    assert purged.exit_code == 0, purged.output
    platform.registry.refresh(force=True)
    assert platform.registry.get("acme") is None
    assert not platform.storage.exists(tenant_id)
    assert "acme" in cli("tenants", "list", "--all").output


CREATE = ["tenants", "create"]
OWNER = ["--owner-email", "o@x.test", "--owner-password", "long-enough", "--name", "X"]
ERRORS = [
    ("invalid-slug", [*CREATE, "Not_Valid", *OWNER], "letters a-z"),
    ("too-short", [*CREATE, "ab", *OWNER], "at least 3"),
    ("reserved", [*CREATE, "admin", *OWNER], "reserved"),
    ("reserved-platform-route", [*CREATE, "signup", *OWNER], "reserved"),
    ("punycode", [*CREATE, "xn--bcher-kva", *OWNER], "xn--"),
    ("taken-other-case", [*CREATE, "TAKEN", *OWNER], "taken"),
    (
        "bad-email",
        [
            *CREATE,
            "fresh",
            "--owner-email",
            "nope",
            "--owner-password",
            "long-enough",
            "--name",
            "X",
        ],
        "email",
    ),
    (
        "short-password",
        [*CREATE, "fresh", "--owner-email", "o@x.test", "--owner-password", "short", "--name", "X"],
        "at least 8",
    ),
    ("suspend-unknown", ["tenants", "suspend", "ghost"], "No tenant “ghost”"),
    ("delete-unknown", ["tenants", "delete", "ghost", "--yes"], "No tenant"),
    ("delete-without-yes", ["tenants", "delete", "taken"], "--yes"),
    ("undelete-unknown", ["tenants", "undelete", "ghost"], "No tenant"),
    ("undelete-live", ["tenants", "undelete", "taken"], "is active, not deleted"),
    ("purge-live", ["tenants", "purge", "taken", "--confirm", "taken"], "delete it first"),
    ("purge-unknown", ["tenants", "purge", "ghost", "--confirm", "ghost"], "No tenant"),
    ("admin-bad-email", ["admin", "create", "nope", "--password", "long-enough"], "email"),
]


@pytest.mark.parametrize(("args", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_input_is_one_clear_line(cli, create_tenant, args: list[str], message: str) -> None:
    create_tenant("taken")
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_nothing_is_left_behind_by_a_refused_create(cli, platform, create_tenant) -> None:
    create_tenant("taken")
    before = platform.storage.existing_ids()
    cli("tenants", "create", "TAKEN", *OWNER)
    assert platform.storage.existing_ids() == before


def _flask(tmp_path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        SECRET_KEY=TEST_SECRET,
        INSTANCE_PATH=str(tmp_path),
        BASE_DOMAIN="example.com",
        PASSWORD_HASH_METHOD=FAST_HASH,
        DATABASE_URL=database_url or f"sqlite:///{tmp_path / 'platform.db'}",
    )
    env.pop("FLASK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tenants.wsgi", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_flask_command_end_to_end(tmp_path) -> None:
    assert _flask(tmp_path, "db", "upgrade").returncode == 0
    created = _flask(tmp_path, "tenants", "create", "acme", *OWNER)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "tenant-1.db").exists()
    taken = _flask(tmp_path, "tenants", "create", "acme", *OWNER)
    assert taken.returncode == 1
    assert taken.stderr.strip() == "Error: The subdomain “acme” is taken; choose another one."
    assert (
        _flask(tmp_path, "admin", "create", "root@x.test", "--password", "long-enough").returncode
        == 0
    )


def test_missing_database_says_run_db_upgrade(tmp_path) -> None:
    result = _flask(tmp_path, "tenants", "list")
    assert result.returncode == 1
    assert "db upgrade" in result.stderr and "Traceback" not in result.stderr
