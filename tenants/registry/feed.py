"""The registry's change feed: writers append to it, every process reads it in order.

Writing
-------
Every change to a tenant appends one row to ``registry_changes`` in the writer's own
transaction, *after* the tenant's row is written (so the writer holds that row's lock
and has a transaction id)::

    tenant row (INSERT / UPDATE, row lock)  ->  registry_changes row  ->  tenants.version = its id

The change id comes from a sequence and is the tenant's new ``version``. No writer
updates a row another writer needs, so writes for different tenants run side by side,
and every write takes its locks in the same order (tenant row first): there is no
lock cycle to deadlock on.

Reading, and why no change is ever missed
-----------------------------------------
Ids are handed out in the order they are asked for, but transactions commit in any
order: T1 takes id 10, T2 takes id 11, T2 commits, a poller reads "everything after 9"
and sees 11; reading "after 11" next time would miss 10 forever. On PostgreSQL each row
also carries its writer's transaction id (``pg_current_xact_id()``, which exists before
the id is drawn: the tenant row was written first), and every poll reads, in one
statement and so in one snapshot S:

- the rows with ``id > high``, where ``high`` is the largest id the previous poll saw;
- the rows written by a transaction the previous poll's snapshot did not see finish:
  one it listed as in progress (``watch``, its ``xip`` list), or one whose id is at or
  above its ``xmax`` (``pg_current_snapshot()``; a transaction can hold such an id and
  be running yet not be listed, since ``xmax`` is the latest *finished* id plus one);

then sets ``high`` to the largest id now visible, and ``watch`` and ``xmax`` from S.

Claim: every committed change is read exactly once. Take a change r (id i, writer T)
and the first poll k whose snapshot S_k sees it. If i > high_{k-1}, poll k reads it.
Otherwise i < high_{k-1}: the change with id high_{k-1} was visible to S_{k-1}, so it
was drawn before S_{k-1}, and i, drawn earlier still, was too; T had its transaction id
even before that. S_{k-1} did not see r, yet T commits: so S_{k-1} did not count T as
finished, which for a transaction id given out before a snapshot means it is in the
snapshot's ``xip`` or at or above its ``xmax``. Poll k reads r. Once read, r is not
above the new ``high``, and its transaction finished before S_k, so it is neither in
S_k's ``xip`` nor at or above its ``xmax``: no later poll reads it again. Ids must come
out of the sequence in the order they are asked for (``CACHE 1``, the default). A poll
is one query; the rows it reads again are only those of transactions in flight.

On SQLite writers are serialized (one write transaction at a time, ids taken inside
it), so changes commit in id order and ``id > high`` alone is exact.

The feed is pruned as it grows (entries older than :data:`RETENTION`, by the writer
of every :data:`PRUNE_EVERY`-th change); ``registry_clock.generation`` records how far.
A poller whose ``high`` is below that cannot know what it missed: :class:`FeedPruned`
tells it to start over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Row,
    Text,
    any_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    join,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tenants.registry.models import RegistryChange, RegistryClock, Tenant, utcnow

#: Feed entries older than this may be deleted; a process idle for longer reloads.
RETENTION = timedelta(hours=1)
#: The writer of every PRUNE_EVERY-th change prunes (at most PRUNE_BATCH old entries).
PRUNE_EVERY = 1024
PRUNE_BATCH = 4096

#: The tenant columns a poll returns (the row as it is now, whatever changed).
TENANT_COLUMNS = (
    Tenant.id,
    Tenant.slug,
    Tenant.display_name,
    Tenant.status,
    Tenant.plan,
    Tenant.settings,
    Tenant.version,
    Tenant.storage_revision,
    Tenant.database,
    Tenant.read_only,
    Tenant.write_lock_until,
    Tenant.custom_domains,
    Tenant.primary_domain,
    Tenant.suspension_reason,
)


class FeedPruned(Exception):
    """Entries this poller had not read yet were pruned: it must reload everything."""


# -- writing ------------------------------------------------------------------------------

# One round trip: the writer's transaction id is read first (MATERIALIZED, and the INSERT
# reads its row from it), then the id is drawn, then the tenant's version is set.
_APPEND_POSTGRES = text(
    """
    WITH writer AS MATERIALIZED (SELECT pg_current_xact_id()::text::bigint AS txid),
         change AS (
             INSERT INTO registry_changes (txid, tenant_id, created_at)
             SELECT writer.txid, :tenant_id, :created_at FROM writer
             RETURNING id
         )
    UPDATE tenants SET version = change.id FROM change WHERE tenants.id = :tenant_id
    RETURNING change.id
    """
).bindparams(bindparam("created_at", type_=RegistryChange.created_at.type))


def append(session: Session, tenant_id: int) -> int:
    """Record a change of ``tenant_id`` in the session's transaction; return its id.

    The caller has written the tenant's row already (flushed): that order is the lock
    order of every registry write. The id is also stored as the tenant's ``version``.
    """
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        change_id: int = session.execute(
            _APPEND_POSTGRES, {"tenant_id": tenant_id, "created_at": now}
        ).scalar_one()
    else:
        change_id = session.execute(
            insert(RegistryChange)
            .values(tenant_id=tenant_id, created_at=now)
            .returning(RegistryChange.id)
        ).scalar_one()
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(version=change_id))
    if change_id % PRUNE_EVERY == 0:
        prune(session, older_than=now - RETENTION)
    return change_id


def prune(session: Session, *, older_than: Any) -> int:
    """Delete up to PRUNE_BATCH of the oldest entries created before ``older_than``.

    Returns the id pruned through (0 if nothing was). Only this updates the clock row,
    and only one writer in PRUNE_EVERY prunes, after its other writes.
    """
    oldest = (
        select(RegistryChange.id, RegistryChange.created_at)
        .order_by(RegistryChange.id)
        .limit(PRUNE_BATCH)
        .subquery()
    )
    through = session.execute(
        select(func.max(oldest.c.id)).where(oldest.c.created_at < older_than)
    ).scalar()
    if not through:
        return 0
    session.execute(delete(RegistryChange).where(RegistryChange.id <= through))
    session.execute(
        update(RegistryClock)
        .where(RegistryClock.id == 1, RegistryClock.generation < through)
        .values(generation=through)
    )
    return int(through)


# -- reading ------------------------------------------------------------------------------

_PRUNED = select(RegistryClock.generation).where(RegistryClock.id == 1).scalar_subquery()
_LATEST = select(func.max(RegistryChange.id)).scalar_subquery()
_CHANGED = join(RegistryChange, Tenant, Tenant.id == RegistryChange.tenant_id)
_SNAPSHOT = cast(func.pg_current_snapshot(), Text)


def _poll_statement(postgres: bool) -> Any:
    state = select(
        (_SNAPSHOT if postgres else null()).label("snapshot"), _PRUNED.label("pruned")
    ).subquery("feed_state")
    after_high = RegistryChange.id > bindparam("high", type_=BigInteger)
    condition = (
        or_(
            after_high,
            RegistryChange.txid == any_(bindparam("watch", type_=ARRAY(BigInteger))),
            RegistryChange.txid >= bindparam("xmax", type_=BigInteger),
        )
        if postgres
        else after_high
    )
    return (
        select(
            state.c.snapshot,
            state.c.pruned,
            RegistryChange.id.label("change_id"),
            *TENANT_COLUMNS,
        )
        .select_from(state.outerjoin(_CHANGED, condition))
        .order_by(RegistryChange.id)
    )


# Built once per dialect: SQLAlchemy caches their compiled form, a poll is the round trip.
_POLL = {True: _poll_statement(True), False: _poll_statement(False)}
_START = {
    True: select(_SNAPSHOT.label("snapshot"), _LATEST.label("latest"), _PRUNED.label("pruned")),
    False: select(null().label("snapshot"), _LATEST.label("latest"), _PRUNED.label("pruned")),
}


def unfinished(snapshot: str | None) -> tuple[tuple[int, ...], int]:
    """From ``pg_current_snapshot()`` text (``xmin:xmax:xip,...``): the in-progress ids and
    ``xmax`` (ids from it on count as not finished either)."""
    if not snapshot:
        return (), 0
    _, xmax, listed = snapshot.split(":")
    return tuple(int(txid) for txid in listed.split(",") if txid), int(xmax)


class ChangeFeed:
    """One reader's position in the feed: ``high``, and the transactions not yet finished
    at its last snapshot (``watch`` and everything from ``xmax`` on).

    Not thread-safe: the registry polls under its own lock.
    """

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.high = -1
        self.watch: tuple[int, ...] = ()
        self.xmax = 0

    @property
    def started(self) -> bool:
        return self.high >= 0

    def start(self, connection: Connection) -> None:
        """Begin at the feed's present: what is committed now counts as already read.

        The caller reads the state it caches (point queries, the key index) after this.
        """
        row = connection.execute(_START[self.postgres]).one()
        self.high = max(row.latest or 0, row.pruned or 0)
        self.watch, self.xmax = unfinished(row.snapshot)

    def poll(self, connection: Connection) -> list[Row[Any]]:
        """The changes committed since the last poll, in id order, each with its tenant's row
        as it is now (``change_id`` and the :data:`TENANT_COLUMNS`)."""
        rows = connection.execute(
            _POLL[self.postgres],
            {"high": self.high, "watch": list(self.watch), "xmax": self.xmax}
            if self.postgres
            else {"high": self.high},
        ).all()
        pruned = rows[0].pruned or 0
        if pruned > self.high:
            raise FeedPruned(f"the feed was pruned through {pruned}, past {self.high}")
        changes = [row for row in rows if row.change_id is not None]
        if changes:
            self.high = max(self.high, max(row.change_id for row in changes))
        self.watch, self.xmax = unfinished(rows[0].snapshot)
        return changes


def latest_per_tenant(rows: Sequence[Row[Any]]) -> list[Row[Any]]:
    """One row per tenant (its last change), in change order."""
    last: dict[int, Row[Any]] = {}
    for row in rows:
        last.pop(row.id, None)
        last[row.id] = row
    return list(last.values())
