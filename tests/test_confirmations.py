"""Destructive actions take a second step that works without JavaScript, and small words.

Deleting a note and removing a member are a link to a page that asks, whose form does
it; looking at that page changes nothing. (Suspending a tenant: tests/test_dead_ends.py;
removing an admin: tests/test_admin_management.py.)
"""

from __future__ import annotations

import re

from werkzeug.test import Client

from tests.helpers import csrf_token, login
from tests.test_workspace_members import add_member, member_id, set_role, user_count
from tests.test_workspace_notes import note_ids, write

ACME = {"Host": "acme.example.com"}


def owner_of_acme(platform, create_tenant) -> tuple[Client, int]:
    tenant = create_tenant("acme")
    owner = Client(platform)
    assert login(owner, "acme.example.com", "owner@acme.test").status_code == 302
    return owner, tenant.id


def test_deleting_a_note_asks_first(platform, create_tenant) -> None:
    owner, tenant_id = owner_of_acme(platform, create_tenant)
    assert write(owner, "Quarterly plan", "Draft").status_code == 302
    note_id = note_ids(platform, tenant_id)["Quarterly plan"]
    listing = owner.get("/notes/", headers=ACME).get_data(as_text=True)
    assert f'href="/notes/{note_id}/delete">Delete…' in listing
    assert f'action="/notes/{note_id}/delete"' not in listing  # no one-click delete

    ask = owner.get(f"/notes/{note_id}/delete", headers=ACME)
    assert ask.status_code == 200
    body = ask.get_data(as_text=True)
    assert "Quarterly plan" in body and "cannot be undone" in body and "Cancel" in body
    assert "Quarterly plan" in note_ids(platform, tenant_id)

    assert owner.post(f"/notes/{note_id}/delete", headers=ACME).status_code == 400  # no token
    done = owner.post(
        f"/notes/{note_id}/delete", headers=ACME, data={"csrf_token": csrf_token(ask)}
    )
    assert done.status_code == 302
    assert "Quarterly plan" not in note_ids(platform, tenant_id)
    assert owner.get(f"/notes/{note_id}/delete", headers=ACME).status_code == 404


def test_removing_a_member_asks_first(platform, create_tenant) -> None:
    owner, tenant_id = owner_of_acme(platform, create_tenant)
    assert add_member(owner, "ann@acme.test", name="Ann").status_code == 302
    ann_id = member_id(platform, tenant_id, "ann@acme.test")
    page = owner.get("/members/", headers=ACME).get_data(as_text=True)
    assert f'href="/members/{ann_id}/remove">Remove…' in page
    assert f'action="/members/{ann_id}/remove"' not in page

    ask = owner.get(f"/members/{ann_id}/remove", headers=ACME)
    assert ask.status_code == 200
    assert "can no longer log in" in ask.get_data(as_text=True)
    assert user_count(platform, tenant_id) == 2
    done = owner.post(
        f"/members/{ann_id}/remove", headers=ACME, data={"csrf_token": csrf_token(ask)}
    )
    assert done.status_code == 302 and user_count(platform, tenant_id) == 1


def test_members_see_the_confirmation_only_as_owners(platform, create_tenant) -> None:
    owner, tenant_id = owner_of_acme(platform, create_tenant)
    add_member(owner, "ann@acme.test", password="ann-password-1")
    ann = Client(platform)
    assert login(ann, "acme.example.com", "ann@acme.test", "ann-password-1").status_code == 302
    owner_id = member_id(platform, tenant_id, "owner@acme.test")
    assert ann.get(f"/members/{owner_id}/remove", headers=ACME).status_code == 403


def test_each_role_is_shown_once_and_said_right(platform, create_tenant) -> None:
    owner, tenant_id = owner_of_acme(platform, create_tenant)
    added = add_member(owner, "ann@acme.test")
    assert added.status_code == 302
    page = owner.get("/members/", headers=ACME).get_data(as_text=True)
    assert "ann@acme.test is now a member of this workspace." in page
    ann_row = re.search(r'<tr id="member-\d+">(?:(?!</tr>).)*ann@acme.test.*?</tr>', page, re.S)
    assert ann_row is not None
    # For an owner the role is the select (with the member's role chosen), not also a badge.
    assert 'class="badge member"' not in ann_row.group(0)
    assert re.search(r'<option selected value="member">', ann_row.group(0))
    set_role(owner, member_id(platform, tenant_id, "ann@acme.test"), "owner")
    page = owner.get("/members/", headers=ACME).get_data(as_text=True)
    assert "ann@acme.test is now an owner." in page and "a owner" not in page


def test_opening_a_workspace_logged_out_is_not_an_error(platform, create_tenant) -> None:
    create_tenant("acme")
    visitor = Client(platform)
    answer = visitor.get("/notes/", headers=ACME)
    assert answer.status_code == 302
    page = visitor.get(answer.headers["Location"], headers=ACME).get_data(as_text=True)
    assert "Log in to continue" not in page and 'class="flash"' not in page
