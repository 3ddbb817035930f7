"""The tenant-app contract: everything the platform knows about the app it serves to tenants.

The platform (dispatcher, registry, storage, lifecycle, admin console, CLI) never imports
a tenant app. It loads one :class:`TenantApp` named by the ``TENANT_APP`` setting
(``package.module:attribute``, default ``tenants.workspace:app``) and uses only what is
declared here:

- ``create_app(tenant, services)`` builds the WSGI app of one tenant;
- ``metadata`` and ``migrations`` describe the tenant's storage (its tables, and the
  Alembic script directory that migrates them);
- ``provision(session, owner)`` fills a new tenant's storage (the owner), inside the
  transaction that creates it, and returns the owner's id;
- ``sign_in(services, owner_id)`` says how the platform hands the new owner over to the
  tenant app right after signup, without knowing the app's URLs;
- ``describe(connection)`` gives the facts the admin console may show about a tenant;
- ``jobs`` (optional) lists the background jobs the app declares (``tenants.jobs``):
  the platform's workers run and schedule these, and only these, in its tenants.
- ``after_signup`` (optional) runs once after a signup made the tenant;
  ``member_emails`` (optional) lists its members' addresses for the workspace finder,
  ``owner_emails`` (optional) its owners', whom the platform mails about their tenant.

A tenant app gets what it may use from the platform in one typed object,
:class:`TenantServices`: its tenant record, its storage engine, its secret key, the
settings it needs, its background jobs (``services.jobs``), its outgoing mail
(``services.mail``) and its entries in the workspace finder (``services.directory``).
Usage (a complete tenant app; ``examples/guestbook`` is a fuller one)::

    from pathlib import Path

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from tenants.contract import NewOwner, SignInHandoff, TenantApp, TenantRecord, TenantServices

    metadata = sa.MetaData()
    owners = sa.Table(
        "owners", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254)),
        sa.Column("password_hash", sa.String(255)),
    )

    def create_app(tenant: TenantRecord, services: TenantServices):
        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"Hello from {tenant.display_name}".encode()]
        return hello

    def provision(session: Session, owner: NewOwner) -> int:
        result = session.execute(
            owners.insert().values(email=owner.email, password_hash=owner.password_hash)
        )
        return result.inserted_primary_key[0]

    def sign_in(services: TenantServices, owner_id: int) -> SignInHandoff:
        return SignInHandoff(url=services.url_for("/"), fields={})

    app = TenantApp(
        name="hello",
        create_app=create_app,
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        provision=provision,
        sign_in=sign_in,
    )

Run it with ``TENANT_APP=mypackage.hello:app``. ``docs/extending.md`` walks through a real
one, with its migrations and tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, MetaData
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tenants.registry.record import TenantRecord
from tenants.sessions import SessionLifetimes

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from tenants.domains import TenantDomains
    from tenants.jobs.catalog import JobDefinition
    from tenants.jobs.tenant_api import TenantJobs
    from tenants.mail import TenantMail
    from tenants.registry.directory import TenantDirectory

__all__ = [
    "ContractError",
    "ExportLink",
    "NewOwner",
    "NewUser",
    "PlatformLinks",
    "SessionLifetimes",
    "SignInHandoff",
    "TenantApp",
    "TenantExports",
    "TenantRecord",
    "TenantServices",
    "load_tenant_app",
]


class ContractError(RuntimeError):
    """``TENANT_APP`` names nothing usable; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class NewOwner:
    """The person who signed up: the first account of a new tenant's storage."""

    email: str
    #: Already hashed by the platform (``TenantServices.hash_password``'s method).
    password_hash: str
    #: The name they gave at signup (may be empty: apps let people set it later).
    name: str = ""


@dataclass(frozen=True)
class NewUser:
    """Another account with a role, for tools and tests (``TenantApp.add_user``)."""

    email: str
    password_hash: str
    role: str
    name: str = ""


