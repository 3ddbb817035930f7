"""Errors say what is wrong: only an unreachable database is a 503 "try again".

A missing table (a deployment that skipped ``tenants migrate``) or any other programming
error is a 500 with its cause in the log, and reaches the debugger in development.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tenants.dispatch.retry import STORAGE_MOVED
from tenants.web.errors import storage_moved_response
from tests.helpers import login

ACME = {"Host": "acme.example.com"}


def run_sql(platform, tenant_id: int, statement: str) -> None:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with engine.begin() as connection:
            if platform.settings.is_postgres:
                schema = platform.storage.location(tenant_id)
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
            connection.exec_driver_sql(statement)
    finally:
        platform.storage.release(engine)


def test_a_missing_table_is_a_500_with_the_cause_in_the_log(
    platform, client, create_tenant, caplog: pytest.LogCaptureFixture
) -> None:
    acme = create_tenant("acme")
    assert login(client, "acme.example.com", "owner@acme.test").status_code == 302
    run_sql(platform, acme.id, "DROP TABLE notes")
    with caplog.at_level(logging.ERROR):
        response = client.get("/notes/", headers=ACME)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "try again" not in page.lower()
    assert "Retry-After" not in response.headers
    logged = "\n".join(
        record.getMessage() + str(record.exc_info[1] if record.exc_info else "")
        for record in caplog.records
    )
    assert "notes" in logged
    assert "no such table" in logged or "does not exist" in logged


def test_in_development_a_missing_table_reaches_the_debugger(make_platform, create_tenant) -> None:
    from werkzeug.test import Client

    acme = create_tenant("acme")
    debugging = make_platform(debug=True)
    client = Client(debugging)
    assert login(client, "acme.example.com", "owner@acme.test").status_code == 302
    run_sql(debugging, acme.id, "DROP TABLE notes")
    with pytest.raises(DBAPIError, match="notes"):
        client.get("/notes/", headers=ACME)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_connection_that_dies_mid_request_is_a_503(platform, client, create_tenant) -> None:
    """The server ends the request's own connection (as a restart or failover would)."""
    create_tenant("acme")
    assert login(client, "acme.example.com", "owner@acme.test").status_code == 302
    app = platform.tenant_app_for("acme")
    from tenants.appkit import db

    def end_my_connection() -> None:
        db.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    app.before_request_funcs.setdefault(None, []).append(end_my_connection)
    response = client.get("/", headers=ACME)
    assert response.status_code == 503
    assert "try again" in response.get_data(as_text=True).lower()
    assert response.headers["Retry-After"]
    app.before_request_funcs[None].remove(end_my_connection)
    assert client.get("/", headers=ACME).status_code == 200  # a fresh connection


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_database_that_cannot_be_opened_is_a_503(platform, client, create_tenant) -> None:
    acme = create_tenant("acme")
    assert login(client, "acme.example.com", "owner@acme.test").status_code == 302
    platform.apps.clear()  # the next request builds the app, and connects, anew
    location = Path(platform.storage.location(acme.id))
    kept = location.with_name("kept.db")
    shutil.move(location, kept)
    location.mkdir()  # a directory where the file was: SQLite cannot open it
    response = client.get("/", headers=ACME)
    assert response.status_code == 503
    assert "try again" in response.get_data(as_text=True).lower()
    location.rmdir()
    shutil.move(kept, location)
    platform.apps.clear()
    assert client.get("/", headers=ACME).status_code == 200


@pytest.mark.parametrize(
    ("headers", "kind"),
    [({"Accept": "text/html"}, "text/html"), ({"Accept": "application/json"}, "application/json")],
    ids=["page", "api"],
)
def test_the_storage_moved_answer_says_send_it_again_as_a_page_or_json(headers, kind) -> None:
    with Flask(__name__).test_request_context("/notes/new", method="POST", headers=headers):
        response = storage_moved_response()
    assert response.status_code == 503 and response.mimetype == kind
    assert response.headers["Retry-After"] == "1" and response.headers[STORAGE_MOVED] == "1"
    body = response.get_data(as_text=True)
    if kind == "application/json":
        assert response.get_json()["error"] == "storage_moved"
    assert "nothing" in body and "again" in body
