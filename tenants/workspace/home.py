"""The workspace's front page: the latest notes and where to go next."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import func, select

from tenants.workspace.extensions import db
from tenants.workspace.models import Note, User
from tenants.workspace.notes import recent_notes

bp = Blueprint("home", __name__)

RECENT_NOTES = 5


@bp.get("/")
@login_required
def index() -> str:
    return render_template(
        "workspace/index.html",
        notes=recent_notes(RECENT_NOTES),
        note_count=db.session.execute(select(func.count(Note.id))).scalar_one(),
        member_count=db.session.execute(select(func.count(User.id))).scalar_one(),
    )
