"""The accounts' extension objects: each keeps its state per app."""

from __future__ import annotations

from flask_login import LoginManager
from flask_wtf import CSRFProtect

from tenants.appkit.models import db

__all__ = ["csrf", "db", "login_manager"]

login_manager = LoginManager()
csrf = CSRFProtect()
