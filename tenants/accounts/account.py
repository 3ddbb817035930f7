"""Your account: who you are here, and your password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.security import check_password_hash

from tenants.accounts.auth import start_session
from tenants.accounts.extensions import db
from tenants.accounts.forms import PasswordForm
from tenants.appkit.flask_app import tenant_services

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> Any:
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if check_password_hash(user.password_hash, form.current_password.data):
            user.password_hash = tenant_services().hash_password(form.new_password.data)
            db.session.commit()
            # The session id includes the end of the hash (User.get_id): every other
            # session of this user is over; this one starts again with the new id.
            start_session(user)
            flash("Your password is changed. Your sessions on other devices are logged out.")
            return redirect(url_for("account.index"))
        form.current_password.errors.append(
            "That is not your current password. Type it again, or ask an owner to reset it."
        )
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("accounts/account.html", form=form), status
