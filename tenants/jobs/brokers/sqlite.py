"""The embedded queue: a Dramatiq broker on one SQLite file, for one machine.

Dramatiq has no SQLite broker, and the SQLite queues that exist lose a job whose worker
is killed (kombu's SQLAlchemy transport hides a taken message for good; Huey deletes it
when it is taken). This adapter is the one piece Dramatiq lacks, kept to what at-least-once
needs, in the visibility-timeout style of SQS:

* taking a message makes it invisible until ``now + lease`` and records the taker;
* the taker's heartbeat thread pushes that time forward while it holds the message,
  so a long job keeps it;
* acknowledging deletes it; handing it back (worker shutdown) makes it visible again;
* a taker that dies (``kill -9``, power loss) stops its heartbeat, the lease runs out and
  the next worker takes the message again.

Delays are native: a delayed message is simply invisible until its time. Workers, retry
policy, threads and shutdown remain Dramatiq's.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.errors import QueueJoinTimeout, QueueNotFound

log = logging.getLogger(__name__)

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        data BLOB NOT NULL,
        available_at REAL NOT NULL,
        owner TEXT,
        deliveries INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, available_at, id)",
    "CREATE INDEX IF NOT EXISTS messages_owner ON messages (owner)",
)
_CLAIM = """
    UPDATE messages SET available_at = ?, owner = ?, deliveries = deliveries + 1
    WHERE id IN (
        SELECT id FROM messages WHERE queue = ? AND available_at <= ?
        ORDER BY available_at, id LIMIT ?
    )
    RETURNING id, data
