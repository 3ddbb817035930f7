"""A toolkit for tenant apps written with Flask (any product may use it).

- :class:`TenantFlask`: a Flask app for one tenant, configured from its
  :class:`~tenants.contract.TenantServices` (secret key, cookies, URL scheme, debug),
  sharing one compiled URL map and one Jinja environment with the other tenants' apps
  of the same definition (:class:`SharedParts`, one per product);
- :func:`tenant_services`: the services of the current (or a given) app;
- :class:`ProvidedEngineSQLAlchemy`: Flask-SQLAlchemy on the engine the platform provides;
- :func:`register_error_pages`: error pages, and a 503 only when the database cannot
  be reached.

A product's factory::

    PARTS = SharedParts("my-product")
    db = ProvidedEngineSQLAlchemy(model_class=MyBase)

    def create_app(tenant, services):
        app = TenantFlask(__name__, services, parts=PARTS)
        db.init_app(app)
        app.register_blueprint(bp)
        return app.ready()
"""

from tenants.appkit.flask_app import TenantFlask, tenant_services
from tenants.appkit.models import TenantBase, db, metadata_of, utcnow
from tenants.appkit.modules import NavLink, ProductModule
from tenants.appkit.sqla import ProvidedEngineSQLAlchemy
from tenants.web.errors import register_error_pages
from tenants.web.shared import RoutesDifferError, SharedParts, TemplateGlobalConflict

__all__ = [
    "NavLink",
    "ProductModule",
    "ProvidedEngineSQLAlchemy",
    "RoutesDifferError",
    "SharedParts",
    "TemplateGlobalConflict",
    "TenantBase",
    "TenantFlask",
    "db",
    "metadata_of",
    "register_error_pages",
    "tenant_services",
    "utcnow",
]
