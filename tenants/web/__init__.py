"""What the platform's Flask apps and tenant apps built with ``tenants.appkit`` share.

- ``shared``: one compiled URL map and one Jinja environment per app definition;
- ``errors``: error pages, and the 503 for a database that cannot be reached;
- ``redirects``: ``safe_next`` for "go back to where you were" after a login;
- ``templates/`` (``base.html``, ``_form.html``, ``errors/``) and ``static/`` (``app.css``).
"""

from __future__ import annotations

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
