"""Only the development server runs on the development key; no server runs on a weak one.

Every session, CSRF token and signup login link is signed with a key derived from
SECRET_KEY. The development key is public (it is in the source), so a server running on
it lets anyone sign a login link to any tenant: real gunicorn must refuse to start with
it whatever FLASK_DEBUG says, and with a weak key too, in one line that says what to do.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tenants.settings import (
    DEVELOPMENT_SECRET_KEY,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    secret_key_weakness,
)
from tests.conftest import TEST_SECRET

WEAK_KEYS = [
    # (id, key, what the message says)
    ("sixteen-spaces", " " * 16, "16 characters"),
    ("short", "s3cr3t", "6 characters"),
    ("one-character", "x" * 32, "1 different"),
    ("whitespace-only", " \t" * 20, "2 different"),
    ("two-characters", "ab" * 20, "2 different"),
    ("repeated-word", "password1234password1234password", "repeats a short pattern"),
    ("repeated-digits", "1234567890" * 4, "repeats a short pattern"),
]
STRONG_KEYS = [
    ("token-hex-16", secrets.token_hex(16)),
    ("token-hex-32", secrets.token_hex(32)),
    ("token-urlsafe-32", secrets.token_urlsafe(32)),
    ("the-tests-key", TEST_SECRET),
]


@pytest.mark.parametrize(
    ("key", "reason"), [row[1:] for row in WEAK_KEYS], ids=[row[0] for row in WEAK_KEYS]
)
def test_weak_keys_are_refused_with_the_reason(key: str, reason: str) -> None:
    assert reason in (secret_key_weakness(key) or "")
    settings = Settings(database_url="sqlite://", secret_key=key)
    with pytest.raises(SettingsError, match="too weak") as refused:
        settings.check_secret_key()
    assert "secrets.token_hex(32)" in str(refused.value)
    # Not even where the development key is allowed: only that one key is.
    with pytest.raises(SettingsError, match="too weak"):
        settings.check_secret_key(allow_development_key=True)


@pytest.mark.parametrize("key", [row[1] for row in STRONG_KEYS], ids=[r[0] for r in STRONG_KEYS])
def test_random_keys_pass(key: str) -> None:
    assert secret_key_weakness(key) is None
    Settings(database_url="sqlite://", secret_key=key).check_secret_key()


def test_random_hex_keys_pass_reliably() -> None:
    """The heuristic must not refuse a real random key now and then."""
    refused = [
        key for key in (secrets.token_hex(16) for _ in range(20_000)) if secret_key_weakness(key)
    ]
    assert refused == []


def test_the_development_key_is_only_for_the_development_server() -> None:
    debug = Settings(database_url="sqlite://", debug=True)
    assert debug.secret_key == DEVELOPMENT_SECRET_KEY
    with pytest.raises(SettingsError, match="only the development server"):
        debug.check_secret_key()
    debug.check_secret_key(allow_development_key=True)


# -- real processes --------------------------------------------------------------------------


def environment(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "FLASK_DEBUG", "DATABASE_URL", "BIND", "PORT"}
    }
    env.update(INSTANCE_PATH=str(tmp_path), BIND="127.0.0.1:0", WEB_CONCURRENCY="1")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def gunicorn(env: dict[str, str], *config: str) -> subprocess.CompletedProcess[str]:
    """gunicorn as deployed; it must exit by itself (a server that started would time out)."""
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", *config, "tenants.wsgi:application"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


CONFIG = ("-c", "platform/gunicorn.conf.py")


@pytest.mark.server
@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"FLASK_DEBUG": "1"}, "SECRET_KEY is missing"),
        ({"FLASK_DEBUG": "1", "SECRET_KEY": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY is missing"),
        ({"FLASK_DEBUG": "0"}, "SECRET_KEY is missing"),
        ({"FLASK_DEBUG": "1", "SECRET_KEY": " " * 16}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "x" * 64}, "SECRET_KEY is too weak"),
    ],
    ids=["debug-no-key", "debug-development-key", "no-key", "debug-sixteen-spaces", "one-char"],
)
def test_gunicorn_refuses_to_start_with_one_line_saying_what_to_do(
    tmp_path: Path, changes: dict[str, str], says: str
) -> None:
    result = gunicorn(environment(tmp_path, **changes), *CONFIG)
    assert result.returncode != 0
    output = (result.stdout + result.stderr).strip()
    assert output.count("\n") == 0, output  # one line, no traceback
    assert output.startswith(f"gunicorn: {says}")
    assert "python3 -c 'import secrets; print(secrets.token_hex(32))'" in output
    assert "Booting worker" not in output


@pytest.mark.server
@pytest.mark.parametrize("preload", [True, False], ids=["preload", "workers-load-the-app"])
def test_gunicorn_without_the_config_refuses_too(tmp_path: Path, preload: bool) -> None:
    """Another WSGI set-up (no platform/gunicorn.conf.py): the entry point itself refuses."""
    env = environment(tmp_path, FLASK_DEBUG="1")
    options = ["--bind", "127.0.0.1:0", "--workers", "1"] + (["--preload"] if preload else [])
    result = gunicorn(env, *options)
    assert result.returncode != 0
    assert "SECRET_KEY is missing" in result.stderr
    if preload:  # gunicorn prints a RuntimeError from loading the app as one line
        assert result.stderr.strip().startswith("Error: SECRET_KEY is missing")
        assert result.stderr.strip().count("\n") == 0
    else:  # a worker that cannot load the app stops the whole server
        assert "Worker failed to boot" in result.stderr


def flask(tmp_path: Path, *args: str, **changes: str | None) -> subprocess.CompletedProcess[str]:
    database = f"sqlite:///{tmp_path / 'platform.db'}"
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "tenants.wsgi", *args],
        cwd=tmp_path,
        env=environment(tmp_path, DATABASE_URL=database, **changes),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_needs_a_key_outside_debug_mode(tmp_path: Path) -> None:
    refused = flask(tmp_path, "db", "upgrade")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("Error: SECRET_KEY is missing")
    assert refused.stderr.strip().count("\n") == 0
    weak = flask(tmp_path, "db", "upgrade", SECRET_KEY=" " * 16)
    assert weak.returncode == 1 and "SECRET_KEY is too weak" in weak.stderr
    # Locally, in debug mode, the CLI works with no set-up at all.
    assert flask(tmp_path, "--debug", "db", "upgrade").returncode == 0
    assert flask(tmp_path, "db", "upgrade", SECRET_KEY=TEST_SECRET).returncode == 0
