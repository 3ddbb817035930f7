"""Platform settings, read once from the environment (and a ``.env`` file).

Every setting has a default that runs the platform on one machine with SQLite;
production overrides them through the environment. The README has the table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from werkzeug.security import generate_password_hash

#: The key a fresh checkout runs with on the development server. Refused everywhere else.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key"
#: What a SECRET_KEY must have (see check_secret_key).
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 8
MIN_SECRET_KEY_DISTINCT_TRIGRAMS = 0.75
_MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_hex(32))'"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

_TRUE = {"1", "true", "yes", "on"}
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def _int(environ: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}."
        ) from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below {minimum}; set it to e.g. {default}.")
    return value


def _float(environ: dict[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; set it to e.g. {default}.") from None
    if value < 0:
        raise SettingsError(f"{name}={value} is negative; set it to e.g. {default}.")
    return value


def _rate(environ: dict[str, str], name: str, default: str) -> str:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a rate; write it like {default!r} "
            "(a number, 'per', and second, minute, hour or day)."
        ) from None
    return raw


def _mail_url(raw: str) -> str:
    """MAIL_URL, checked at start: a typo fails the start, not every message for hours."""
    url = raw.strip()
    if url and not re.match(r"smtps?://[^/?#]+", url):
        raise SettingsError(
            f"MAIL_URL={url!r} is not an SMTP address; write it like "
            "smtp://user:password@mail.example.com:587?starttls=1 (or smtps://…:465), "
            "or leave it empty to write messages to instance/outbox/."
        )
    return url


def _mail_from(raw: str) -> str:
    address = raw.strip()
    if address and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
        raise SettingsError(
            f"MAIL_FROM={address!r} is not an email address; write it like no-reply@example.com."
        )
    return address


@dataclass(frozen=True)
class Settings:
    """What the platform needs to know about where it runs."""

    database_url: str
    base_domain: str = "localhost"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    tenant_routing: str = "subdomain"
    app_cache_size: int = 256
    registry_poll_seconds: float = 0.5
    #: Tenant records a process keeps (LRU); the fleet can be far larger.
    registry_cache_size: int = 10_000
    #: A miss (or a refusing status) polls the registry at most this often when misses flood.
    registry_miss_check_seconds: float = 0.02
    debug: bool = False
    instance_path: Path = DEFAULT_INSTANCE_PATH
    pool_size: int = 5
    max_overflow: int = 5
    pool_recycle_seconds: int = 600
    #: "https" makes tenant cookies Secure and absolute links https.
    url_scheme: str = "http"
    #: The port browsers use to reach the platform, for absolute links ("" when it is the default).
    public_port: str = ""
    #: How many reverse proxies in front of the app set X-Forwarded-* (0 trusts none).
    proxy_count: int = 0
    ratelimit_storage_url: str = "memory://"
    #: How long a login lasts at most without "remember me" (hours), and with it (days).
    session_lifetime_hours: int = 12
    session_remember_days: int = 30
    #: Signups one address, and everyone together, may attempt ("10 per hour").
    signup_limit_per_address: str = "10 per hour"
    signup_limit_total: str = "200 per hour"
    #: A provisioning row older than this is taken over by the next claim of its name.
    provisioning_lease_seconds: int = 60
    #: A deleted tenant stays restorable this long, then the purge job drops its storage.
    tenant_delete_grace_days: int = 30
    #: How long a customer export's download link works (and its file is kept).
    export_link_hours: int = 24
    #: werkzeug.security method for new password hashes (its default: scrypt).
    password_hash_method: str = "scrypt"
    #: More PostgreSQL databases for tenant schemas, by name ("default" is DATABASE_URL).
    tenant_databases: dict[str, str] = field(default_factory=dict)
    #: The tenant app the platform serves ("package.module:attribute", a TenantApp).
    tenant_app: str = "tenants.workspace:app"
    #: Where the one line per request goes: "-" (stdout), "off", "logger" (the
    #: ``tenants.requests`` logging logger) or a file path (appended to).
    request_log: str = "-"
    #: "transaction" when the database URLs go through a transaction-mode pooler (PgBouncer):
    #: psycopg then prepares no statements on the server (a pooled server connection may
    #: serve another client next, where the statement does not exist).
    database_pooler: str = "none"
    #: Outgoing mail: "" writes messages to instance/outbox/; else smtp://user:pass@host:port
    #: (``?starttls=1``) or smtps://… (``tenants/mail``).
    mail_url: str = ""
    #: The sender address of every message ("" means no-reply@BASE_DOMAIN); tenants'
    #: messages carry their display name in front of it.
    mail_from: str = ""
    #: How long an invitation link works (days), and a password-reset link (minutes).
    invitation_days: int = 7
    password_reset_minutes: int = 60
    #: Platform admins must set up two-factor sign-in before using the console.
    admin_require_2fa: bool = False
    #: Custom domains: the DNS server verification asks ("host:port"; "" = the system's).
    dns_resolver: str = ""
    #: Hours a verified domain whose TXT record is gone keeps being served (then disabled).
    domain_grace_hours: float = 72.0
    #: Minutes between two background checks of one domain.
    domain_check_minutes: float = 10.0
    #: How many custom domains a tenant of each plan may add ("free=1 *=5"; * = other plans).
    domains_per_plan: dict[str, int] = field(default_factory=lambda: {"free": 1, "*": 5})
    #: What custom domains point at (their CNAME target); "" = the base domain.
    domain_target: str = ""
    #: DATABASE_URL is unset: the platform runs on the SQLite files under INSTANCE_PATH that
    #: the development server uses (a deployment always names its database).
    embedded_default: bool = False
    #: Where people write for help: shown on a suspended workspace's page ("" shows none).
    support_email: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environ(
        cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True
    ) -> Settings:
        """Read the settings from ``environ`` (default: ``os.environ`` plus ``.env``)."""
        if environ is None:
            if load_dotenv:
                _load_dotenv()
            environ = dict(os.environ)
        instance_path = Path(environ.get("INSTANCE_PATH") or DEFAULT_INSTANCE_PATH)
        database_url = environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'platform.db'}"
        base_domain = (environ.get("BASE_DOMAIN") or "localhost").strip().lower().rstrip(".")
        if not _DOMAIN_RE.match(base_domain):
            raise SettingsError(
                f"BASE_DOMAIN={base_domain!r} is not a host name; set it to the bare domain, "
                "e.g. example.com (no scheme, port or path)."
            )
        routing = (environ.get("TENANT_ROUTING") or "subdomain").strip().lower()
        if routing not in {"subdomain", "path"}:
            raise SettingsError(f"TENANT_ROUTING={routing!r} is not 'subdomain' or 'path'.")
        scheme = (environ.get("PUBLIC_SCHEME") or "http").strip().lower()
        if scheme not in {"http", "https"}:
            raise SettingsError(f"PUBLIC_SCHEME={scheme!r} is not 'http' or 'https'.")
        port = (environ.get("PUBLIC_PORT") or "").strip()
        if port and not port.isdigit():
            raise SettingsError(f"PUBLIC_PORT={port!r} is not a port number.")
        if port == {"http": "80", "https": "443"}[scheme]:
            port = ""  # the scheme's own port: links carry none (https://x/, not https://x:443/)
        pooler = (environ.get("DATABASE_POOLER") or "none").strip().lower()
        if pooler not in {"none", "transaction"}:
            raise SettingsError(
                f"DATABASE_POOLER={pooler!r} is not 'none' or 'transaction'; set 'transaction' "
                "when DATABASE_URL points at PgBouncer in transaction mode."
            )
        support_email = (environ.get("SUPPORT_EMAIL") or "").strip()
        if support_email and not _SUPPORT_EMAIL_RE.match(support_email):
            raise SettingsError(
                f"SUPPORT_EMAIL={support_email!r} is not an email address like help@example.com."
            )
        return cls(
            database_url=_normalize_database_url(database_url),
            base_domain=base_domain,
            secret_key=environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY,
            tenant_routing=routing,
            app_cache_size=_int(environ, "TENANT_APP_CACHE_SIZE", 256, minimum=1),
            registry_poll_seconds=_float(environ, "REGISTRY_POLL_SECONDS", 0.5),
            registry_cache_size=_int(environ, "REGISTRY_CACHE_SIZE", 10_000, minimum=1),
            registry_miss_check_seconds=_float(environ, "REGISTRY_MISS_CHECK_SECONDS", 0.02),
            debug=_flag(environ.get("FLASK_DEBUG")),
            instance_path=instance_path,
            pool_size=_int(environ, "DATABASE_POOL_SIZE", 5, minimum=1),
            max_overflow=_int(environ, "DATABASE_MAX_OVERFLOW", 5),
            pool_recycle_seconds=_int(environ, "DATABASE_POOL_RECYCLE", 600, minimum=1),
            url_scheme=scheme,
            public_port=port,
            proxy_count=_int(environ, "PROXY_COUNT", 0),
            ratelimit_storage_url=environ.get("RATELIMIT_STORAGE_URL") or "memory://",
            session_lifetime_hours=_int(environ, "SESSION_LIFETIME_HOURS", 12, minimum=1),
            session_remember_days=_int(environ, "SESSION_REMEMBER_DAYS", 30, minimum=1),
            signup_limit_per_address=_rate(environ, "SIGNUP_LIMIT_PER_ADDRESS", "10 per hour"),
            signup_limit_total=_rate(environ, "SIGNUP_LIMIT_TOTAL", "200 per hour"),
            provisioning_lease_seconds=_int(environ, "PROVISIONING_LEASE_SECONDS", 60, minimum=1),
            tenant_delete_grace_days=_int(environ, "TENANT_DELETE_GRACE_DAYS", 30, minimum=0),
            export_link_hours=_int(environ, "EXPORT_LINK_HOURS", 24, minimum=1),
            password_hash_method=environ.get("PASSWORD_HASH_METHOD") or "scrypt",
            tenant_databases=_tenant_databases(environ.get("TENANT_DATABASES", ""), database_url),
            tenant_app=(environ.get("TENANT_APP") or "tenants.workspace:app").strip(),
            request_log=(environ.get("REQUEST_LOG") or "-").strip(),
            database_pooler=pooler,
            dns_resolver=_dns_resolver(environ.get("DNS_RESOLVER", "")),
            domain_grace_hours=_float(environ, "DOMAIN_GRACE_HOURS", 72.0),
            domain_check_minutes=_float(environ, "DOMAIN_CHECK_MINUTES", 10.0),
            domains_per_plan=_per_plan(environ.get("DOMAINS_PER_PLAN", "")),
            domain_target=(environ.get("DOMAIN_TARGET") or "").strip().lower().rstrip("."),
            embedded_default=not environ.get("DATABASE_URL"),
            support_email=support_email,
            mail_url=_mail_url(environ.get("MAIL_URL", "")),
            mail_from=_mail_from(environ.get("MAIL_FROM", "")),
            invitation_days=_int(environ, "INVITATION_DAYS", 7, minimum=1),
            password_reset_minutes=_int(environ, "PASSWORD_RESET_MINUTES", 60, minimum=5),
            # On in production (no FLASK_DEBUG) unless switched off explicitly.
            admin_require_2fa=_flag(
                environ.get("ADMIN_REQUIRE_2FA")
                or ("0" if _flag(environ.get("FLASK_DEBUG")) else "1")
            ),
        )

    @property
    def mail_sender(self) -> str:
        """The From address of every message (``MAIL_FROM``, else no-reply@BASE_DOMAIN)."""
        return self.mail_from or f"no-reply@{self.base_domain}"

    def domain_limit(self, plan: str) -> int:
        """How many custom domains a tenant on ``plan`` may have."""
        limits = self.domains_per_plan
        return limits.get(plan, limits.get("*", 0))

    def hash_password(self, password: str) -> str:
        return generate_password_hash(password, method=self.password_hash_method)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some settings replaced (tests and tools)."""
        return replace(self, **changes)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_secret_key(self, *, allow_development_key: bool = False) -> None:
        """Refuse a missing, well-known or weak SECRET_KEY; the message says how to make one.

        Every session, CSRF token and signup login link is signed with a key derived from
        this one: whoever knows it can log in to any tenant. The development key is public
        (it is in this file), so only the development server (and the CLI in debug mode)
        may pass ``allow_development_key``; a WSGI server never does, whatever
        ``FLASK_DEBUG`` says. Any other key must look random: see ``secret_key_weakness``.
        """
        if self.secret_key == DEVELOPMENT_SECRET_KEY:
            if allow_development_key:
                return
            raise SettingsError(
                "SECRET_KEY is missing (or is the public development key); only the development "
                f"server may run without one. Set SECRET_KEY to the output of {_MAKE_A_KEY}."
            )
        weakness = secret_key_weakness(self.secret_key)
        if weakness:
            raise SettingsError(
                f"SECRET_KEY is too weak: {weakness}. Set it to the output of {_MAKE_A_KEY}."
            )

    def host_for(self, slug: str | None) -> str:
        """The canonical host (with the public port) of a tenant, or of the platform for None."""
        host = (
            self.base_domain
            if slug is None or self.tenant_routing == "path"
            else f"{slug}.{self.base_domain}"
        )
        return f"{host}:{self.public_port}" if self.public_port else host

    def url_for_tenant(self, slug: str, path: str = "/") -> str:
        """The absolute URL of a page of a tenant, built from the registry, never from a request."""
        prefix = f"/{slug}" if self.tenant_routing == "path" else ""
        return f"{self.url_scheme}://{self.host_for(slug)}{prefix}{path}"

    def url_for_platform(self, path: str = "/") -> str:
        return f"{self.url_scheme}://{self.host_for(None)}{path}"


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions with, or None if it looks random enough.

    A heuristic, not a proof of randomness: at least 32 characters (128 bits when they
    are hex digits), at least 8 different characters (so no run of one character or of
    whitespace), and at least three quarters of its 3-character pieces different (so no
    short pattern repeated: ``abcabc…``, ``password1password1…``). ``secrets.token_hex(16)``
    and longer pass these with a wide margin.
    """
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"it has {len(key)} characters, and needs at least {MIN_SECRET_KEY_LENGTH}"
    if len(set(key)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return (
            f"it uses only {len(set(key))} different characters, and needs at least "
            f"{MIN_SECRET_KEY_DISTINCT_CHARACTERS}"
        )
    pieces = [key[i : i + 3] for i in range(len(key) - 2)]
    if len(set(pieces)) < MIN_SECRET_KEY_DISTINCT_TRIGRAMS * len(pieces):
        return "it repeats a short pattern"
    return None


_DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _dns_resolver(raw: str) -> str:
    """``DNS_RESOLVER``: "host" or "host:port" ("[v6]:port" for IPv6), or "" for the system's."""
    value = raw.strip()
    if not value:
        return ""
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(
            f"DNS_RESOLVER={raw!r} is not host:port; e.g. DNS_RESOLVER=127.0.0.1:53, "
            "or leave it empty for the system's resolver."
        )
    return f"{host}:{port}"