@dataclass(frozen=True)
class SignInHandoff:
    """Where the platform sends the new owner after signup, and what it posts there.

    The platform answers the signup with a page that POSTs ``fields`` to ``url`` (an
    absolute URL of the tenant, from ``TenantServices.url_for``), submitted by a script
    or by the visible button. One-time credentials therefore travel in a request body,
    never in a URL that lands in access logs.
    """

    url: str
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformLinks:
    """Absolute URLs built from the platform's settings, never from a request's Host."""

    scheme: str
    #: The host (with the public port) and path prefix of the tenant: "acme.example.com"
    #: or "example.com/acme".
    tenant_base: str
    #: "/acme" when tenants are routed by path, else "" (for cookie paths).
    path_prefix: str

    def url_for(self, path: str = "/") -> str:
        """The absolute URL of ``path`` (starting with "/") in this tenant."""
        if not path.startswith("/"):
            raise ValueError(f"{path!r} is not an absolute path; start it with '/'.")
        return f"{self.scheme}://{self.tenant_base}{path}"


@dataclass(frozen=True)
class ExportLink:
    """One customer export ready to download: a signed link that expires."""

    name: str
    url: str
    created_at: datetime
    expires_at: datetime
    size: int


class TenantExports(Protocol):
    """The customer's "download all data" (``services.exports``).

    ``request`` queues a background job that writes a ZIP of the tenant's storage (the
    tables and columns ``TenantApp.export`` names: JSON Lines and CSV per table, and a
    manifest with counts and checksums); ``ready`` lists the finished ones with signed
    links that expire; ``pending`` says whether one is still being built.
    """

    def request(self, requested_by: str) -> str: ...

    def ready(self) -> list[ExportLink]: ...

    def pending(self) -> bool: ...


