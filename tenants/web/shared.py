"""One compiled URL map and one Jinja environment for all the apps built from one definition.

With one Flask app per tenant, every app of a product registers the same routes and
renders the same templates. Compiling them again for each app is most of what building
an app costs (werkzeug compiles each rule; Jinja compiles each template), and keeping
the copies costs memory in every cached app. A :class:`SharedParts` object, made once per
app *definition* (a product's factory; the platform's console), holds what those apps
share:

- the URL map: the first app that calls :meth:`SharedFlask.ready` donates its compiled
  map; every later app checks each rule it registers against it (a rule the map does not
  have is refused at once, naming the rule) and uses the shared map;
- the Jinja environment, compiled once per process, with a loader built from the app's
  ``templates`` folder, then each blueprint's ``template_folder`` (in registration order),
  then the shared ``tenants/web/templates``. Templates reload when changed if the first
  app was in debug mode (``TEMPLATES_AUTO_RELOAD``, else ``app.debug``);
- template globals: ``app.add_template_global`` (and ``@app.template_global``) belong to
  that app only and are resolved through the current app at render time; what extensions
  write to ``app.jinja_env.globals`` is shared, and refused if two apps write different
  values for one name (that would leak one app's value into another's pages).

Usage::

    PARTS = SharedParts("my-product")

    def create_app(...):
        app = SharedFlask(__name__, parts=PARTS)
        app.register_blueprint(bp)
        return app.ready()
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import flask
from flask import Flask, current_app, has_app_context
from jinja2 import BaseLoader, Environment, FileSystemLoader, TemplateNotFound
from werkzeug.local import LocalProxy
from werkzeug.routing import Map, Rule

from tenants.web import TEMPLATES_DIR

#: ``app.extensions`` key of an app's own template globals.
_OWN_GLOBALS = "tenants.own_template_globals"


class RoutesDifferError(RuntimeError):
    """An app registered a route that the shared URL map of its definition does not have."""


class TemplateGlobalConflict(RuntimeError):
    """Two apps of one definition wrote different values for one shared template global."""


class _RuleCollector:
    """Stands in for the URL map while a later app registers a rule: compiles nothing."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add(self, rule: Rule) -> None:
        self.rules.append(rule)


def _call_key(
    rule: str,
    endpoint: str | None,
    view_func: Callable[..., Any] | None,
    provide_automatic_options: bool | None,
    options: dict[str, Any],
) -> tuple[Any, ...] | None:
    """An ``add_url_rule`` call as a hashable key (None when an option is not hashable)."""
    frozen = []
    for name, value in sorted(options.items()):
        if isinstance(value, list | set | frozenset | tuple):
            value = tuple(sorted(value)) if all(isinstance(v, str) for v in value) else None
        elif isinstance(value, dict):
            value = tuple(sorted(value.items()))
        try:
            hash(value)
        except TypeError:
            return None
        frozen.append((name, value))
    return (rule, endpoint, id(view_func), provide_automatic_options, tuple(frozen))


def _signature(rule: Rule, url_map: Map) -> tuple[Any, ...]:
    """What makes two rules the same route (bound or not, with the map's defaults)."""
    strict = rule.strict_slashes if rule.strict_slashes is not None else url_map.strict_slashes
    merge = rule.merge_slashes if rule.merge_slashes is not None else url_map.merge_slashes
    return (
        rule.rule,
        rule.endpoint,
        frozenset(rule.methods or ()),
        tuple(sorted((rule.defaults or {}).items())),
        rule.subdomain if rule.subdomain is not None else url_map.default_subdomain,
        rule.host,
        strict,
        merge,
        rule.redirect_to if not callable(rule.redirect_to) else id(rule.redirect_to),
        rule.build_only,
        rule.websocket,
    )


class _SharedLoader(BaseLoader):
    """The app's templates, then its blueprints', then the platform's shared ones.

    Filled from the first app of the definition (blueprint folders are added as they are
    registered); later apps register the same blueprints, so nothing changes.
    """

    def __init__(self) -> None:
        self.app_loader: BaseLoader | None = None
        self.blueprint_loaders: dict[str, BaseLoader] = {}
        self.fallback = FileSystemLoader(TEMPLATES_DIR)

    def loaders(self) -> Iterator[BaseLoader]:
        if self.app_loader is not None:
            yield self.app_loader
        yield from list(self.blueprint_loaders.values())
        yield self.fallback

    def get_source(self, environment: Environment, template: str) -> Any:
        for loader in self.loaders():
            try:
                return loader.get_source(environment, template)
            except TemplateNotFound:
                continue
        raise TemplateNotFound(template)

    def list_templates(self) -> list[str]:
        found: set[str] = set()
        for loader in self.loaders():
            found.update(loader.list_templates())
        return sorted(found)


