"""Extension objects of the platform app, and the one way its code reaches the platform."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_wtf import CSRFProtect

from tenants.appkit.sqla import ProvidedEngineSQLAlchemy
from tenants.registry.models import RegistryBase

if TYPE_CHECKING:
    from tenants.kernel import Platform

registry_db = ProvidedEngineSQLAlchemy(model_class=RegistryBase)
csrf = CSRFProtect()

#: ``app.extensions`` key of the platform that built the console app.
_PLATFORM = "tenants.platform"


def attach_platform(app: Flask, platform: Platform) -> None:
    app.extensions[_PLATFORM] = platform


def platform_of(app: Flask | None = None) -> Platform:
    """The platform behind the console ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    return target.extensions[_PLATFORM]
