"""The entry points: ``gunicorn -c platform/gunicorn.conf.py tenants.wsgi:application``
and ``flask --app tenants.wsgi ...``.

``application`` serves the platform and every tenant; ``app`` is the platform's Flask
app, which is what the ``flask`` CLI finds. Both are built on first use, from the
environment, after the secret key is checked, and by different rules:

- ``application`` is for WSGI servers: it never runs on the public development key,
  whatever ``FLASK_DEBUG`` says (with it, anyone could sign a login link to any tenant),
  nor on a weak key (``tenants.settings.secret_key_weakness``);
- ``app`` (the CLI) accepts the development key in debug mode only
  (``flask --app tenants.wsgi --debug ...``), so local tools work without set-up;
- the development server (``tenants.devserver``) calls ``load(development=True)``.

A refused key raises ``SettingsError`` (WSGI servers stop; gunicorn's config checks the
key first and exits with the one-line message); the CLI exits with that one line.
"""

from __future__ import annotations

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


def loaded() -> Platform | None:
    """The platform if one was built in this process (gunicorn's hooks), else None."""
    return _platform


def __getattr__(name: str) -> Any:
    if name == "application":
        return load()
    if name == "app":
        from tenants.settings import SettingsError

        try:
            return load(development=Settings.from_environ().debug).console
        except SettingsError as error:
            raise SystemExit(f"Error: {error}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
