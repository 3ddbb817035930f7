"""Notes: the reference workspace's example product module.

A product module is a blueprint with its own ``templates/`` folder, its models in the
tenant's storage, and a :class:`~tenants.appkit.ProductModule` that the product lists
(``tenants/workspace/__init__.py``); its nav link comes from here.
"""

from __future__ import annotations

from tenants.appkit.modules import NavLink, ProductModule
from tenants.notes.models import Note
from tenants.notes.views import bp

module = ProductModule(
    name="notes",
    blueprint=bp,
    models=(Note,),
    nav=(NavLink("Notes", "notes.index"),),
    home_template="notes/_home.html",
)
