"""The platform's side of custom domains: add, remove, choose the primary, and verify.

Every write runs in one registry transaction that locks the tenant's row first
(:func:`tenants.registry.domains.lock_tenant`), so a plan limit cannot be raced past and
routing (``tenants.custom_domains``) changes with the domain row, never half-way. A
domain is claimed once across all tenants by the database's unique index on
``lower(domain)``; the check before the INSERT only picks the kinder message.

Verification reads the TXT record outside any transaction (DNS may take seconds), then
applies what it found in a short one:

- record holds the token: ``verified`` (routed from the next poll, within a second);
- not found or wrong, domain ``pending``: stays pending, with the error shown;
- not found or wrong, domain ``verified``: ``failing`` since now, still served;
- ``failing`` for longer than ``DOMAIN_GRACE_HOURS``: ``disabled``, no longer served,
  the owner told (audit entry ``domain.disabled``, shown on the settings page);
- ``disabled`` and the record back: ``verified`` again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants.domains import CHALLENGE_LABEL, DomainError, DomainView
from tenants.domains.dns import LookupFailed, make_resolver, verify
from tenants.registry import domains as registry_domains
from tenants.registry import service
from tenants.registry.domainnames import DomainNameError, display_domain, normalize_domain
from tenants.registry.models import Tenant, TenantDomain, utcnow
from tenants.registry.record import DomainStatus
from tenants.settings import Settings

log = logging.getLogger(__name__)

#: Domains one run of the periodic job checks at most (the oldest checks first).
CHECK_BATCH = 200
#: Ids fit the column (INTEGER): a larger one names no domain (and must not reach SQL).
MAX_DOMAIN_ID = 2**31 - 1


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class DomainManager:
    """Custom domains of every tenant, for one platform (settings, engine, registry)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        on_change: Callable[[], None] | None = None,
        on_disabled: Callable[[int, str, str], None] | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        #: Called after a write changed routing (the registry polls at once).
        self.on_change = on_change
        #: Called with (tenant id, domain, last error) once a check disabled a domain.
        self.on_disabled = on_disabled
        self.now = now

    @property
    def target(self) -> str:
        return self.settings.domain_target or self.settings.base_domain

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.settings.domain_grace_hours)

    def view(self, row: TenantDomain) -> DomainView:
        failing_since = _aware(row.failing_since)
        return DomainView(
            id=row.id,
            domain=row.domain,
            display=display_domain(row.domain),
            status=row.status,
            is_primary=row.is_primary,
            token=row.token,
            challenge_name=f"{CHALLENGE_LABEL}.{row.domain}",
            target=self.target,
            created_at=_aware(row.created_at) or self.now(),
            checked_at=_aware(row.checked_at),
            verified_at=_aware(row.verified_at),
            failing_since=failing_since,
            disable_at=failing_since + self.grace
            if failing_since is not None and row.status == DomainStatus.FAILING
            else None,
            last_error=row.last_error,
        )

    # -- reads ---------------------------------------------------------------------------

    def list(self, tenant_id: int) -> list[DomainView]:
        with Session(self.engine) as session:
            return [self.view(row) for row in registry_domains.domains_of(session, tenant_id)]

    def limit_for(self, tenant_id: int) -> int:
        with Session(self.engine) as session:
            plan = session.execute(select(Tenant.plan).where(Tenant.id == tenant_id)).scalar()
        return self.settings.domain_limit(plan or "free")

    # -- writes --------------------------------------------------------------------------

    def add(self, tenant_id: int, raw: str, *, actor: str) -> DomainView:
        """Add ``raw`` (any form people paste) as a pending domain of the tenant."""
        if self.settings.tenant_routing != "subdomain":
            raise DomainError(
                "Custom domains need subdomain routing; this platform routes tenants by path."
            )
        try:
            name = normalize_domain(raw, self.settings.base_domain)
        except DomainNameError as error:
            raise DomainError(str(error)) from None
        shown = display_domain(name)

        def work(session: Session) -> DomainView:
            tenant = self._tenant(session, tenant_id)
            holder = session.execute(
                select(TenantDomain.tenant_id).where(func.lower(TenantDomain.domain) == name)
            ).scalar()
            if holder is not None:
                raise self._taken(shown, own=holder == tenant_id)
            rows = registry_domains.domains_of(session, tenant_id)
            limit = self.settings.domain_limit(tenant.plan)
            if len(rows) >= limit:
                raise DomainError(
                    f"Your plan allows {limit} custom domain{'s' if limit != 1 else ''}"
                    + ("; remove one to add another." if limit else ".")
                )
            row = TenantDomain(
                tenant_id=tenant_id,
                domain=name,
                token=secrets.token_hex(16),
                status=DomainStatus.PENDING,
                is_primary=False,
                created_at=self.now(),
            )
            session.add(row)
            session.flush()  # the unique index decides a race between two tenants
            service.audit(session, actor, "domain.add", tenant, domain=name)
            return self.view(row)

        try:
            return service.write(self.engine, work)
        except IntegrityError:
            raise self._taken(shown, own=False) from None

    def remove(self, tenant_id: int, domain_id: int, *, actor: str) -> None:
        def work(session: Session) -> bool:
            tenant = self._tenant(session, tenant_id)
            row = self._row(session, tenant_id, domain_id)
            session.delete(row)
            session.flush()
            service.audit(session, actor, "domain.remove", tenant, domain=row.domain)
            return registry_domains.sync_routes(session, tenant)

        self._changed(service.write(self.engine, work))

    def set_primary(self, tenant_id: int, domain_id: int | None, *, actor: str) -> None:
        """Make ``domain_id`` the primary address (None: the subdomain); it must be routable."""

        def work(session: Session) -> bool:
            tenant = self._tenant(session, tenant_id)
            rows = registry_domains.domains_of(session, tenant_id)
            chosen = None
            if domain_id is not None:
                chosen = next((row for row in rows if row.id == domain_id), None)
                if chosen is None:
                    raise DomainError("That domain is not one of this workspace's.", status=404)
                if not chosen.routable:
                    raise DomainError(
                        f"{display_domain(chosen.domain)} is not verified yet; verify it "
                        "before making it the primary address."
                    )
            for row in rows:
                row.is_primary = row is chosen
            session.flush()
            service.audit(
                session,
                actor,
                "domain.primary",
                tenant,
                domain=chosen.domain if chosen is not None else None,
            )
            return registry_domains.sync_routes(session, tenant)

        self._changed(service.write(self.engine, work))

    # -- verification ----------------------------------------------------------------------

    def check(self, tenant_id: int, domain_id: int, *, actor: str) -> DomainView:
        """Read the domain's TXT record now and record what it says ("Check now")."""
        with Session(self.engine) as session:
            row = self._row(session, tenant_id, domain_id)
            name, token = row.domain, row.token
        return self._check_one(domain_id, name, token, actor=actor)

    def check_due(self, *, limit: int = CHECK_BATCH) -> dict[str, int]:
        """The periodic job: check every domain not checked for ``DOMAIN_CHECK_MINUTES``.

        Disabled domains are left to their owners' "Check now" (they may be gone for good).
        """
        due_before = self.now() - timedelta(minutes=self.settings.domain_check_minutes)
        with Session(self.engine) as session:
            rows = session.execute(
                select(TenantDomain.id, TenantDomain.domain, TenantDomain.token)
                .where(
                    TenantDomain.status != DomainStatus.DISABLED,
                    or_(TenantDomain.checked_at.is_(None), TenantDomain.checked_at < due_before),
                )
                .order_by(TenantDomain.checked_at.is_not(None), TenantDomain.checked_at)
                .limit(limit)
            ).all()
        counts: dict[str, int] = {}
        for domain_id, name, token in rows:
            try:
                view = self._check_one(domain_id, name, token, actor="domain-check")
            except DomainError:
                continue  # removed meanwhile
            counts[view.status] = counts.get(view.status, 0) + 1
        return counts

    def _check_one(self, domain_id: int, name: str, token: str, *, actor: str) -> DomainView:
        error: str | None = None
        try:
            verify(make_resolver(self.settings.dns_resolver), f"{CHALLENGE_LABEL}.{name}", token)
        except LookupFailed as failed:
            error = str(failed)

        def work(session: Session) -> tuple[DomainView, bool, int | None]:
            row = session.get(TenantDomain, domain_id)
            if row is None:
                raise DomainError("That domain was removed.", status=404)
            tenant = registry_domains.lock_tenant(session, row.tenant_id)
            if tenant is None:
                raise DomainError("This workspace no longer exists.", status=404)
            session.refresh(row)  # as it is now that its tenant is locked
            disabled = self._apply(session, tenant, row, error, actor)
            session.flush()
            routes = registry_domains.sync_routes(session, tenant)
            return self.view(row), routes, tenant.id if disabled else None

        view, changed, disabled_in = service.write(self.engine, work)
        self._changed(changed)
        if disabled_in is not None and self.on_disabled is not None:
            try:
                self.on_disabled(disabled_in, view.display, error or "")
            except Exception:  # the domain is disabled either way; the audit log says so
                log.exception("Could not tell the owners that %s was disabled.", view.domain)
        return view

    def _apply(
        self, session: Session, tenant: Tenant, row: TenantDomain, error: str | None, actor: str
    ) -> bool:
        """Record a check's outcome on ``row``; True when it disabled the domain."""
        now = self.now()
        row.checked_at = now
        before = row.status
        if error is None:
            row.status = DomainStatus.VERIFIED
            row.last_error = None
            row.failing_since = None
            if before != DomainStatus.VERIFIED:
                row.verified_at = now
                service.audit(session, actor, "domain.verified", tenant, domain=row.domain)
            return False
        row.last_error = error[:300]
        if before == DomainStatus.VERIFIED:
            row.status = DomainStatus.FAILING
            row.failing_since = now
            service.audit(
                session, actor, "domain.failing", tenant, domain=row.domain, error=row.last_error
            )
        elif before == DomainStatus.FAILING:
            since = _aware(row.failing_since) or now
            if now - since >= self.grace:
                row.status = DomainStatus.DISABLED
                row.is_primary = False
                service.audit(
                    session,
                    actor,
                    "domain.disabled",
                    tenant,
                    domain=row.domain,
                    error=row.last_error,
                    failing_since=since.isoformat(),
                )
                log.warning(
                    "Custom domain %s of tenant %s disabled: %s", row.domain, tenant.slug, error
                )
                return True
        return False

    # -- helpers ---------------------------------------------------------------------------

    def _tenant(self, session: Session, tenant_id: int) -> Tenant:
        tenant = registry_domains.lock_tenant(session, tenant_id)
        if tenant is None:
            raise DomainError("This workspace no longer exists.", status=404)
        return tenant

    @staticmethod
    def _row(session: Session, tenant_id: int, domain_id: int) -> TenantDomain:
        row = session.get(TenantDomain, domain_id) if 0 < domain_id <= MAX_DOMAIN_ID else None
        if row is None or row.tenant_id != tenant_id:
            # Another tenant's domain is as unknown as one that never existed.
            raise DomainError("That domain is not one of this workspace's.", status=404)
        return row

    @staticmethod
    def _taken(shown: str, *, own: bool) -> DomainError:
        if own:
            return DomainError(f"{shown} is already added to this workspace.", status=409)
        return DomainError(
            f"{shown} is already claimed by another workspace. If it is yours, ask them to "
            "remove it, or contact support with proof that you own it.",
            status=409,
        )

    def _changed(self, changed: bool) -> None:
        if changed and self.on_change is not None:
            self.on_change()


class TenantDomainsService:
    """One tenant's view of the manager: what ``TenantServices.domains`` hands a tenant app."""

    def __init__(self, manager: DomainManager, tenant_id: int) -> None:
        self._manager = manager
        self._tenant_id = tenant_id

    @property
    def limit(self) -> int:
        return self._manager.limit_for(self._tenant_id)

    @property
    def target(self) -> str:
        return self._manager.target

    def list(self) -> list[DomainView]:
        return self._manager.list(self._tenant_id)

    def add(self, raw: str, *, actor: str) -> DomainView:
        return self._manager.add(self._tenant_id, raw, actor=actor)

    def remove(self, domain_id: int, *, actor: str) -> None:
        self._manager.remove(self._tenant_id, domain_id, actor=actor)

    def check(self, domain_id: int, *, actor: str) -> DomainView:
        return self._manager.check(self._tenant_id, domain_id, actor=actor)

    def set_primary(self, domain_id: int | None, *, actor: str) -> None:
        self._manager.set_primary(self._tenant_id, domain_id, actor=actor)

    def __repr__(self) -> str:
        return f"<TenantDomainsService tenant={self._tenant_id}>"
