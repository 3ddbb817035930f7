"""The workspace's front page: who is here, and a section from each product module."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import login_required
from sqlalchemy import func, select

from tenants.accounts.models import User
from tenants.appkit.models import db

bp = Blueprint("home", __name__)

#: ``app.extensions`` key: the home page's fragments, one per product module that has one.
HOME_FRAGMENTS = "tenants.workspace.home_fragments"


@bp.get("/")
@login_required
def index() -> str:
    return render_template(
        "workspace/index.html",
        member_count=db.session.execute(select(func.count(User.id))).scalar_one(),
        home_fragments=current_app.extensions[HOME_FRAGMENTS],
    )