def _per_plan(raw: str) -> dict[str, int]:
    """``DOMAINS_PER_PLAN``: "free=1 pro=5 *=2" (``*``: every other plan)."""
    if not raw.strip():
        return {"free": 1, "*": 5}
    limits: dict[str, int] = {}
    for item in raw.replace(",", " ").split():
        plan, sep, count = item.partition("=")
        if not sep or not plan or not count.isdigit():
            raise SettingsError(
                f"DOMAINS_PER_PLAN={raw!r}: {item!r} is not plan=number; "
                "e.g. DOMAINS_PER_PLAN='free=1 pro=5 *=2'."
            )
        limits[plan] = int(count)
    return limits


def _tenant_databases(raw: str, platform_url: str) -> dict[str, str]:
    """Parse ``TENANT_DATABASES`` ("name=url name2=url2", spaces or commas between)."""
    databases: dict[str, str] = {}
    for item in re.split(r"[\s,]+", raw.strip()):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep or not _DATABASE_NAME.match(name) or name == "default":
            raise SettingsError(
                f"TENANT_DATABASES entry {item.split('=')[0]!r} is not name=url with a name of "
                "a-z, 0-9 and _ (not 'default', which is DATABASE_URL)."
            )
        url = _normalize_database_url(url)
        if not url.startswith("postgresql") or not platform_url.startswith(
            ("postgres", "postgresql")
        ):
            raise SettingsError(
                "TENANT_DATABASES places tenant schemas on more PostgreSQL servers; it needs "
                "PostgreSQL URLs, and DATABASE_URL on PostgreSQL too."
            )
        databases[name] = url
    return databases


def _normalize_database_url(url: str) -> str:
    # psycopg 3 is the driver; accept the common spellings of a PostgreSQL URL.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_SUPPORT_EMAIL_RE = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\"]+$")

#: Where the development server notes the port it serves on (under INSTANCE_PATH).
DEVELOPMENT_PORT_FILE = "devserver.port"
DEFAULT_DEVELOPMENT_PORT = 5000


def record_development_port(instance_path: Path, port: str) -> None:
    """Note the development server's public port, for the URLs the CLI prints.

    On the development key only the development server can serve the embedded database, so
    a URL printed by ``tenants create`` must carry its port (``--port``, default 5000).
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    (instance_path / DEVELOPMENT_PORT_FILE).write_text(f"{port}\n", encoding="utf-8")


def development_port(instance_path: Path) -> str:
    """The port the development server last served on (5000 if it never ran here)."""
    try:
        port = (instance_path / DEVELOPMENT_PORT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return str(DEFAULT_DEVELOPMENT_PORT)
    return port if port.isdigit() else str(DEFAULT_DEVELOPMENT_PORT)


def _load_dotenv() -> None:
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        return
    load_dotenv(PROJECT_ROOT / ".env", override=False)
