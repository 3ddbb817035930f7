"""Tenant users' server-side sessions: start at login, checked per request, ended on demand.

See ``tenants.sessions`` for the design. Here: the rows in the tenant's storage
(``user_sessions``), Flask-Login's loader (one query per request: the session row by
primary key, joined with its user), and the operations the login and account pages use.
"""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import login_user, logout_user
from sqlalchemy import delete, select

from tenants.accounts.extensions import db, login_manager
from tenants.accounts.models import User, UserSession
from tenants.appkit.flask_app import tenant_services
from tenants.sessions import row_id, session_fields, touch_later, utcnow


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user of the session row ``token`` names, if that session is still valid."""
    if not isinstance(token, str) or not token:
        return None
    found = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == row_id(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if not row.is_valid(user.password_hash):
        return None
    touch_later(db.engine, row)
    user.session_token = token
    return user


def start_session(user: User, *, remember: bool = False) -> None:
    """Log ``user`` in on this device: a new session row, and a fresh signed cookie."""
    lifetimes = tenant_services().session_lifetimes
    token, fields = session_fields(
        request, user.password_hash, remember=remember, lifetimes=lifetimes
    )
    # The user's expired sessions go as a new one starts: the table stays small.
    db.session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at < utcnow())
    )
    db.session.add(UserSession(user_id=user.id, **fields))
    db.session.commit()
    session.clear()
    session["tenant_id"] = current_app.config["TENANT_ID"]
    session.permanent = remember
    user.session_token = token
    login_user(user)


def current_row_id() -> str | None:
    token = session.get("_user_id")
    return row_id(token) if isinstance(token, str) and token else None


def end_current_session() -> None:
    """Log out here: the row goes, so a copy of this cookie is worth nothing either."""
    current = current_row_id()
    if current is not None:
        db.session.execute(delete(UserSession).where(UserSession.id == current))
        db.session.commit()
    logout_user()
    session.clear()


def end_session(user_id: int, session_id: str) -> bool:
    """End one of the user's sessions (by row id); False if it is not theirs or is gone."""
    result = db.session.execute(
        delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user_id)
    )
    db.session.commit()
    return bool(result.rowcount)


def end_all_sessions(user_id: int) -> None:
    db.session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    db.session.commit()


def active_sessions(user_id: int) -> list[UserSession]:
    """The user's sessions that have not expired, most recently used first."""
    return list(
        db.session.execute(
            select(UserSession)
            .where(UserSession.user_id == user_id, UserSession.expires_at > utcnow())
            .order_by(UserSession.last_seen_at.desc(), UserSession.created_at.desc())
        ).scalars()
    )
