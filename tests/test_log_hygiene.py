"""No secret in any log line: a failed INSERT of a person logs neither their email nor hash.

SQLAlchemy puts a statement's parameters in its error message, and PostgreSQL adds its
own copy of the row (``DETAIL: Key (lower(email))=(…)``, ``Failing row contains (…)``).
Flask logs an unhandled error's full traceback, message included, to the error log. The
tests force such errors on every kind of engine the platform makes (the registry, a
tenant's storage) on both backends and read what was logged or would be printed.
"""

from __future__ import annotations

import logging
import traceback

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from tenants.accounts.models import User
from tenants.registry.models import PlatformAdmin

EMAIL = "victim.person@example.org"
#: What a werkzeug hash looks like; unique enough to be found in any text.
PASSWORD_HASH = "scrypt:32768:8:1$NotARealSalt42$" + "5e3c7a" * 20


def printed(error: BaseException) -> str:
    """The text a log handler writes for ``error`` (message, chained causes, traceback)."""
    return "".join(traceback.format_exception(error))


def assert_clean(text: str) -> None:
    assert PASSWORD_HASH not in text
    assert PASSWORD_HASH[-24:] not in text
    assert EMAIL not in text.lower()


def test_a_failing_request_logs_no_email_or_password_hash(platform, caplog) -> None:
    """Through Flask's own error logging: an IntegrityError escapes a view (a 500).

    The platform's apps share one URL map per definition and refuse routes added later,
    so the views live on a plain Flask app writing through the platform's engine.
    """
    from tenants.admins import create_admin

    create_admin(platform, EMAIL, "a-long-password")
    app = Flask("log_hygiene")

    def insert(admin: PlatformAdmin) -> str:
        with Session(platform.engine) as session:
            session.add(admin)
            session.commit()
        return "unreachable"

    app.add_url_rule(
        "/test-duplicate",
        "duplicate",
        lambda: insert(PlatformAdmin(email=EMAIL.upper(), password_hash=PASSWORD_HASH)),
    )
    app.add_url_rule(
        "/test-no-email",
        "no_email",
        lambda: insert(PlatformAdmin(email=None, password_hash=PASSWORD_HASH)),
    )
    caplog.set_level(logging.INFO)
    client = app.test_client()
    for path in ("/test-duplicate", "/test-no-email"):
        response = client.get(path)
        assert response.status_code == 500
    errors = [record for record in caplog.records if record.exc_info]
    assert len(errors) == 2, [record.getMessage() for record in caplog.records]
    # The errors are the database's, with their class and constraint: only the data is gone.
    logged = caplog.text
    assert "IntegrityError" in logged and "platform_admins" in logged
    assert_clean(logged)
    for record in errors:
        assert_clean(printed(record.exc_info[1]))


def tenant_engine(platform, tenant_id: int) -> sa.Engine:
    return platform.storage.engine_for(tenant_id)


def test_a_tenant_engines_errors_carry_no_row_data(platform, create_tenant) -> None:
    tenant = create_tenant("acme", email=EMAIL)
    engine = tenant_engine(platform, tenant.id)
    users = User.__table__
    try:
        attempts = [
            # A second user with the owner's email: unique violation on lower(email).
            users.insert().values(email=EMAIL, password_hash=PASSWORD_HASH, name="x", role="x"),
            # No email: PostgreSQL's NOT NULL error lists the whole row, hash included.
            users.insert().values(email=None, password_hash=PASSWORD_HASH, name=EMAIL, role="x"),
        ]
        for statement in attempts:
            with pytest.raises(sa.exc.IntegrityError) as failed:
                with engine.begin() as connection:
                    connection.execute(statement)
            assert_clean(printed(failed.value))
            assert "users" in str(failed.value)
    finally:
        platform.storage.release(engine)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_full_diagnostics_stay_available_to_code(platform) -> None:
    """Redaction is of the text only: code can still read which constraint failed (PostgreSQL)."""
    from tenants.admins import create_admin

    create_admin(platform, EMAIL, "a-long-password")
    with pytest.raises(sa.exc.IntegrityError) as failed:
        with platform.engine.begin() as connection:
            connection.execute(
                PlatformAdmin.__table__.insert().values(email=EMAIL, password_hash=PASSWORD_HASH)
            )
    diag = failed.value.orig.diag
    assert diag.constraint_name == "uq_platform_admins_email"
    assert EMAIL in (diag.message_detail or "")  # there for code, never in the message
    assert_clean(printed(failed.value))
