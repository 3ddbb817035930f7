"""Notes: every member reads them; the author or an owner edits and deletes one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from tenants.appkit.models import db, utcnow
from tenants.notes.forms import NoteForm
from tenants.notes.models import Note

bp = Blueprint("notes", __name__, url_prefix="/notes", template_folder="templates")

NOTES_PER_PAGE = 20


def newest_first() -> Any:
    return select(Note).order_by(Note.updated_at.desc(), Note.id.desc())


def recent_notes(limit: int) -> list[Note]:
    return list(db.session.execute(newest_first().limit(limit)).scalars())


def note_count() -> int:
    return db.session.execute(select(func.count(Note.id))).scalar_one()


def when(moment: datetime | None) -> str:
    """A time for people, in UTC (SQLite gives naive datetimes; they are UTC too)."""
    if moment is None:
        return ""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")


@bp.app_context_processor
def _note_helpers() -> dict[str, Any]:
    return {
        "when": when,
        "iso": iso,
        "can_change": can_change,
        "recent_notes": recent_notes,
        "note_count": note_count,
    }


def can_change(note: Note) -> bool:
    return bool(
        current_user.is_authenticated
        and (current_user.is_owner or note.author_id == current_user.id)
    )


def _changeable_note(note_id: int) -> Note:
    note = db.get_or_404(
        Note, note_id, description="There is no such note; it may have been deleted."
    )
    if not can_change(note):
        abort(403, "Only the note's author or an owner of the workspace can change it.")
    return note


@bp.get("/")
@login_required
def index() -> str:
    page = db.paginate(newest_first(), per_page=NOTES_PER_PAGE, max_per_page=NOTES_PER_PAGE)
    return render_template("notes/notes.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    form = NoteForm()
    if form.validate_on_submit():
        now = utcnow()
        note = Note(
            title=form.title.data,
            body=form.body.data or "",
            author_id=current_user.id,
            created_at=now,
            updated_at=now,
        )
        db.session.add(note)
        db.session.commit()
        flash(f"Note “{note.title}” saved.")
        return redirect(url_for("notes.index"))
    status = 422 if request.method == "POST" else 200
    return render_template("notes/note_form.html", form=form, note=None), status


@bp.route("/<int:note_id>/edit", methods=["GET", "POST"])
@login_required
def edit(note_id: int) -> Any:
    note = _changeable_note(note_id)
    form = NoteForm(obj=note)
    if form.validate_on_submit():
        note.title = form.title.data
        note.body = form.body.data or ""
        note.updated_at = utcnow()
        db.session.commit()
        flash(f"Note “{note.title}” updated.")
        return redirect(url_for("notes.index"))
    status = 422 if request.method == "POST" else 200
    return render_template("notes/note_form.html", form=form, note=note), status


@bp.route("/<int:note_id>/delete", methods=["GET", "POST"])
@login_required
def delete(note_id: int) -> Any:
    """GET: the confirmation step (works without JavaScript); POST: delete the note."""
    note = _changeable_note(note_id)
    if request.method == "GET":
        return render_template("notes/delete.html", note=note)
    title = note.title
    db.session.delete(note)
    db.session.commit()
    flash(f"Note “{title}” deleted.")
    return redirect(url_for("notes.index"))
