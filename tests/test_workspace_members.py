"""Members: owners add, remove and set roles; a workspace always keeps an owner."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from werkzeug.test import Client, TestResponse

from tenants.accounts.models import Role, User
from tenants.notes.models import Note
from tests.conftest import PASSWORD
from tests.helpers import csrf_token, login

ACME = "acme.example.com"
MEMBER_PASSWORD = "member-password-1"


def get(client: Client, path: str) -> TestResponse:
    return client.get(path, headers={"Host": ACME})


def post(client: Client, path: str, data: dict[str, str]) -> TestResponse:
    token = csrf_token(get(client, "/account/"))
    return client.post(path, headers={"Host": ACME}, data={"csrf_token": token, **data})


def add_member(
    client: Client, email: str, role: str = "member", name: str = "", password: str = ""
) -> TestResponse:
    return post(
        client,
        "/members/create",
        {"email": email, "name": name, "password": password or MEMBER_PASSWORD, "role": role},
    )


def member_id(platform, tenant_id: int, email: str) -> int:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with Session(engine) as session:
            return session.execute(select(User.id).where(User.email == email)).scalar_one()
    finally:
        platform.storage.release(engine)


def user_count(platform, tenant_id: int) -> int:
    engine = platform.storage.engine_for(tenant_id)
    try:
        with Session(engine) as session:
            return session.execute(select(func.count(User.id))).scalar_one()
    finally:
        platform.storage.release(engine)


def set_role(client: Client, user_id: int, role: str) -> TestResponse:
    token = csrf_token(get(client, "/account/"))
    return client.post(
        f"/members/{user_id}/role",
        headers={"Host": ACME},
        data={f"m{user_id}-csrf_token": token, f"m{user_id}-role": role},
    )


def owner_client(platform, create_tenant) -> tuple[Client, object]:
    tenant = create_tenant("acme")
    client = Client(platform)
    assert login(client, ACME, "owner@acme.test").status_code == 302
    return client, tenant


def test_owner_adds_a_member_who_can_log_in(platform, create_tenant) -> None:
    owner, _ = owner_client(platform, create_tenant)
    response = add_member(owner, "ann@acme.test", name="Ann Example")
    assert response.status_code == 302
    page = get(owner, "/members/").get_data(as_text=True)
    assert ">ann@acme.test</td>" in page and "Ann Example" in page
    assert "ann@acme.test is now a member" in page

    ann = Client(platform)
    assert login(ann, ACME, "ann@acme.test", MEMBER_PASSWORD).status_code == 302
    assert "Ann Example" in get(ann, "/").get_data(as_text=True)


def test_member_password_is_stored_hashed(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "ann@acme.test")
    engine = platform.storage.engine_for(tenant.id)
    try:
        with Session(engine) as session:
            stored = session.execute(
                select(User.password_hash).where(User.email == "ann@acme.test")
            ).scalar_one()
    finally:
        platform.storage.release(engine)
    assert MEMBER_PASSWORD not in stored
    assert stored.startswith("pbkdf2:sha256:1000$")  # the platform's configured method


def test_duplicate_email_is_409_whatever_the_case(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    before = user_count(platform, tenant.id)
    response = add_member(owner, "OWNER@Acme.test")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "A member with this email already exists" in page
    assert 'id="email-error"' in page  # beside the field
    assert user_count(platform, tenant.id) == before


def test_invalid_member_form_is_422_with_messages_beside_fields(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    response = add_member(owner, "not-an-email", password="short", role="admin")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="email-error"' in page and "like you@example.com" in page
    assert 'id="password-error"' in page and "Use 8 to 200 characters" in page
    assert 'id="role-error"' in page
    assert user_count(platform, tenant.id) == 1


def test_members_get_403_on_owner_pages(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "ann@acme.test")
    owner_id = member_id(platform, tenant.id, "owner@acme.test")
    ann = Client(platform)
    login(ann, ACME, "ann@acme.test", MEMBER_PASSWORD)

    members_page = get(ann, "/members/")
    assert members_page.status_code == 200
    assert "owner@acme.test" in members_page.get_data(as_text=True)
    assert "Add member" not in members_page.get_data(as_text=True)

    assert get(ann, "/members/create").status_code == 403
    assert get(ann, "/settings/").status_code == 403
    forbidden = add_member(ann, "eve@acme.test")
    assert forbidden.status_code == 403
    assert "Only an owner" in forbidden.get_data(as_text=True)
    assert post(ann, f"/members/{owner_id}/remove", {}).status_code == 403
    assert set_role(ann, owner_id, "member").status_code == 403
    assert user_count(platform, tenant.id) == 2


def test_owner_changes_a_role_and_the_new_owner_gets_owner_pages(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "ann@acme.test")
    ann_id = member_id(platform, tenant.id, "ann@acme.test")
    ann = Client(platform)
    login(ann, ACME, "ann@acme.test", MEMBER_PASSWORD)
    assert get(ann, "/settings/").status_code == 403

    response = set_role(owner, ann_id, "owner")
    assert response.status_code == 302
    assert get(ann, "/settings/").status_code == 200
    assert "Settings" in get(ann, "/").get_data(as_text=True)  # in the navigation now


def test_invalid_role_is_422_beside_the_members_select(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "ann@acme.test")
    ann_id = member_id(platform, tenant.id, "ann@acme.test")
    response = set_role(owner, ann_id, "emperor")
    assert response.status_code == 422
    assert f'id="m{ann_id}-role-error"' in response.get_data(as_text=True)


def test_the_last_owner_cannot_be_demoted(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    owner_id = member_id(platform, tenant.id, "owner@acme.test")
    response = set_role(owner, owner_id, "member")
    assert response.status_code == 409
    assert "the only owner" in response.get_data(as_text=True)
    assert get(owner, "/settings/").status_code == 200  # still an owner


def test_an_owner_may_step_down_when_another_owner_remains(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "bob@acme.test", role="owner")
    owner_id = member_id(platform, tenant.id, "owner@acme.test")
    assert set_role(owner, owner_id, "member").status_code == 302
    assert get(owner, "/settings/").status_code == 403


def test_owner_removes_a_member_whose_session_ends(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "ann@acme.test")
    ann_id = member_id(platform, tenant.id, "ann@acme.test")
    ann = Client(platform)
    login(ann, ACME, "ann@acme.test", MEMBER_PASSWORD)
    assert post(ann, "/notes/new", {"title": "Ann's note", "body": ""}).status_code == 302

    response = post(owner, f"/members/{ann_id}/remove", {})
    assert response.status_code == 302
    page = get(owner, "/members/").get_data(as_text=True)
    assert "ann@acme.test was removed" in page
    assert "<td>ann@acme.test</td>" not in page
    assert user_count(platform, tenant.id) == 1

    # Her session is over, she cannot log in again, and her note stays, authorless.
    assert get(ann, "/").status_code == 302
    assert login(Client(platform), ACME, "ann@acme.test", MEMBER_PASSWORD).status_code == 401
    notes_page = get(owner, "/notes/").get_data(as_text=True)
    assert "Ann&#39;s note" in notes_page and "a former member" in notes_page
    engine = platform.storage.engine_for(tenant.id)
    try:
        with Session(engine) as session:
            assert session.execute(select(Note.author_id)).scalar_one() is None
    finally:
        platform.storage.release(engine)


def test_owner_cannot_remove_himself(platform, create_tenant) -> None:
    owner, tenant = owner_client(platform, create_tenant)
    owner_id = member_id(platform, tenant.id, "owner@acme.test")
    response = post(owner, f"/members/{owner_id}/remove", {})
    assert response.status_code == 409
    assert "cannot remove yourself" in response.get_data(as_text=True)
    assert user_count(platform, tenant.id) == 1


def test_removing_or_changing_an_unknown_member_is_404(platform, create_tenant) -> None:
    owner, _ = owner_client(platform, create_tenant)
    assert post(owner, "/members/999/remove", {}).status_code == 404
    assert set_role(owner, 999, "owner").status_code == 404


def test_members_of_one_tenant_are_not_members_of_another(platform, create_tenant) -> None:
    owner, _ = owner_client(platform, create_tenant)
    add_member(owner, "ann@acme.test")
    create_tenant("globex")
    globex = Client(platform)
    login(globex, "globex.example.com", "owner@globex.test", PASSWORD)
    page = globex.get("/members/", headers={"Host": "globex.example.com"})
    assert "ann@acme.test" not in page.get_data(as_text=True)
    assert (
        login(Client(platform), "globex.example.com", "ann@acme.test", MEMBER_PASSWORD).status_code
        == 401
    )


def test_two_owners_demoting_each_other_at_once_leave_an_owner(platform, create_tenant) -> None:
    """The owner rows are locked before the check (PostgreSQL; SQLite serializes writers)."""
    owner, tenant = owner_client(platform, create_tenant)
    add_member(owner, "bob@acme.test", role="owner")
    owner_id = member_id(platform, tenant.id, "owner@acme.test")
    bob_id = member_id(platform, tenant.id, "bob@acme.test")
    bob = Client(platform)
    login(bob, ACME, "bob@acme.test", MEMBER_PASSWORD)
    token = csrf_token(get(bob, "/account/"))

    # "The owner's request": holds the owner rows, demotes Bob, commits later.
    engine = platform.storage.engine_for(tenant.id)
    results: list[TestResponse] = []
    with Session(engine) as session:
        session.execute(select(User.id).where(User.role == Role.OWNER).with_for_update()).all()
        session.get_one(User, bob_id).role = Role.MEMBER
        session.flush()
        # Bob's request, at the same moment: demote the owner.
        thread = threading.Thread(
            target=lambda: results.append(
                bob.post(
                    f"/members/{owner_id}/role",
                    headers={"Host": ACME},
                    data={f"m{owner_id}-csrf_token": token, f"m{owner_id}-role": "member"},
                )
            )
        )
        thread.start()
        _wait_until_a_request_waits_for_a_lock(platform)
        session.commit()
        thread.join(timeout=30)
        roles = {email: role for email, role in session.execute(select(User.email, User.role))}
        session.commit()
    platform.storage.release(engine)

    # PostgreSQL: Bob passed the owner check, then waited for the owner rows: 409.
    # SQLite: his request could not even read until the commit: no longer an owner, 403.
    expected = 409 if platform.storage.kind == "postgresql" else 403
    assert results and results[0].status_code == expected
    assert roles == {"owner@acme.test": "owner", "bob@acme.test": "member"}


def _wait_until_a_request_waits_for_a_lock(platform) -> None:
    if platform.storage.kind != "postgresql":
        # SQLite: this session's BEGIN IMMEDIATE holds the write lock, so the request
        # cannot read before the commit, whenever it starts; nothing to wait for.
        return
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(300):
        with platform.engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        time.sleep(0.01)
    raise AssertionError("the concurrent request never waited for the owner rows")