class _AppGlobals(dict):  # type: ignore[type-arg]
    """The shared environment's globals: the current app's own first, then the shared ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()

    @staticmethod
    def _own() -> dict[str, Any] | None:
        if not has_app_context():
            return None
        return current_app.extensions.get(_OWN_GLOBALS)

    def __getitem__(self, key: str) -> Any:
        own = self._own()
        if own is not None and key in own:
            return own[key]
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        own = self._own()
        return (own is not None and key in own) or dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        own = self._own()
        if not own:
            return dict.__iter__(self)
        return iter({**dict.fromkeys(dict.__iter__(self)), **dict.fromkeys(own)})

    def keys(self) -> Any:  # type: ignore[override]
        return list(self.__iter__())

    def __len__(self) -> int:
        return len(self.keys())

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            current = dict.get(self, key, value)
            if current is not value and current != value:
                raise TemplateGlobalConflict(
                    f"Template global {key!r} is being set to a different value by another "
                    "app of the same definition; apps share their Jinja environment, so use "
                    "app.add_template_global (per app) for values that differ between apps."
                )
            dict.__setitem__(self, key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


class SharedParts:
    """What every app of one definition shares: its URL map and its Jinja environment."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url_map: Map | None = None
        #: The donor app's add_url_rule calls: the same call later needs no checking.
        self.known_calls: frozenset[tuple[Any, ...]] = frozenset()
        self._signatures: frozenset[tuple[Any, ...]] = frozenset()
        self._endpoints: frozenset[str] = frozenset()
        self.loader = _SharedLoader()
        self._environment: Environment | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SharedParts {self.name!r}>"

    # -- URL map --------------------------------------------------------------------

    def adopt(self, app: Flask) -> bool:
        """Keep ``app``'s compiled map for later apps; False if one is kept already."""
        with self._lock:
            if self.url_map is not None:
                return False
            self._signatures = frozenset(
                _signature(rule, app.url_map) for rule in app.url_map.iter_rules()
            )
            self._endpoints = frozenset(rule.endpoint for rule in app.url_map.iter_rules())
            self.known_calls = frozenset(getattr(app, "_rule_calls", ()))
            self.url_map = app.url_map
            return True

    def check_rule(self, rule: Rule) -> None:
        shared = self.url_map
        if shared is not None and _signature(rule, shared) not in self._signatures:
            methods = ", ".join(sorted(rule.methods or ()))
            raise RoutesDifferError(
                f"{self.name}: the route {rule.rule} ({methods}) → {rule.endpoint} is not in "
                "the URL map this definition's apps share. Every app of one definition "
                "must register the same routes (same paths, endpoints, methods and "
                "options): register it in every app, or vary the view's behaviour instead."
            )

    def check_complete(self, app: Flask) -> None:
        missing = self._endpoints - set(app.view_functions)
        if missing:
            raise RoutesDifferError(
                f"{self.name}: this app has no view for {', '.join(sorted(missing))}, which "
                "the shared URL map routes to. Every app of one definition must register "
                "the same routes."
            )

    # -- Jinja environment ------------------------------------------------------------

    def environment(self, app: Flask) -> Environment:
        """The definition's environment, made from the first app that renders."""
        with self._lock:
            if self._environment is None:
                self._environment = self._make_environment(app)
            return self._environment

    def _make_environment(self, app: Flask) -> Environment:
        options = dict(app.jinja_options)
        options.setdefault("autoescape", app.select_jinja_autoescape)
        if "auto_reload" not in options:
            auto_reload = app.config["TEMPLATES_AUTO_RELOAD"]
            options["auto_reload"] = app.debug if auto_reload is None else auto_reload
        options["loader"] = self.loader
        env = Environment(**options)
        env.globals = _AppGlobals(env.globals)
        # What Flask puts there for one app, made to look up the current app instead.
        dict.update(
            env.globals,
            url_for=flask.url_for,
            get_flashed_messages=flask.get_flashed_messages,
            config=LocalProxy(lambda: current_app.config),
            request=flask.request,
            session=flask.session,
            g=flask.g,
        )
        env.policies["json.dumps_function"] = flask.json.dumps
        return env


class SharedFlask(Flask):
    """A Flask app that shares its URL map and Jinja environment with its definition's apps.

    End the factory with ``return app.ready()``; until an app of the definition has
    done that, apps compile their own maps (correct, only slower).
    """

    def __init__(self, import_name: str, *, parts: SharedParts, **kwargs: Any) -> None:
        self.parts = parts
        self._rule_calls: set[tuple[Any, ...]] = set()
        super().__init__(import_name, **kwargs)
        if self.parts.loader.app_loader is None and self.jinja_loader is not None:
            self.parts.loader.app_loader = self.jinja_loader

    # -- routes -----------------------------------------------------------------------

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        shared = self.parts.url_map
        key = _call_key(rule, endpoint, view_func, provide_automatic_options, options)
        if shared is None:
            if key is not None:
                self._rule_calls.add(key)
            super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
            return
        if key is not None and key in self.parts.known_calls:
            # The very call the donor app made: its rule is in the shared map already.
            self.url_map = shared
            if view_func is not None:
                name = endpoint if endpoint is not None else view_func.__name__
                registered = self.view_functions.get(name)
                if registered is not None and registered != view_func:
                    raise RoutesDifferError(f"Two view functions for endpoint {name!r}.")
                self.view_functions[name] = view_func
            return
        # Let Flask make the Rule exactly as it would, into a collector that compiles
        # nothing; then check it against the shared map and route with that map.
        collector = _RuleCollector()
        self.url_map = collector  # type: ignore[assignment]
        try:
            super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
        finally:
            self.url_map = shared
        for made in collector.rules:
            self.parts.check_rule(made)

    def ready(self) -> SharedFlask:
        """Call once the app is set up: donate the URL map, or check this app has it all."""
        if not self.parts.adopt(self):
            self.parts.check_complete(self)
        return self

    # -- templates ----------------------------------------------------------------------

    def register_blueprint(self, blueprint: flask.Blueprint, **options: Any) -> None:
        loader = blueprint.jinja_loader
        if loader is not None:
            key = options.get("name", blueprint.name)
            self.parts.loader.blueprint_loaders.setdefault(key, loader)
        super().register_blueprint(blueprint, **options)

    def create_jinja_environment(self) -> Any:
        return self.parts.environment(self)

    def add_template_global(self, f: Callable[..., Any], name: str | None = None) -> None:
        """A global for this app's templates only (resolved through the current app)."""
        self.extensions.setdefault(_OWN_GLOBALS, {})[name or f.__name__] = f