@dataclass(frozen=True, eq=False)
class TenantServices:
    """What a tenant app may use from the platform, for one tenant.

    Handed to ``TenantApp.create_app`` (and to ``sign_in``). Platform services (background
    jobs, mail) are typed attributes: an app declares what it uses by reading
    them, and nothing is looked up by a string key.
    """

    tenant: TenantRecord
    #: The tenant's own secret key (derived from the platform's; differs per tenant).
    secret_key: str
    links: PlatformLinks
    debug: bool
    #: The platform's instance folder (SQLite files, uploads).
    instance_path: Path
    #: werkzeug.security method for new password hashes.
    password_hash_method: str
    #: Where rate limits count (``memory://``, ``redis://…``): shared by every process.
    ratelimit_storage_url: str
    #: How long a login lasts at most (``SESSION_LIFETIME_HOURS``, ``SESSION_REMEMBER_DAYS``).
    session_lifetimes: SessionLifetimes = field(default_factory=SessionLifetimes)
    #: Extra Flask config for the tenant app (from tests or tools), applied last.
    config_overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Makes the tenant storage's engine (called at most once per services object).
    open_engine: Callable[[], Engine] | None = field(default=None, repr=False)
    #: Frees what ``open_engine`` made: the platform calls :meth:`close` on eviction.
    close_engine: Callable[[Engine], None] | None = field(default=None, repr=False)
    #: Reads the tenant's registry row now (no waiting for the next poll).
    read_tenant: Callable[[], TenantRecord | None] | None = field(default=None, repr=False)
    #: Changes the tenant's display name and settings in the registry (audited).
    write_tenant: Callable[..., TenantRecord] | None = field(default=None, repr=False)
    #: Makes this tenant's job service (called at most once per services object).
    open_jobs: Callable[[], TenantJobs] | None = field(default=None, repr=False)
    #: Makes this tenant's customer-export service (called at most once per services object).
    open_exports: Callable[[], TenantExports] | None = field(default=None, repr=False)
    #: Makes this tenant's entries of the platform's member directory (the finder's).
    open_directory: Callable[[], TenantDirectory] | None = field(default=None, repr=False)
    #: Links expire after these (``INVITATION_DAYS``, ``PASSWORD_RESET_MINUTES``).
    invitation_days: int = 7
    password_reset_minutes: int = 60
    #: Makes this tenant's custom-domain service (called at most once per services object).
    open_domains: Callable[[], TenantDomains] | None = field(default=None, repr=False)

    @property
    def url_scheme(self) -> str:
        return self.links.scheme

    @property
    def path_prefix(self) -> str:
        return self.links.path_prefix

    def url_for(self, path: str = "/") -> str:
        """The absolute URL of ``path`` in this tenant, built from settings."""
        return self.links.url_for(path)

    def hash_password(self, password: str) -> str:
        return generate_password_hash(password, method=self.password_hash_method)

    @cached_property
    def engine(self) -> Engine:
        """The tenant storage's engine (a SQLite file, or a PostgreSQL schema's view)."""
        if self.open_engine is None:
            raise ContractError("These services have no storage (built without open_engine).")
        return self.open_engine()

    @cached_property
    def directory(self) -> TenantDirectory:
        """The platform's "find my workspaces" index for this tenant: ``add(email)``,
        ``remove(email)``, ``replace(old, new)``, ``rebuild(emails)``. Keep it current as
        members join, change address and leave; it stores keyed hashes, never addresses."""
        if self.open_directory is None:
            raise ContractError("These services have no member directory.")
        return self.open_directory()

    @cached_property
    def mail(self) -> TenantMail:
        """This tenant's outgoing mail: ``compose(...)`` a message, ``send(envelope)`` it.

        Sending queues the ``mail.send`` job in this tenant (its retries cover an SMTP
        outage); the message's sender name is the tenant's display name as it is now.
        """
        from tenants.mail import TenantMail

        def queue(message: dict[str, str]) -> object:
            return self.jobs.enqueue("mail.send", message=message)

        # The services are rebuilt when the tenant changes, so this name is current.
        return TenantMail(self.tenant.display_name, queue)

    @cached_property
    def jobs(self) -> TenantJobs:
        """This tenant's background jobs: ``enqueue(job, **args)``, ``get(id)``, ``list_own()``.

        Every job enqueued here is stamped with this tenant; reads answer for this tenant
        only (another tenant's job id is as unknown as one that never existed).
        """
        if self.open_jobs is None:
            raise ContractError("These services have no job queue (built without open_jobs).")
        return self.open_jobs()

    @cached_property
    def exports(self) -> TenantExports:
        """The owner's "download all data": ``request(email)``, ``ready()``, ``pending()``."""
        if self.open_exports is None:
            raise ContractError("These services have no exports (built without open_exports).")
        return self.open_exports()

    @cached_property
    def domains(self) -> TenantDomains:
        """This tenant's custom domains: ``list()``, ``add(raw, actor=)``, ``check(id, actor=)``,
        ``remove``, ``set_primary`` (see ``tenants.domains``); bad input raises DomainError."""
        if self.open_domains is None:
            raise ContractError("These services have no custom domains (built without them).")
        return self.open_domains()

    def close(self) -> None:
        """Release the engine, if one was made (the platform calls this on eviction)."""
        engine = self.__dict__.pop("engine", None)
        if engine is not None and self.close_engine is not None:
            self.close_engine(engine)

    def current_tenant(self) -> TenantRecord | None:
        """The tenant's registry row as it is now: read-your-own-writes after a change.

        Other processes see a change within the registry's poll interval; a request that
        must not show older data than its user just wrote asks here (one query).
        """
        if self.read_tenant is None:
            return self.tenant
        return self.read_tenant()

    def storage_moved(self) -> bool:
        """Has the tenant's storage moved to another database since these services were made?

        Reads the registry now (one query, and this process then rebuilds the tenant's
        app). A database error in a request whose app answers yes was caused by a move
        (the old copy is locked or gone), not by the app: nothing was saved, and the same
        request sent again reaches the new copy.
        """
        if self.read_tenant is None:
            return False
        fresh = self.read_tenant()
        return fresh is not None and fresh.database != self.tenant.database

    def update_tenant(
        self,
        *,
        actor: str,
        display_name: str | None = None,
        settings: Mapping[str, object] | None = None,
    ) -> TenantRecord:
        """Change the tenant's display name or settings (merged); every process rebuilds."""
        if self.write_tenant is None:
            raise ContractError("These services cannot change the registry.")
        return self.write_tenant(
            actor=actor, display_name=display_name, settings=dict(settings or {})
        )


