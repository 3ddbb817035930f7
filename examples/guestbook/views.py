"""The guestbook's page: the tenant's name, how many entries, and a form to add one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from examples.guestbook.models import Entry
from tenants.appkit import db, tenant_services

bp = Blueprint("guestbook", __name__, template_folder="templates")


class EntryForm(FlaskForm):
    text = StringField("Your entry", validators=[DataRequired("Write something."), Length(max=280)])


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    form = EntryForm()
    if form.validate_on_submit():
        db.session.add(Entry(text=form.text.data.strip()))
        db.session.commit()
        flash("Thank you for signing the guestbook.")
        return redirect(url_for("guestbook.index"), code=303)
    entries = db.session.execute(select(Entry).order_by(Entry.id.desc()).limit(20)).scalars()
    page = render_template(
        "guestbook/index.html",
        tenant=tenant_services().tenant,
        count=db.session.execute(select(func.count(Entry.id))).scalar_one(),
        entries=list(entries),
        form=form,
    )
    return page, 422 if request.method == "POST" else 200
