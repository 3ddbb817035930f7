"""Self-service (issue 14 item 6): leave a workspace (deleting one's account in it; never
the last owner) and transfer ownership, each confirmed by the password."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tenants.keys import derive_directory_key
from tenants.registry.directory import tenants_of
from tenants.testing import PASSWORD
from tests.accounts_support import user_row
from tests.helpers import csrf_token


def post(client, path: str, **data: str):
    return client.post(path, data={"csrf_token": csrf_token(client.get("/account/")), **data})


def test_a_member_leaves_and_the_account_is_gone(platform, tenant_client) -> None:
    tenant_client("acme")
    member = tenant_client("acme", role="member")
    email = next(
        line.split("<dd>")[1].split(" ")[0]
        for line in member.get("/account/").get_data(as_text=True).splitlines()
        if "<dt>Email</dt>" in line
    )
    wrong = post(member, "/account/leave", leave_password="nope")
    assert wrong.status_code == 303 and user_row(platform, "acme", email) is not None
    left = post(member, "/account/leave", leave_password=PASSWORD)
    assert left.status_code == 303 and left.headers["Location"].endswith("/login")
    assert user_row(platform, "acme", email) is None
    assert member.get("/notes/").status_code == 302
    with Session(platform.engine) as session:
        key = derive_directory_key(platform.settings.secret_key)
        assert list(tenants_of(session, key, email)) == []


def test_the_last_owner_cannot_leave_but_can_transfer_then_leave(platform, tenant_client) -> None:
    owner = tenant_client("acme")
    refused = post(owner, "/account/leave", leave_password=PASSWORD)
    assert refused.status_code == 303
    assert "You are the only owner" in owner.get("/account/").get_data(as_text=True)
    assert user_row(platform, "acme", "owner@acme.test") is not None

    member = tenant_client("acme", role="member")
    page = owner.get("/account/").get_data(as_text=True)
    assert "Transfer ownership" in page
    member_email = next(
        line.split("<dd>")[1].split(" ")[0]
        for line in member.get("/account/").get_data(as_text=True).splitlines()
        if "<dt>Email</dt>" in line
    )
    new_owner = user_row(platform, "acme", member_email)
    bad = post(owner, "/account/transfer", new_owner=str(new_owner.id), transfer_password="x")
    assert bad.status_code == 303
    assert user_row(platform, "acme", member_email).role == "member"
    done = post(owner, "/account/transfer", new_owner=str(new_owner.id), transfer_password=PASSWORD)
    assert done.status_code == 303
    assert user_row(platform, "acme", member_email).role == "owner"
    assert user_row(platform, "acme", "owner@acme.test").role == "member"
    assert post(owner, "/account/leave", leave_password=PASSWORD).status_code == 303
    assert user_row(platform, "acme", "owner@acme.test") is None
    assert member.get("/settings/").status_code == 200  # the new owner has owner pages
