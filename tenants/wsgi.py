"""The WSGI entry point: ``gunicorn -c platform/gunicorn.conf.py tenants.wsgi:application``.

``application`` serves the platform and every tenant; ``app`` is the platform's Flask
app, which is what ``flask --app tenants.wsgi ...`` finds for its CLI.
"""

from __future__ import annotations

from tenants.kernel import Platform, install_platform
from tenants.settings import Settings

settings = Settings.from_environ()
settings.check_secret_key()
platform = Platform(settings)
install_platform(platform)

application = platform
app = platform.console
