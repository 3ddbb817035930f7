"""The entry points: ``gunicorn -c platform/gunicorn.conf.py tenants.wsgi:application``
and ``flask --app tenants.wsgi ...``.

``application`` serves the platform and every tenant; ``app`` is the platform's Flask
app, which is what the ``flask`` CLI finds. Both are built on first use, from the
environment, after the secret key is checked, and by different rules:

- ``application`` is for WSGI servers: it never runs on the public development key,
  whatever ``FLASK_DEBUG`` says (with it, anyone could sign a login link to any tenant),
  nor on a weak key (``tenants.settings.secret_key_weakness``);
- ``app`` (the CLI: ``tenants ...`` or ``flask --app tenants.wsgi ...``) accepts the
  development key in debug mode, or on the embedded default database (``DATABASE_URL``
  unset: the SQLite files of the development server, which a deployment never uses), so
  local tools work without set-up. On that key the URLs it prints carry the development
  server's port, since no other server can serve that data;
- the development server (``tenants.devserver``) calls ``load(development=True)``.

A refused key raises ``SettingsError`` (WSGI servers stop; gunicorn's config checks the
key first and exits with the one-line message); the CLI exits with that one line.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from tenants.kernel import Platform, install_platform
from tenants.settings import Settings

_lock = threading.Lock()
_platform: Platform | None = None


def load(*, development: bool = False) -> Platform:
    """The process's platform, built once; refuses an unsafe secret key first (every call).

    ``development``: the caller is the development server (or the CLI in debug mode),
    the only places the public development key is allowed.
    """
    global _platform
    settings = Settings.from_environ()
    settings.check_secret_key(allow_development_key=development)
    with _lock:
        if _platform is None:
            _platform = Platform(settings)
            install_platform(_platform)
        return _platform


def _cli_app() -> Any:
    """The console app for the CLI, or one line on stderr and exit status 1."""
    from tenants.settings import DEVELOPMENT_SECRET_KEY, SettingsError, development_port

    try:
        settings = Settings.from_environ()
        development = settings.debug or settings.embedded_default
        if development and settings.secret_key == DEVELOPMENT_SECRET_KEY:
            if not settings.public_port:
                os.environ["PUBLIC_PORT"] = development_port(settings.instance_path)
        return load(development=development).console
    except SettingsError as error:
        raise SystemExit(f"Error: {error}") from None


def loaded() -> Platform | None:
    """The platform if one was built in this process (gunicorn's hooks), else None."""
    return _platform


def __getattr__(name: str) -> Any:
    if name == "application":
        return load()
    if name == "app":
        return _cli_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
