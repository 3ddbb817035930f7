"""The platform's public pages."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("console", __name__)


@bp.get("/")
def landing() -> str:
    return render_template("console/landing.html")
