"""The extension objects every tenant app shares: each keeps its state per app."""

from __future__ import annotations

from flask_login import LoginManager
from flask_wtf import CSRFProtect

from tenants.sqla import ProvidedEngineSQLAlchemy
from tenants.workspace.models import WorkspaceBase

db = ProvidedEngineSQLAlchemy(model_class=WorkspaceBase)
login_manager = LoginManager()
csrf = CSRFProtect()
