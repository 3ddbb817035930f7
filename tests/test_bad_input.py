"""Bad input is a 4xx with a message, never a 500, never half-done (issue 10, items 16-19).

Every public form and query parameter of the platform app and the workspace gets the
classes of input that used to crash: a NUL byte, a field sent as a multipart file,
values at and past each column's size, huge numbers, JSON values of the wrong type and
strings no database can store (lone surrogates). On both backends: PostgreSQL refuses
what SQLite stores, and SQLite overflows on integers PostgreSQL compares.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest
from werkzeug.test import Client, TestResponse

from tenants.admins import create_admin
from tenants.registry.models import AuditEntry, Tenant
from tenants.testing import PASSWORD, TenantClient
from tenants.web.params import page_size
from tests.helpers import csrf_token

ROOT = {"Host": "example.com"}
ADMIN = "root@platform.test"
NUL = "before\x00after"


@dataclass(frozen=True)
class Form:
    """One public form: where it is, where its CSRF token comes from, valid field values."""

    name: str
    side: str  # "tenant" or "console"
    path: str
    page: str
    fields: dict[str, str]
    #: Text fields whose column size we know: field -> size.
    sizes: dict[str, int] = field(default_factory=dict)


FORMS = [
    Form(
        "login",
        "anonymous",
        "/login",
        "/login",
        {"email": "a@acme.test", "password": "x" * 9},
        {"email": 254, "password": 200},
    ),
    Form(
        "signup",
        "console",
        "/signup",
        "/signup",
        {"name": "Acme", "subdomain": "newco", "email": "a@newco.test", "password": PASSWORD},
        {"name": 120, "subdomain": 63, "email": 254, "password": 200},
    ),
    Form(
        "admin-login",
        "console",
        "/admin/login",
        "/admin/login",
        {"email": ADMIN, "password": "wrong-password"},
        {"email": 254, "password": 200},
    ),
    Form(
        "note",
        "tenant",
        "/notes/new",
        "/notes/new",
        {"title": "A note", "body": "text"},
        {"title": 200},
    ),
    Form(
        "member",
        "tenant",
        "/members/create",
        "/members/create",
        {"email": "ann@acme.test", "name": "Ann", "password": PASSWORD, "role": "member"},
        {"email": 254, "name": 120, "password": 200},
    ),
    Form(
        "settings",
        "tenant",
        "/settings/",
        "/settings/",
        {"display_name": "Acme", "accent": "#112233"},
        {"display_name": 120},
    ),
    Form(
        "password",
        "tenant",
        "/account/",
        "/account/",
        {
            "current_password": "nope-nope",
            "new_password": "new-password-1",
            "confirm_password": "new-password-1",
        },
        {"new_password": 200},
    ),
    Form(
        "admin-search", "admin", "/admin/", "/admin/", {"q": "acme", "status": "live"}, {"q": 120}
    ),
]


@pytest.fixture
def world(platform, create_tenant, tenant_client) -> Iterator[dict[str, Client]]:
    create_tenant("acme")
    create_admin(platform, ADMIN, PASSWORD)
    owner = tenant_client("acme")
    admin = Client(platform)
    page = admin.get("/admin/login", headers=ROOT)
    admin.post(
        "/admin/login",
        headers=ROOT,
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    yield {
        "tenant": owner,
        "anonymous": TenantClient(platform, "acme"),
        "console": Client(platform),
        "admin": admin,
    }


def submit(
    world: dict[str, Client],
    form: Form,
    values: dict[str, object],
    *,
    files: set[str] = frozenset(),
    as_json: bool = False,
) -> TestResponse:
    client = world[form.side]
    headers = {} if form.side in ("tenant", "anonymous") else dict(ROOT)
    if form.name == "admin-search":
        query = {k: v for k, v in values.items() if isinstance(v, str)}
        return client.get(form.path, headers=headers, query_string=query)
    token = csrf_token(client.get(form.page, headers=headers))
    if as_json:
        return client.post(
            form.path,
            headers={**headers, "X-CSRFToken": token},
            data=json.dumps(values),
            content_type="application/json",
        )
    data: dict[str, object] = {"csrf_token": token}
    for name, value in values.items():
        if name in files:
            data[name] = (io.BytesIO(str(value).encode()), "value.txt")
        else:
            data[name] = value
    return client.post(form.path, headers=headers, data=data)


def email_of_length(length: int, domain: str = "newco.test") -> str:
    """A well-formed address of exactly ``length`` characters (local part at most 64)."""
    local = "e" * min(64, length - len(domain) - 1)
    middle = length - len(local) - 1 - len(domain)
    labels = []
    while middle > 0:
        label = min(63, middle - 1) if middle > 1 else 0
        labels.append("d" * max(label, 1))
        middle -= max(label, 1) + 1
    address = f"{local}@{'.'.join([*labels, domain])}"
    return address if len(address) == length else local + "@" + domain


def no_crash(response: TestResponse) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:500]


def fields_of(kind: Callable[[Form], list[str]]) -> list[tuple[Form, str]]:
    return [(form, name) for form in FORMS for name in kind(form)]


TEXT_FIELDS = fields_of(lambda form: [n for n in form.fields if n not in ("role", "status")])
SIZED = fields_of(lambda form: list(form.sizes))


def _id(pair: tuple[Form, str]) -> str:
    return f"{pair[0].name}.{pair[1]}"


@pytest.mark.parametrize("target", TEXT_FIELDS, ids=[_id(t) for t in TEXT_FIELDS])
def test_a_nul_byte_is_refused_with_a_message(platform, world, target) -> None:
    form, name = target
    response = submit(world, form, {**form.fields, name: NUL})
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert "NUL" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", TEXT_FIELDS, ids=[_id(t) for t in TEXT_FIELDS])
def test_a_field_sent_as_a_file_is_refused_with_a_message(platform, world, target) -> None:
    form, name = target
    if form.name == "admin-search":
        pytest.skip("a GET form has no body")
    response = submit(world, form, form.fields, files={name})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "as a file" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", SIZED, ids=[_id(t) for t in SIZED])
def test_values_at_and_past_each_column_size(platform, world, target) -> None:
    form, name = target
    size = form.sizes[name]
    for length in (size, size + 1, size * 4):
        value = (
            ("e" * (length - len("@acme.test")) + "@acme.test")
            if "email" in name
            else ("x" * length)
        )
        response = submit(world, form, {**form.fields, name: value})
        no_crash(response)
        if length > size:
            assert response.status_code in (400, 409, 422), (name, length)


@pytest.mark.parametrize("kind", ["number", "list", "object", "null", "true"])
@pytest.mark.parametrize("target", TEXT_FIELDS, ids=[_id(t) for t in TEXT_FIELDS])
def test_json_values_of_the_wrong_type_are_refused(platform, world, target, kind) -> None:
    form, name = target
    if form.name == "admin-search":
        pytest.skip("a GET form has no body")
    wrong = {"number": 10**40, "list": [1, 2], "object": {"a": 1}, "null": None, "true": True}
    response = submit(world, form, {**form.fields, name: wrong[kind]}, as_json=True)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "12", '{"email": "\\ud800@x.test"}'])
def test_json_bodies_no_database_can_store_are_refused(platform, world, body) -> None:
    client = world["anonymous"]
    token = csrf_token(client.get("/login"))
    response = client.post(
        "/login", data=body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]


def test_a_254_character_email_signs_up_and_is_audited(platform, world) -> None:
    email = email_of_length(254)
    assert len(email) == 254
    form = FORMS[1]
    response = submit(world, form, {**form.fields, "email": email})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    with Session(platform.engine) as session:
        actors = session.execute(select(AuditEntry.actor)).scalars().all()
    assert f"signup:{email}" in actors


def test_a_refused_signup_leaves_nothing(platform, world) -> None:
    form = FORMS[1]
    with Session(platform.engine) as session:
        before = session.execute(select(func.count()).select_from(Tenant)).scalar_one()
    for value in (NUL, "x" * 500):
        submit(world, form, {**form.fields, "name": value})
    submit(world, form, form.fields, files={"email"})
    with Session(platform.engine) as session:
        after = session.execute(select(func.count()).select_from(Tenant)).scalar_one()
    assert after == before
    assert len(platform.storage.existing_ids()) == 1


HUGE = ["9" * 30, str(2**63), str(2**31), "-1", "0", "1e9", "NaN", "", " 2", "２", "0x10"]


@pytest.mark.parametrize("page", HUGE)
def test_page_numbers_never_crash(platform, world, page) -> None:
    response = world["tenant"].get("/notes/", query_string={"page": page})
    assert response.status_code in (400, 404), (page, response.status_code)
    assert world["tenant"].get("/notes/", query_string={"page": "1"}).status_code == 200


@pytest.mark.parametrize("per_page", ["9" * 30, "0", "-5", "x"])
def test_the_notes_page_keeps_its_own_size_whatever_per_page_says(
    platform, world, per_page
) -> None:
    response = world["tenant"].get("/notes/", query_string={"per_page": per_page})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(
    ("per_page", "expected"),
    [("7", 7), ("50", 50), ("51", 50), ("9" * 30, 50), ("0", 400), ("-5", 400), ("x", 400)],
    ids=["seven", "maximum", "past-maximum", "huge", "zero", "negative", "not-a-number"],
)
def test_per_page_is_bounded_or_refused(per_page: str, expected: int) -> None:
    """What ``db.paginate`` of a product's own view reads: within 1..maximum, else a 400."""
    with Flask(__name__).test_request_context(query_string={"per_page": per_page}):
        if expected == 400:
            with pytest.raises(BadRequest, match="per_page"):
                page_size(10, maximum=50)
        else:
            assert page_size(10, maximum=50) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/notes/{n}/edit",
        "/members/{n}/role",
        "/members/{n}/remove",
    ],
)
@pytest.mark.parametrize("number", [str(2**63), "9" * 40])
def test_huge_ids_in_paths_are_404(platform, world, path, number) -> None:
    client = world["tenant"]
    token = csrf_token(client.get("/notes/new"))
    url = path.format(n=number)
    response = (
        client.get(url) if path.endswith("edit") else client.post(url, data={"csrf_token": token})
    )
    assert response.status_code == 404, (url, response.status_code)


@pytest.mark.parametrize("number", [str(2**63), "9" * 40])
def test_huge_tenant_ids_in_admin_paths_are_404(platform, world, number) -> None:
    assert world["admin"].get(f"/admin/tenants/{number}", headers=ROOT).status_code == 404


@pytest.mark.parametrize("value", [NUL, "x\x00", "%00"])
def test_query_parameters_with_nul_are_refused(platform, world, value) -> None:
    response = world["anonymous"].get("/login", query_string={"next": value})
    if value == "%00":  # a literal percent sign and zeros: harmless text
        no_crash(response)
    else:
        assert response.status_code == 400


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300
) | st.sampled_from(["\x00", "a\x00b", "x" * 255, "é" * 130, "9" * 25, " ", "\u202e", "'\";--"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_text_in_any_field_never_crashes(platform, world, data) -> None:
    form = data.draw(st.sampled_from(FORMS), label="form")
    values = {name: data.draw(TEXT, label=name) for name in form.fields}
    as_file = data.draw(st.sets(st.sampled_from(sorted(form.fields)), max_size=1), label="files")
    response = submit(world, form, values, files=as_file if form.name != "admin-search" else set())
    no_crash(response)
