"""Extension objects of the platform app."""

from __future__ import annotations

from flask_wtf import CSRFProtect

from tenants.registry.models import RegistryBase
from tenants.sqla import ProvidedEngineSQLAlchemy

registry_db = ProvidedEngineSQLAlchemy(model_class=RegistryBase)
csrf = CSRFProtect()