def _describe_nothing(_connection: Connection) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class TenantApp:
    """A product the platform serves to every tenant. See the module docstring.

    New needs of the platform (the tables a customer export includes, the app's
    background jobs) arrive as optional fields with defaults, so existing apps keep working.
    """

    name: str
    create_app: Callable[[TenantRecord, TenantServices], WSGIApplication]
    #: The tenant storage's tables: new tenants get them by ``create_all``.
    metadata: MetaData
    #: The tenant storage's Alembic script directory (with ``env.py`` and ``versions/``).
    migrations: Path
    #: Fill a new tenant's storage (in its creating transaction); return the owner's id.
    provision: Callable[[Session, NewOwner], int]
    #: How the platform hands the new owner to the tenant app after signup.
    sign_in: Callable[[TenantServices, int], SignInHandoff]
    #: Facts the admin console shows about a tenant, read from its storage.
    describe: Callable[[Connection], Mapping[str, object]] = _describe_nothing
    #: Optional: add an account with a role (tests' ``tenant_client(role=...)``, tools).
    add_user: Callable[[Session, NewUser], int] | None = None
    #: The customer export's tables and, for each, the columns it includes (an allow-list:
    #: leave out what is not the customer's to take, like password hashes, TOTP secrets and
    #: session tokens). None: the app offers no export (``services.exports`` is missing).
    #: The operator's backup is always complete.
    export: Mapping[str, Iterable[str]] | None = None
    #: Optional: the app's background jobs (``@tenant_job``/``@platform_job`` definitions).
    #: Workers run, and periodic ones fan out over, only the jobs listed here (besides the
    #: platform's own and ``JOBS_IMPORTS``): a job of another product never runs here.
    jobs: Sequence[JobDefinition] = ()
    #: Optional: called once after a signup provisioned the tenant (e.g. to queue the new
    #: owner's email verification). A failure here is logged; the signup still succeeds.
    after_signup: Callable[[TenantServices, int], None] | None = None
    #: Optional: every member's email in a tenant's storage, for the platform's workspace
    #: finder (``tenants directory-rebuild`` fills its directory from it).
    member_emails: Callable[[Connection], Iterable[str]] | None = None
    #: Optional: the addresses of a tenant's owners, read from its storage. The platform
    #: writes to them about their tenant (a custom domain it had to disable); without it
    #: they learn only from the audit log and their settings page.
    owner_emails: Callable[[Connection], Iterable[str]] | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append("name must be a non-empty string")
        if not isinstance(self.metadata, MetaData):
            problems.append("metadata must be a sqlalchemy.MetaData (the tenant's tables)")
        if not isinstance(self.migrations, Path):
            problems.append("migrations must be a pathlib.Path to an Alembic script directory")
        elif not (self.migrations / "env.py").is_file():
            problems.append(f"migrations ({self.migrations}) has no env.py")
        for name in ("create_app", "provision", "sign_in", "describe"):
            if not callable(getattr(self, name)):
                problems.append(f"{name} must be callable")
        if isinstance(self.jobs, str | bytes) or not isinstance(self.jobs, Iterable):
            problems.append("jobs must be a sequence of job definitions (from @tenant_job)")
        else:
            object.__setattr__(self, "jobs", tuple(self.jobs))
            for job in self.jobs:
                if not (isinstance(getattr(job, "name", None), str) and callable(job)):
                    problems.append(
                        f"jobs holds {job!r}, not a job definition; list what @tenant_job returns"
                    )
        if problems:
            raise ContractError(f"TenantApp {self.name!r} is not usable: " + "; ".join(problems))


def load_tenant_app(spec: str) -> TenantApp:
    """The :class:`TenantApp` that ``spec`` ("package.module:attribute") names."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ContractError(
            f"TENANT_APP={spec!r} is not 'package.module:attribute'; "
            "e.g. TENANT_APP=tenants.workspace:app."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise ContractError(
                f"TENANT_APP={spec!r}: there is no module {module_name!r} on the Python path. "
                "Check the spelling, install the package, or run from its directory."
            ) from error
        raise
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ContractError(
                f"TENANT_APP={spec!r}: module {module_name!r} has no attribute {attribute!r}. "
                "Define it there as `app = TenantApp(...)`."
            ) from None
    if not isinstance(target, TenantApp):
        raise ContractError(
            f"TENANT_APP={spec!r} is a {type(target).__name__}, not a tenants.contract."
            "TenantApp. Wrap your factory: app = TenantApp(name=..., create_app=..., ...)."
        )
    return target
