"""The owners' Custom domains page: add, see the records, check now, choose the primary.

Real DNS (dnslib on loopback), both backends. Refusals are shown beside the field with
the right status and save nothing; sessions stay on the host that made them.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.test import Client, TestResponse

from tests.helpers import add_member, csrf_token, login

ACME = "acme.example.com"
PAGE = "/settings/domains/"


@pytest.fixture
def tenants_settings_overrides(dns_server):
    return {"dns_resolver": dns_server.address}


@pytest.fixture
def owner(platform, create_tenant) -> Client:
    create_tenant("acme", name="Acme")
    client = Client(platform)
    assert login(client, ACME, "owner@acme.test").status_code == 302
    return client


def add(client: Client, raw: str) -> TestResponse:
    token = csrf_token(client.get(PAGE, headers={"Host": ACME}))
    return client.post(PAGE, headers={"Host": ACME}, data={"csrf_token": token, "domain": raw})


def post(client: Client, path: str, host: str = ACME, **data: str) -> TestResponse:
    token = csrf_token(client.get(PAGE, headers={"Host": host}))
    return client.post(path, headers={"Host": host}, data={"csrf_token": token, **data})


def error_beside_field(page: str) -> str:
    found = re.search(r'<p class="error" id="domain-error">([^<]*)</p>', page)
    assert found, page
    return found.group(1)


REFUSED = [
    ("url", "https://notes.acme.org/wiki", 422, "without “https://”, a port or a path"),
    ("platform-own", "acme.example.com", 422, "the platform&#39;s own address"),
    ("base-domain", "EXAMPLE.com", 422, "the platform&#39;s own address"),
    ("malformed", "notes..acme.org", 422, "is not a valid domain name"),
    ("empty", "   ", 422, "Enter a domain"),
    ("someone-elses", "Taken.Globex.org", 409, "already claimed by another workspace"),
]


@pytest.mark.parametrize(
    ("raw", "status", "message"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_domains_show_a_message_beside_the_field(
    platform, owner: Client, create_tenant, raw: str, status: int, message: str
) -> None:
    globex = create_tenant("globex")
    platform.domains.add(globex.id, "taken.globex.org", actor="g")
    response = add(owner, raw)
    assert response.status_code == status
    assert message in error_beside_field(response.get_data(as_text=True))
    page = owner.get(PAGE, headers={"Host": ACME}).get_data(as_text=True)
    assert "_tenants-challenge" not in page  # nothing was saved


def test_over_the_plan_limit_is_refused_beside_the_field(owner: Client) -> None:
    assert add(owner, "one.acme.org").status_code == 302
    response = add(owner, "two.acme.org")
    assert response.status_code == 422
    assert "Your plan allows 1 custom domain" in error_beside_field(response.get_data(as_text=True))


def test_owner_adds_checks_and_makes_primary(platform, owner: Client, dns_server) -> None:
    response = add(owner, "Bücher.Example")
    assert response.status_code == 302
    page = owner.get(PAGE, headers={"Host": ACME}).get_data(as_text=True)
    assert "bücher.example" in page and "xn--bcher-kva.example" in page
    assert "_tenants-challenge.xn--bcher-kva.example" in page
    token = re.search(r'<code class="token">([0-9a-f]{32})</code>', page).group(1)
    assert "pending" in page
    view = platform.domains.list(platform.registry.get("acme").id)[0]

    checked = post(owner, f"/settings/domains/{view.id}/check")
    assert checked.status_code == 302
    page = owner.get(PAGE, headers={"Host": ACME}).get_data(as_text=True)
    assert "does not exist in DNS yet" in page

    dns_server.zone.publish_txt("_tenants-challenge.xn--bcher-kva.example", token)
    assert post(owner, f"/settings/domains/{view.id}/check").status_code == 302
    page = owner.get(PAGE, headers={"Host": ACME}).get_data(as_text=True)
    assert "is verified" in page
    assert "Make primary" in page

    made = post(owner, "/settings/domains/primary", domain_id=str(view.id))
    assert made.status_code == 302
    # The subdomain now redirects to the domain, path and query kept ...
    moved = owner.get("/notes/?page=2", headers={"Host": ACME})
    assert moved.status_code == 301
    assert moved.headers["Location"] == "http://xn--bcher-kva.example/notes/?page=2"
    # ... and the session stayed on the subdomain: the new host asks to sign in.
    there = owner.get("/", headers={"Host": "xn--bcher-kva.example"})
    assert there.status_code == 302
    assert "/login" in there.headers["Location"]
    assert login(owner, "xn--bcher-kva.example", "owner@acme.test").status_code == 302
    home = owner.get("/", headers={"Host": "xn--bcher-kva.example"})
    assert home.status_code == 200
    # Links the platform builds for the tenant use the primary address.
    tenant = platform.registry.get("acme")
    assert platform.services_for(tenant).url_for("/x") == "http://xn--bcher-kva.example/x"

    back = post(owner, "/settings/domains/primary", host="xn--bcher-kva.example", domain_id="")
    assert back.status_code == 302
    assert owner.get("/", headers={"Host": "xn--bcher-kva.example"}).status_code == 301
    tenant = platform.registry.get("acme")
    assert platform.services_for(tenant).url_for("/x") == "http://acme.example.com/x"


def test_a_pending_domain_cannot_be_primary(platform, owner: Client) -> None:
    add(owner, "notes.acme.org")
    view = platform.domains.list(platform.registry.get("acme").id)[0]
    response = post(owner, "/settings/domains/primary", domain_id=str(view.id))
    assert response.status_code == 422
    assert "is not verified yet" in response.get_data(as_text=True)
    assert post(owner, "/settings/domains/primary", domain_id="x1").status_code == 400


def test_another_workspaces_domain_is_404(platform, owner: Client, create_tenant) -> None:
    globex = create_tenant("globex")
    theirs = platform.domains.add(globex.id, "wiki.globex.org", actor="g")
    assert post(owner, f"/settings/domains/{theirs.id}/check").status_code == 404
    assert post(owner, f"/settings/domains/{theirs.id}/remove").status_code == 404
    assert post(owner, "/settings/domains/99999999999999/check").status_code == 404
    assert [v.domain for v in platform.domains.list(globex.id)] == ["wiki.globex.org"]


def test_remove_frees_the_domain(platform, owner: Client) -> None:
    add(owner, "notes.acme.org")
    view = platform.domains.list(platform.registry.get("acme").id)[0]
    assert post(owner, f"/settings/domains/{view.id}/remove").status_code == 302
    assert platform.domains.list(platform.registry.get("acme").id) == []


def test_members_cannot_manage_domains(platform, owner: Client) -> None:
    add_member(owner, ACME, "member@acme.test", "member-password-1")
    member = Client(platform)
    assert login(member, ACME, "member@acme.test", "member-password-1").status_code == 302
    assert member.get(PAGE, headers={"Host": ACME}).status_code == 403


def test_the_settings_page_tells_the_owner_of_a_failing_domain(
    platform, owner: Client, dns_server
) -> None:
    acme = platform.registry.get("acme")
    add(owner, "notes.acme.org")
    view = platform.domains.list(acme.id)[0]
    dns_server.zone.publish_txt(view.challenge_name, view.token)
    platform.domains.check(acme.id, view.id, actor="o")
    assert "is failing" not in owner.get("/settings/", headers={"Host": ACME}).get_data(True)
    dns_server.zone.remove(view.challenge_name)
    platform.domains.check(acme.id, view.id, actor="job")
    page = owner.get("/settings/", headers={"Host": ACME}).get_data(as_text=True)
    assert "The custom domain notes.acme.org is failing" in page
    domains_page = owner.get(PAGE, headers={"Host": ACME}).get_data(as_text=True)
    assert "Failing since" in domains_page and "will be disabled on" in domains_page


def test_the_admin_console_shows_a_tenants_domains(platform, create_tenant, client) -> None:
    from tenants.admins import create_admin
    from tests.conftest import PASSWORD
    from tests.test_admin_auth import ADMIN_EMAIL, HOST, log_in_admin

    acme = create_tenant("acme")
    platform.domains.add(acme.id, "bücher.example", actor="o")
    create_admin(platform, ADMIN_EMAIL, PASSWORD)
    assert log_in_admin(client).status_code == 303
    page = client.get(f"/admin/tenants/{acme.id}", headers=HOST).get_data(as_text=True)
    assert '<code>bücher.example</code> <span class="badge">pending</span>' in page
