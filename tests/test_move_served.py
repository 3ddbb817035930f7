"""A move under load, through real gunicorn servers: reads never stop, no write is lost.

Two gunicorn servers (2 sync workers each, registry poll 0.5 s) serve tenant acme while
this process moves its schema to the other database. Readers load the notes page and
writers add notes, each with a unique title, all through the move. Every read must
succeed; every write must either be saved (302) or be answered "read-only for
maintenance" (503 with Retry-After); afterwards the new copy holds exactly the saved
notes, each once, so none was lost, duplicated or left behind in the old copy (which is
gone).
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import sqlalchemy as sa

from tenants import moves
from tests.test_backups import rows
from tests.test_multi_database import create, sharded  # noqa: F401 - a fixture
from tests.test_serving import POSTGRES, Browser, serve  # noqa: F401 - a fixture

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.mark.parametrize("backend", POSTGRES)
def test_move_under_concurrent_reads_and_writes(sharded, serve) -> None:  # noqa: F811
    acme = create(sharded, "acme")
    second = sharded.storage.databases["second"].url.render_as_string(hide_password=False)
    servers = serve(sharded.settings, count=2, TENANT_DATABASES=f"second={second}")
    here = sharded.registry.get("acme").database
    target = "second" if here == "default" else "default"

    reads: list[int] = []
    writes: list[tuple[str, int, str | None]] = []
    stop = threading.Event()
    titles = (f"note-{n}" for n in itertools.count())
    title_lock = threading.Lock()

    def reader(server) -> None:
        browser = Browser(server.port, "acme.example.com")
        browser.log_in("owner@acme.test")
        while not stop.is_set():
            reads.append(browser.request("/notes/").status)

    def writer(server) -> None:
        browser = Browser(server.port, "acme.example.com")
        browser.log_in("owner@acme.test")
        token = browser.csrf_token("/notes/new")
        while not stop.is_set():
            with title_lock:
                title = next(titles)
            reply = browser.request("/notes/new", {"title": title, "body": "", "csrf_token": token})
            writes.append((title, reply.status, reply.headers.get("retry-after")))
            time.sleep(0.01)

    threads = [
        threading.Thread(target=work, args=(server,), daemon=True)
        for server in servers
        for work in (reader, writer)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    report = moves.move_tenant(sharded, "acme", target, actor="test")
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(30)

    assert reads and set(reads) == {200}, sorted(set(reads))
    statuses = {status for _, status, _ in writes}
    assert statuses <= {302, 503}, statuses
    refused = [w for w in writes if w[1] == 503]
    assert refused and all(retry for _, _, retry in refused)
    saved = [title for title, status, _ in writes if status == 302]
    assert len(saved) > 20 and writes[-1][1] == 302  # writes went on after the move

    sharded.storage.forget(acme.id)
    stored = [note["title"] for note in rows(sharded, acme.id)["notes"]]
    assert sorted(stored) == sorted(saved)  # none lost, none duplicated
    assert sharded.registry.get("acme").database == target
    engine = sa.create_engine(sharded.storage.databases[here].url)
    with engine.connect() as connection:
        left = connection.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :name"),
            {"name": f"tenant_{acme.id}%"},
        ).all()
    engine.dispose()
    assert left == []  # the old copy is gone: nothing can have landed there
    assert report.write_window < 5
