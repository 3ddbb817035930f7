"""Notes: list (newest first, author and time), create, edit, delete; each tenant its own."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants.notes.models import Note
from tests.helpers import csrf_token, login

ACME = "acme.example.com"
GLOBEX = "globex.example.com"


def get(client: Client, path: str, host: str = ACME) -> TestResponse:
    return client.get(path, headers={"Host": host})


def post(client: Client, path: str, data: dict[str, str], host: str = ACME) -> TestResponse:
    token = csrf_token(get(client, "/notes/new", host))
    return client.post(path, headers={"Host": host}, data={"csrf_token": token, **data})


def write(client: Client, title: str, body: str = "", host: str = ACME) -> TestResponse:
    return post(client, "/notes/new", {"title": title, "body": body}, host)


def note_ids(platform, tenant_id: int) -> dict[str, int]:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with Session(engine) as session:
            return {n.title: n.id for n in session.execute(select(Note)).scalars()}
    finally:
        platform.storage.release(engine)


def logged_in(platform, host: str, email: str, password: str | None = None) -> Client:
    client = Client(platform)
    response = (
        login(client, host, email) if password is None else login(client, host, email, password)
    )
    assert response.status_code == 302
    return client


def test_create_lists_newest_first_with_author_and_time(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    assert write(owner, "First plan", "step one\nstep two").status_code == 302
    response = write(owner, "Second plan")
    assert response.status_code == 302 and response.headers["Location"] == "/notes/"

    page = get(owner, "/notes/").get_data(as_text=True)
    assert page.index("Second plan") < page.index("First plan")
    assert "step one\nstep two" in page
    assert "by owner@acme.test" in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00">', page)
    assert "UTC</time>" in page


def test_edit_changes_the_note_and_moves_it_first(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    write(owner, "Old title")
    write(owner, "Other")
    note_id = note_ids(platform, tenant.id)["Old title"]
    form = get(owner, f"/notes/{note_id}/edit")
    assert form.status_code == 200 and 'value="Old title"' in form.get_data(as_text=True)

    response = post(owner, f"/notes/{note_id}/edit", {"title": "New title", "body": "more"})
    assert response.status_code == 302
    page = get(owner, "/notes/").get_data(as_text=True)
    assert "Old title" not in page
    assert page.index("New title") < page.index("Other")
    assert "(edited)" in page
    assert note_ids(platform, tenant.id)["New title"] == note_id


def test_delete_removes_the_note(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    write(owner, "Doomed")
    note_id = note_ids(platform, tenant.id)["Doomed"]
    response = post(owner, f"/notes/{note_id}/delete", {})
    assert response.status_code == 302
    assert note_ids(platform, tenant.id) == {}
    assert "No notes yet" in get(owner, "/notes/").get_data(as_text=True)


def test_missing_note_is_404(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    assert get(owner, "/notes/42/edit").status_code == 404
    assert post(owner, "/notes/42/edit", {"title": "x"}).status_code == 404
    response = post(owner, "/notes/42/delete", {})
    assert response.status_code == 404
    assert "no such note" in response.get_data(as_text=True)


def test_invalid_note_is_422_with_the_message_beside_the_field(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    response = write(owner, "   ", "a body")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="title-error"' in page and "Give the note a title." in page
    assert "a body" in page  # what was typed is kept
    assert write(owner, "x" * 201).status_code == 422
    assert note_ids(platform, tenant.id) == {}


def test_notes_need_a_login(platform, create_tenant) -> None:
    create_tenant("acme")
    response = get(Client(platform), "/notes/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_only_the_author_or_an_owner_changes_a_note(platform, create_tenant) -> None:
    tenant = create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    post(
        owner,
        "/members/create",
        {"email": "ann@acme.test", "password": "ann-password", "role": "member"},
    )
    ann = logged_in(platform, ACME, "ann@acme.test", "ann-password")
    write(owner, "Owner plan")
    write(ann, "Ann plan")
    ids = note_ids(platform, tenant.id)
    owners_note, anns_note = ids["Owner plan"], ids["Ann plan"]

    page = get(ann, "/notes/").get_data(as_text=True)
    assert f"/notes/{anns_note}/edit" in page
    assert f"/notes/{owners_note}/edit" not in page
    assert get(ann, f"/notes/{owners_note}/edit").status_code == 403
    assert post(ann, f"/notes/{owners_note}/delete", {}).status_code == 403
    assert post(ann, f"/notes/{anns_note}/edit", {"title": "Ann idea"}).status_code == 302
    # An owner may tidy up anyone's note.
    assert post(owner, f"/notes/{anns_note}/delete", {}).status_code == 302
    assert set(note_ids(platform, tenant.id)) == {"Owner plan"}


def test_each_tenant_sees_only_its_own_notes_through_http(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    create_tenant("globex")
    acme_owner = logged_in(platform, ACME, "owner@acme.test")
    globex_owner = logged_in(platform, GLOBEX, "owner@globex.test")
    write(acme_owner, "acme secret plan")
    note_id = note_ids(platform, acme.id)["acme secret plan"]

    globex_page = get(globex_owner, "/notes/", GLOBEX).get_data(as_text=True)
    assert "acme secret plan" not in globex_page and "No notes yet" in globex_page
    assert "acme secret plan" not in get(globex_owner, "/", GLOBEX).get_data(as_text=True)
    # The same id on globex is globex's (absent) note, never acme's.
    assert get(globex_owner, f"/notes/{note_id}/edit", GLOBEX).status_code == 404
    assert post(globex_owner, f"/notes/{note_id}/delete", {}, GLOBEX).status_code == 404
    assert "acme secret plan" in note_ids(platform, acme.id)

    write(globex_owner, "globex roadmap", host=GLOBEX)
    acme_page = get(acme_owner, "/notes/").get_data(as_text=True)
    assert "globex roadmap" not in acme_page and "acme secret plan" in acme_page


def test_home_shows_recent_notes_and_a_link_to_write_one(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    empty = get(owner, "/").get_data(as_text=True)
    assert 'href="/notes/new"' in empty and "No notes yet" in empty
    for number in range(7):
        write(owner, f"Note number {number}")
    home = get(owner, "/").get_data(as_text=True)
    assert "Note number 6" in home and "Note number 2" in home
    assert "Note number 1" not in home  # only the five newest
    assert "<strong>7</strong> notes" in home
    assert 'href="/notes/new"' in home


def test_notes_are_paginated(platform, create_tenant) -> None:
    create_tenant("acme")
    owner = logged_in(platform, ACME, "owner@acme.test")
    for number in range(22):
        write(owner, f"Note {number:02d}")
    first = get(owner, "/notes/").get_data(as_text=True)
    assert "Note 21" in first and "Note 01" not in first
    assert "Page 1 of 2" in first
    second = get(owner, "/notes/?page=2").get_data(as_text=True)
    assert "Note 01" in second and "Note 00" in second and "Note 21" not in second
    assert get(owner, "/notes/?page=9").status_code == 404
