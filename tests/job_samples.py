"""Jobs the job tests run (a worker subprocess imports this module through JOBS_IMPORTS).

Each writes what it saw into the tenant's own notes, so a test reads the effect where a
wrong tenant would show it: in the storage of the tenant the job ran in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import func, select

from tenants.appkit import db
from tenants.database import sqlite_write_intent
from tenants.jobs import JobContext, JobError, platform_job, tenant_job
from tenants.notes.models import Note

#: Set by the first job in a process to check that no context variable leaks to the next.
LEAK_PROBE: dict[str, Any] = {}


def _add_note_once(title: str) -> bool:
    """Add a note titled ``title`` unless one exists; True when this call added it."""
    exists = db.session.execute(select(Note.id).where(Note.title == title)).first()
    if exists is None:
        db.session.add(Note(title=title, body=""))
    db.session.commit()
    return exists is None


@tenant_job("tests.count_notes", max_attempts=1, writes=False)
def count_notes(ctx: JobContext) -> dict[str, int]:
    """Only read the tenant's storage: runs while the tenant is read-only."""
    return {"notes": db.session.execute(select(func.count(Note.id))).scalar_one()}


@tenant_job("tests.write_when_told", max_attempts=1)
def write_when_told(ctx: JobContext, *, started: str, go: str, title: str) -> dict[str, bool]:
    """Read (its transaction begins), say so, wait for ``go`` to exist, then add a note."""
    db.session.execute(select(func.count(Note.id))).scalar_one()
    Path(started).touch()
    deadline = time.monotonic() + 30
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise JobError("No go signal came.")
        time.sleep(0.02)
    return {"added": _add_note_once(title)}


@tenant_job("tests.record_notes", max_attempts=1)
def record_notes(ctx: JobContext, *, label: str) -> dict[str, Any]:
    """Read the tenant's notes and add one note: shows which storage the job is in."""
    titles = sorted(db.session.execute(select(Note.title)).scalars())
    _add_note_once(f"job {label}")
    dialect = db.session.get_bind().dialect.name
    search_path = None
    if dialect == "postgresql":
        search_path = db.session.execute(select(func.current_setting("search_path"))).scalar()
    return {
        "slug": current_app.config["TENANT_SLUG"],
        "ctx_slug": ctx.tenant.slug if ctx.tenant else None,
        "titles": titles,
        "search_path": search_path,
        "write_intent": sqlite_write_intent.get(),
    }


@tenant_job("tests.leave_state_behind", max_attempts=1)
def leave_state_behind(ctx: JobContext) -> dict[str, Any]:
    """Push an extra app context, set a context variable and leave a transaction open."""
    sqlite_write_intent.set(False)
    current_app.app_context().push()  # never popped by the job
    db.session.add(Note(title=f"uncommitted {ctx.job_id}", body=""))
    db.session.flush()
    return {"slug": current_app.config["TENANT_SLUG"]}


@tenant_job("tests.effect_once", max_attempts=3, min_backoff=0.2)
def effect_once(ctx: JobContext, *, marker_dir: str, wait: float = 0.0) -> dict[str, Any]:
    """Make the effect (a note keyed by the job id) once, tell the test, then wait.

    The test kills the worker while it waits: the next attempt finds the effect made.
    """
    added = _add_note_once(f"effect {ctx.idempotency_key()}")
    Path(marker_dir, f"attempt-{ctx.attempt}-{os.getpid()}").write_text(str(added))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not Path(marker_dir, "release").exists():
        time.sleep(0.05)
    return {"attempt": ctx.attempt, "added": added}


@tenant_job("tests.wait_then_effect", max_attempts=3, min_backoff=0.2)
def wait_then_effect(ctx: JobContext, *, marker_dir: str, wait: float = 0.0) -> dict[str, Any]:
    """Tell the test it started, wait (the test may kill the worker here), then the effect."""
    Path(marker_dir, f"started-{ctx.attempt}-{os.getpid()}").write_text("")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not Path(marker_dir, "release").exists():
        time.sleep(0.05)
    added = _add_note_once(f"effect {ctx.idempotency_key()}")
    return {"attempt": ctx.attempt, "added": added}


@tenant_job("tests.fail_until", max_attempts=4, min_backoff=0.05, max_backoff=0.2)
def fail_until(ctx: JobContext, *, succeed_on: int, public: bool = False) -> dict[str, Any]:
    if ctx.attempt < succeed_on:
        if public:
            raise JobError(f"Attempt {ctx.attempt} could not reach the printer.")
        raise RuntimeError(f"attempt {ctx.attempt} failed: secret internals")
    return {"attempt": ctx.attempt}


@tenant_job("tests.note_start", max_attempts=1)
def note_start(ctx: JobContext, *, label: str, seconds: float = 0.0) -> None:
    """Record the start (the tenant's note), then take ``seconds``."""
    _add_note_once(f"start {label}")
    time.sleep(seconds)


@tenant_job("tests.progress", max_attempts=1)
def progress(ctx: JobContext, *, steps: int) -> dict[str, int]:
    for done in range(steps + 1):
        ctx.progress(done, steps, force=True)
    return {"steps": steps}


@platform_job("tests.platform_probe", max_attempts=1)
def platform_probe(ctx: JobContext) -> dict[str, Any]:
    return {
        "tenant": ctx.tenant,
        "app": current_app.name if has_app_context() else None,
        "tenant_id_config": current_app.config.get("TENANT_ID"),
    }


@tenant_job("tests.sleep", max_attempts=2, min_backoff=0.2)
def sleep(ctx: JobContext, *, seconds: float, label: str = "") -> dict[str, Any]:
    time.sleep(seconds)
    _add_note_once(f"slept {label or ctx.job_id}")
    return {"slept": seconds}
