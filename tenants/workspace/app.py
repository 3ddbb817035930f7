"""The Flask class of tenant apps: every tenant app has the same routes, compiled once.

Building a tenant app is mostly werkzeug compiling its URL rules; with one app per
tenant that is the same work, and the same compiled map in memory, for every tenant.
The first tenant app built in a process keeps its map; later ones take it instead of
compiling their own and only bind their view functions. So every tenant app must
register exactly the same routes (``create_app`` checks this); routes that differ per
tenant belong in views, not in the URL map.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from flask.sansio.scaffold import _endpoint_from_view_func
from werkzeug.routing import Map

from tenants.web import SharedTemplatesFlask


class RoutesDifferError(RuntimeError):
    """A tenant app registered routes the shared URL map does not have."""


class WorkspaceFlask(SharedTemplatesFlask):
    """A tenant app: the shared Jinja environment and the shared, compiled URL map."""

    _shared_url_map: ClassVar[Map | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Any = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        shared = WorkspaceFlask._shared_url_map
        if shared is None:
            super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
            return
        self.url_map = shared
        if view_func is not None:
            self.view_functions[endpoint or _endpoint_from_view_func(view_func)] = view_func

    def share_routes(self) -> None:
        """Offer this app's map to later apps, or check it matches the one they share."""
        with WorkspaceFlask._shared_lock:
            if WorkspaceFlask._shared_url_map is None:
                WorkspaceFlask._shared_url_map = self.url_map
                return
        endpoints = {rule.endpoint for rule in self.url_map.iter_rules()}
        if not set(self.view_functions) <= endpoints:
            raise RoutesDifferError(
                "Tenant apps share one URL map, so every tenant app must register the same "
                f"routes; these are not in it: {sorted(set(self.view_functions) - endpoints)}."
            )
