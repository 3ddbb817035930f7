"""Product modules: a blueprint with its own templates, its models and its nav links.

A product (like the reference workspace) is composed of modules; each is registered by
one line in the product's list, and the layout builds its navigation from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Blueprint

if TYPE_CHECKING:
    from tenants.jobs.catalog import JobDefinition


@dataclass(frozen=True)
class NavLink:
    label: str
    #: The Flask endpoint the link points to, e.g. "notes.index".
    endpoint: str
    owners_only: bool = False

    @property
    def blueprint(self) -> str:
        return self.endpoint.partition(".")[0]


@dataclass(frozen=True)
class ProductModule:
    """One feature of a product: a blueprint (with ``template_folder``) and its tables."""

    name: str
    blueprint: Blueprint
    #: Mapped classes whose tables live in each tenant's storage (referenced ones first).
    models: tuple[type, ...] = ()
    nav: tuple[NavLink, ...] = ()
    #: A template fragment the product's home page includes (e.g. "notes/_home.html").
    home_template: str | None = None
    #: Its background jobs (``@tenant_job`` definitions): the product's TenantApp lists them.
    jobs: tuple[JobDefinition, ...] = ()