"""


class _Delivery(MessageProxy):
    """A message as one consumer took it: knows its row."""

    def __init__(self, message: dramatiq.Message, row_id: int) -> None:
        super().__init__(message)
        self.row_id = row_id


class SQLiteBroker(dramatiq.Broker):
    """Messages in one SQLite file shared by every process on the machine."""

    def __init__(
        self,
        path: Path,
        *,
        lease_seconds: float = 60.0,
        middleware: list[dramatiq.Middleware] | None = None,
    ) -> None:
        super().__init__(middleware=middleware)
        self.path = Path(path)
        self.lease_seconds = lease_seconds
        self.queues: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._pid = -1
        self._owner = ""
        self._local = threading.local()
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- connections and identity (per process: a forked child is a new taker) ----------

    @property
    def owner(self) -> str:
        """This process's name as a taker of messages."""
        self._check_process()
        return self._owner

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
                    self._local = threading.local()
                    self._heartbeat = None
                    self._stopping = threading.Event()
                    self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        self._check_process()
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            for statement in _SCHEMA:
                connection.execute(statement)
            self._local.connection = connection
        return connection

    def _write(self, sql: str, parameters: Iterable[Any] = ()) -> list[Any]:
        """One statement in its own write transaction (taken up front: no upgrade races)."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            rows = connection.execute(sql, tuple(parameters)).fetchall()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return rows

    def close(self) -> None:
        self._stopping.set()
        heartbeat = self._heartbeat
        if heartbeat is not None and heartbeat is not threading.current_thread():
            heartbeat.join(timeout=5)
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- the Broker interface ---------------------------------------------------------

    def declare_queue(self, queue_name: str) -> None:
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues[queue_name] = True
            self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        if message.queue_name not in self.queues:
            raise QueueNotFound(message.queue_name)
        self.emit_before("enqueue", message, delay)
        available_at = time.time() + (delay or 0) / 1000
        self._write(
            "INSERT INTO messages (queue, message_id, data, available_at) VALUES (?, ?, ?, ?)",
            (message.queue_name, message.message_id, message.encode(), available_at),
        )
        self.emit_after("enqueue", message, delay)
        return message

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if queue_name not in self.queues:
            raise QueueNotFound(queue_name)
        self._start_heartbeat()
        return _SQLiteConsumer(self, queue_name, prefetch, timeout)

    def flush(self, queue_name: str) -> None:
        self._write("DELETE FROM messages WHERE queue = ?", (queue_name,))

    def flush_all(self) -> None:
        self._write("DELETE FROM messages")

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        while self.depth(queue_name, include_taken=True):
            if deadline is not None and time.monotonic() > deadline:
                raise QueueJoinTimeout(queue_name)
            time.sleep(0.05)

    # -- what consumers and operators use ----------------------------------------------

    def depth(self, queue_name: str, *, include_taken: bool = False) -> int:
        """Messages waiting (and, with ``include_taken``, those being worked on)."""
        sql = "SELECT count(*) FROM messages WHERE queue = ?"
        parameters: tuple[Any, ...] = (queue_name,)
        if not include_taken:
            sql += " AND owner IS NULL"
        return int(self._connection().execute(sql, parameters).fetchone()[0])

    def claim(self, queue_name: str, limit: int) -> list[tuple[int, bytes]]:
        now = time.time()
        rows = self._write(_CLAIM, (now + self.lease_seconds, self.owner, queue_name, now, limit))
        return sorted(rows)

    def acknowledge(self, row_id: int) -> None:
        # Only while still ours: past a lost lease another worker holds (and will ack) it.
        self._write("DELETE FROM messages WHERE id = ? AND owner = ?", (row_id, self.owner))

    def hand_back(self, row_ids: list[int]) -> None:
        if not row_ids:
            return
        marks = ",".join("?" * len(row_ids))
        self._write(
            "UPDATE messages SET available_at = ?, owner = NULL "
            f"WHERE owner = ? AND id IN ({marks})",
            (time.time(), self.owner, *row_ids),
        )

    def renew_leases(self) -> int:
        """Keep every message this process holds invisible for another lease."""
        rows = self._write(
            "UPDATE messages SET available_at = ? WHERE owner = ? RETURNING id",
            (time.time() + self.lease_seconds, self.owner),
        )
        return len(rows)

    def _start_heartbeat(self) -> None:
        self._check_process()
        with self._lock:
            if self._heartbeat is not None and self._heartbeat.is_alive():
                return
            stopping = self._stopping
            self._heartbeat = threading.Thread(
                target=self._beat, args=(stopping,), name="jobs-sqlite-heartbeat", daemon=True
            )
            self._heartbeat.start()

    def _beat(self, stopping: threading.Event) -> None:
        interval = max(self.lease_seconds / 4, 0.05)
        while not stopping.wait(interval):
            try:
                self.renew_leases()
            except sqlite3.Error:
                log.warning("Could not renew job leases in %s; retrying.", self.path, exc_info=True)
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


class _SQLiteConsumer(Consumer):
    def __init__(self, broker: SQLiteBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.prefetch = prefetch
        self.timeout = timeout
        self.misses = 0
        self.ready: deque[_Delivery] = deque()
        self.unacked: set[int] = set()
        self._lock = threading.Lock()
        #: Set when a message is acknowledged or handed back: there is room to take another.
        self._freed = threading.Event()

    def __next__(self) -> MessageProxy | None:
        if not self.ready:
            with self._lock:
                room = self.prefetch - len(self.unacked)
            if room <= 0:
                # Every message we may hold is taken: wait for one to finish, not for a poll.
                self._freed.wait(self.timeout / 1000)
                self._freed.clear()
                return None
            if room > 0:
                for row_id, data in self.broker.claim(self.queue_name, room):
                    try:
                        message = dramatiq.Message.decode(bytes(data))
                    except Exception:
                        log.error("Dropping an undecodable message (row %s).", row_id)
                        self.broker.acknowledge(row_id)
                        continue
                    with self._lock:
                        self.unacked.add(row_id)
                    self.ready.append(_Delivery(message, row_id))
        if self.ready:
            self.misses = 0
            return self.ready.popleft()
        self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
        time.sleep(backoff_ms / 1000)
        return None

    def ack(self, message: MessageProxy) -> None:
        self._finish(message)

    def nack(self, message: MessageProxy) -> None:
        # The job record, not the queue, keeps failures: a rejected message is dropped.
        log.warning("Dropping rejected message %s.", message.message_id)
        self._finish(message)

    def _finish(self, message: MessageProxy) -> None:
        row_id = getattr(message, "row_id", None)
        if row_id is None:
            return
        try:
            self.broker.acknowledge(row_id)
        finally:
            with self._lock:
                self.unacked.discard(row_id)
            self._freed.set()

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        row_ids = [row_id for m in messages if (row_id := getattr(m, "row_id", None)) is not None]
        self.broker.hand_back(row_ids)
        with self._lock:
            self.unacked.difference_update(row_ids)
        self._freed.set()

    def close(self) -> None:
        if self.ready:
            self.requeue(list(self.ready))
            self.ready.clear()
