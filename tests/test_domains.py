"""Custom domains on both backends, against a real DNS server on loopback (dnslib).

add → pending → TXT published → verified → routed; record removed → failing → disabled
after the grace; a second tenant cannot claim a pending or verified domain (the database
refuses it, whatever the case); suspended → 403; unknown custom host → 404; the primary
address and its redirects; the TLS ask endpoint.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.test import Client

from tenants import lifecycle
from tenants.domains import DomainError
from tenants.registry.domainnames import DomainNameError, display_domain, normalize_domain
from tenants.registry.models import AuditEntry, TenantDomain

BASE = "example.com"


@pytest.fixture
def tenants_settings_overrides(dns_server):
    return {"dns_resolver": dns_server.address, "domain_grace_hours": 2.0}


def _get(client: Client, host: str, path: str = "/login"):
    return client.get(path, headers={"Host": host})


def _publish(dns, view) -> None:
    dns.zone.publish_txt(view.challenge_name, view.token)


# -- names -----------------------------------------------------------------------------

GOOD_NAMES = [
    ("plain", "notes.acme.org", "notes.acme.org"),
    ("upper-case", "Notes.ACME.org", "notes.acme.org"),
    ("trailing-dot", "notes.acme.org.", "notes.acme.org"),
    ("surrounding-space", "  notes.acme.org ", "notes.acme.org"),
    ("idn-u-label", "bücher.example", "xn--bcher-kva.example"),
    ("idn-a-label", "xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("fullwidth", "ｎｏｔｅｓ.acme.org", "notes.acme.org"),
    ("apex", "acme.org", "acme.org"),
]


@pytest.mark.parametrize(
    ("raw", "stored"), [g[1:] for g in GOOD_NAMES], ids=[g[0] for g in GOOD_NAMES]
)
def test_names_are_stored_as_lower_case_a_labels(raw: str, stored: str) -> None:
    assert normalize_domain(raw, BASE) == stored


BAD_NAMES = [
    ("empty", "", "Enter a domain"),
    (
        "https-url",
        "https://notes.acme.org/",
        "without “https://”, a port or a path: notes.acme.org",
    ),
    ("with-path", "notes.acme.org/wiki", "without “https://”"),
    ("with-port", "notes.acme.org:443", "a port"),
    ("ftp-scheme", "ftp://notes.acme.org", "without"),
    ("one-label", "localhost", "at least two parts"),
    ("ip-address", "10.0.0.1", "not an IP address"),
    ("underscore", "a_b.acme.org", "not a valid domain name"),
    ("empty-label", "notes..acme.org", "not a valid domain name"),
    ("leading-hyphen", "-notes.acme.org", "not a valid domain name"),
    ("label-too-long", "a" * 64 + ".org", "not a valid domain name"),
    ("name-too-long", ("a" * 60 + ".") * 5 + "org", "too long"),
    ("wildcard", "*.acme.org", "Wildcard"),
    ("space-inside", "notes acme.org", "no spaces"),
    ("base-domain", "example.com", "platform's own address"),
    ("base-domain-upper", "EXAMPLE.COM.", "platform's own address"),
    ("under-base-domain", "acme.example.com", "platform's own address"),
    ("deep-under-base", "a.b.example.com", "platform's own address"),
]


@pytest.mark.parametrize(
    ("raw", "message"), [b[1:] for b in BAD_NAMES], ids=[b[0] for b in BAD_NAMES]
)
def test_bad_names_are_refused_with_a_message(raw: str, message: str) -> None:
    with pytest.raises(DomainNameError, match=None) as refused:
        normalize_domain(raw, BASE)
    assert message in str(refused.value)


def test_lookalike_of_base_domain_is_not_under_it() -> None:
    assert normalize_domain("notexample.com", BASE) == "notexample.com"


def test_idn_is_shown_as_its_u_label() -> None:
    assert display_domain("xn--bcher-kva.example") == "bücher.example"
    assert display_domain("notes.acme.org") == "notes.acme.org"


# -- adding --------------------------------------------------------------------------------


def test_add_shows_the_txt_record_and_the_target(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "Notes.Acme.org", actor="owner@acme")
    assert view.domain == "notes.acme.org"
    assert view.status == "pending"
    assert view.challenge_name == "_tenants-challenge.notes.acme.org"
    assert len(view.token) == 32
    assert view.target == BASE
    other = platform.domains.add(create_tenant("globex").id, "wiki.globex.org", actor="x")
    assert other.token != view.token
    with platform.engine.connect() as connection:
        actions = connection.execute(sa.select(AuditEntry.action)).scalars().all()
    assert "domain.add" in actions


def test_idn_domain_stored_as_a_label_shown_as_u_label(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "Bücher.example", actor="o")
    assert (view.domain, view.display) == ("xn--bcher-kva.example", "bücher.example")
    with pytest.raises(DomainError, match="already added to this workspace"):
        platform.domains.add(acme.id, "xn--bcher-kva.example", actor="o")


def test_second_tenant_cannot_claim_a_pending_or_verified_domain(
    platform, create_tenant, dns_server
) -> None:
    acme, globex = create_tenant("acme"), create_tenant("globex")
    pending = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    with pytest.raises(DomainError, match="already claimed by another workspace") as taken:
        platform.domains.add(globex.id, "NOTES.acme.org.", actor="g")
    assert taken.value.status == 409
    _publish(dns_server, pending)
    assert platform.domains.check(acme.id, pending.id, actor="o").status == "verified"
    with pytest.raises(DomainError, match="already claimed"):
        platform.domains.add(globex.id, "notes.ACME.org", actor="g")
    assert [v.domain for v in platform.domains.list(globex.id)] == []


def test_the_database_enforces_uniqueness_regardless_of_case(platform, create_tenant) -> None:
    acme, globex = create_tenant("acme"), create_tenant("globex")
    platform.domains.add(acme.id, "notes.acme.org", actor="o")
    with pytest.raises(IntegrityError), platform.engine.begin() as connection:
        connection.execute(
            sa.insert(TenantDomain).values(
                tenant_id=globex.id,
                domain="NOTES.ACME.ORG",
                token="x",
                status="pending",
                is_primary=False,
                created_at=sa.func.now(),
            )
        )


def test_plan_limits_how_many_domains(platform, create_tenant) -> None:
    acme = create_tenant("acme")  # plan "free": one domain
    platform.domains.add(acme.id, "one.acme.org", actor="o")
    with pytest.raises(DomainError, match="Your plan allows 1 custom domain; remove one"):
        platform.domains.add(acme.id, "two.acme.org", actor="o")
    lifecycle.update_tenant(platform, "acme", actor="cli", plan="pro")  # "*": five
    platform.domains.add(acme.id, "two.acme.org", actor="o")
    assert len(platform.domains.list(acme.id)) == 2


def test_bad_input_saves_nothing(platform, create_tenant) -> None:
    acme = create_tenant("acme")
    for raw in ("https://notes.acme.org/x", "acme.example.com", "a_b.org", ""):
        with pytest.raises(DomainError):
            platform.domains.add(acme.id, raw, actor="o")
    assert platform.domains.list(acme.id) == []
    with platform.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(TenantDomain)).scalar() == 0
        )


def test_another_tenants_domain_id_is_unknown(platform, create_tenant) -> None:
    acme, globex = create_tenant("acme"), create_tenant("globex")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    for action in (
        lambda: platform.domains.check(globex.id, view.id, actor="g"),
        lambda: platform.domains.remove(globex.id, view.id, actor="g"),
        lambda: platform.domains.set_primary(globex.id, view.id, actor="g"),
    ):
        with pytest.raises(DomainError, match="not one of this workspace's") as unknown:
            action()
        assert unknown.value.status == 404
    assert [v.domain for v in platform.domains.list(acme.id)] == ["notes.acme.org"]


# -- verification and routing -------------------------------------------------------------


def test_add_pending_publish_verify_route(platform, create_tenant, dns_server, client) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    assert _get(client, "notes.acme.org").status_code == 404  # pending: not routed

    checked = platform.domains.check(acme.id, view.id, actor="o")
    assert checked.status == "pending"
    assert "does not exist in DNS" in checked.last_error

    dns_server.zone.publish_txt(view.challenge_name, "someone-elses-token")
    checked = platform.domains.check(acme.id, view.id, actor="o")
    assert checked.status == "pending"
    assert "not this domain's token" in checked.last_error
    assert _get(client, "notes.acme.org").status_code == 404

    _publish(dns_server, view)
    checked = platform.domains.check(acme.id, view.id, actor="o")
    assert (checked.status, checked.last_error) == ("verified", None)
    assert checked.verified_at is not None

    # Verified, the subdomain still primary: the domain redirects there, path and query kept.
    response = _get(client, "NOTES.acme.org.:80", "/login?next=%2Fnotes%2F&x=1")
    assert response.status_code == 301
    assert response.headers["Location"] == "http://acme.example.com/login?next=%2Fnotes%2F&x=1"

    platform.domains.set_primary(acme.id, view.id, actor="o")
    response = _get(client, "NOTES.acme.org.:80")
    assert response.status_code == 200
    assert "Acme" in response.get_data(as_text=True)
    moved = _get(client, "acme.example.com", "/notes/ä?page=2")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "http://notes.acme.org/notes/%C3%A4?page=2"
    posted = client.post("/login?x=1", headers={"Host": "acme.example.com"})
    assert posted.status_code == 308  # keeps the method and body
    assert posted.headers["Location"] == "http://notes.acme.org/login?x=1"


def test_record_removed_fails_then_disabled_after_grace(
    platform, create_tenant, dns_server, client
) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    _publish(dns_server, view)
    platform.domains.check(acme.id, view.id, actor="o")
    platform.domains.set_primary(acme.id, view.id, actor="o")
    dns_server.zone.remove(view.challenge_name)

    start = platform.domains.now()
    failing = platform.domains.check(acme.id, view.id, actor="job")
    assert failing.status == "failing"
    assert failing.failing_since is not None
    assert failing.disable_at == failing.failing_since + timedelta(hours=2)
    assert _get(client, "notes.acme.org").status_code == 200  # still served in grace

    platform.domains.now = lambda: start + timedelta(hours=1)
    assert platform.domains.check(acme.id, view.id, actor="job").status == "failing"
    platform.domains.now = lambda: start + timedelta(hours=2, minutes=1)
    disabled = platform.domains.check(acme.id, view.id, actor="job")
    assert disabled.status == "disabled"
    assert _get(client, "notes.acme.org").status_code == 404
    assert _get(client, "acme.example.com").status_code == 200  # the subdomain is primary again
    with platform.engine.connect() as connection:
        told = connection.execute(
            sa.select(AuditEntry.detail).where(AuditEntry.action == "domain.disabled")
        ).scalar_one()
    assert told["domain"] == "notes.acme.org"

    _publish(dns_server, view)  # back: "Check now" verifies it again
    assert platform.domains.check(acme.id, view.id, actor="o").status == "verified"
    assert _get(client, "notes.acme.org").status_code == 301  # primary again only if chosen


def test_periodic_check_verifies_pending_and_rechecks_verified(
    platform, create_tenant, dns_server
) -> None:
    acme = create_tenant("acme")
    lifecycle.update_tenant(platform, "acme", actor="cli", plan="pro")
    first = platform.domains.add(acme.id, "one.acme.org", actor="o")
    second = platform.domains.add(acme.id, "two.acme.org", actor="o")
    _publish(dns_server, first)
    assert platform.domains.check_due() == {"verified": 1, "pending": 1}
    # Checked just now: not due again until DOMAIN_CHECK_MINUTES have passed.
    assert platform.domains.check_due() == {}
    start = platform.domains.now()
    platform.domains.now = lambda: start + timedelta(minutes=11)
    _publish(dns_server, second)
    assert platform.domains.check_due() == {"verified": 2}


def test_suspended_tenants_domain_is_403_unknown_is_404(
    platform, create_tenant, dns_server, client
) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    _publish(dns_server, view)
    platform.domains.check(acme.id, view.id, actor="o")
    platform.domains.set_primary(acme.id, view.id, actor="o")
    lifecycle.suspend_tenant(platform, "acme", reason="Unpaid invoice")
    refused = _get(client, "notes.acme.org")
    # The same page as on its subdomain: whose workspace, and why.
    assert refused.status_code == 403
    assert "Unpaid invoice" in refused.get_data(as_text=True)
    lifecycle.resume_tenant(platform, "acme")
    assert _get(client, "notes.acme.org").status_code == 200
    assert _get(client, "unknown.acme.org").status_code == 404
    assert _get(client, "notes.acme.org.evil.net").status_code == 404


def test_purging_the_tenant_frees_its_domain(platform, create_tenant, dns_server, client) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    _publish(dns_server, view)
    platform.domains.check(acme.id, view.id, actor="o")
    lifecycle.delete_tenant(platform, "acme")
    assert _get(client, "notes.acme.org").status_code == 404
    globex = create_tenant("globex")
    # Deleted, the tenant keeps its domain (like its slug) until it is purged.
    with pytest.raises(DomainError):
        platform.domains.add(globex.id, "notes.acme.org", actor="g")
    lifecycle.purge_tenant(platform, "acme", confirm="acme")
    assert platform.domains.add(globex.id, "notes.acme.org", actor="g").status == "pending"


def test_warm_custom_domain_costs_no_query(platform, create_tenant, dns_server, client) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    _publish(dns_server, view)
    platform.domains.check(acme.id, view.id, actor="o")
    platform.domains.set_primary(acme.id, view.id, actor="o")
    assert _get(client, "notes.acme.org").status_code == 200  # warm it
    platform.registry.refresh(force=True)
    # A poll may start the key index's load in a background thread: let it finish first,
    # its one query is not a request's.
    platform.registry.close()
    queries: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        queries.append(statement)

    sa.event.listen(platform.engine, "before_cursor_execute", count)
    try:
        platform.registry.poll_seconds = 3600  # no poll due during the measured requests
        for _ in range(20):
            assert _get(client, "notes.acme.org").status_code == 200
    finally:
        sa.event.remove(platform.engine, "before_cursor_execute", count)
    assert queries == []


def test_cli_list_shows_the_primary_address(platform, create_tenant, dns_server) -> None:
    acme = create_tenant("acme")
    view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
    _publish(dns_server, view)
    platform.domains.check(acme.id, view.id, actor="o")
    runner = platform.console.test_cli_runner()
    assert "http://acme.example.com/" in runner.invoke(args=["tenants", "list"]).output
    platform.domains.set_primary(acme.id, view.id, actor="o")
    assert "http://notes.acme.org/" in runner.invoke(args=["tenants", "list"]).output


SETTINGS = [
    ("defaults", {}, ("", 72.0, {"free": 1, "*": 5})),
    (
        "set",
        {
            "DNS_RESOLVER": "127.0.0.1:5353",
            "DOMAIN_GRACE_HOURS": "1.5",
            "DOMAINS_PER_PLAN": "free=0 pro=3 *=1",
        },
        ("127.0.0.1:5353", 1.5, {"free": 0, "pro": 3, "*": 1}),
    ),
    ("default-port", {"DNS_RESOLVER": "ns.internal"}, ("ns.internal:53", 72.0, None)),
    ("ipv6", {"DNS_RESOLVER": "[::1]:53"}, ("::1:53", 72.0, None)),
]


@pytest.mark.parametrize(
    ("env", "expected"), [s[1:] for s in SETTINGS], ids=[s[0] for s in SETTINGS]
)
def test_domain_settings_from_the_environment(env, expected) -> None:
    from tenants.settings import Settings

    settings = Settings.from_environ(env, load_dotenv=False)
    resolver, grace, limits = expected
    assert settings.dns_resolver == resolver
    assert settings.domain_grace_hours == grace
    if limits is not None:
        assert settings.domains_per_plan == limits
        assert settings.domain_limit("pro") == limits.get("pro", limits["*"])


@pytest.mark.parametrize(
    "env",
    [
        {"DNS_RESOLVER": "127.0.0.1:x"},
        {"DNS_RESOLVER": "ns.internal:99999"},
        {"DOMAINS_PER_PLAN": "free"},
    ],
    ids=["bad-port", "port-out-of-range", "no-count"],
)
def test_bad_domain_settings_say_what_to_write(env) -> None:
    from tenants.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="e.g."):
        Settings.from_environ(env, load_dotenv=False)


def test_path_routing_refuses_custom_domains(make_platform, create_tenant) -> None:
    platform = make_platform(tenant_routing="path")
    acme = create_tenant("acme")
    with pytest.raises(DomainError, match="need subdomain routing"):
        platform.domains.add(acme.id, "notes.acme.org", actor="o")


def test_the_domain_tables_match_their_migration(platform) -> None:
    """Model and revision 0010 agree on both backends (tenant_domains, the tenants columns)."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SAWarning

    from tenants.registry.models import RegistryBase

    with platform.engine.begin() as connection:
        context = MigrationContext.configure(connection)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
            diff = compare_metadata(context, RegistryBase.metadata)
    text = repr(diff)
    assert "tenant_domains" not in text, diff
    assert "custom_domains" not in text and "primary_domain" not in text, diff
    with platform.engine.connect() as connection:
        revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert revision is not None


def test_a_dns_server_that_does_not_answer_is_a_message_not_an_error(
    make_platform, create_tenant
) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        platform = make_platform(dns_resolver=f"127.0.0.1:{silent.getsockname()[1]}")
        acme = create_tenant("acme")
        view = platform.domains.add(acme.id, "notes.acme.org", actor="o")
        import tenants.domains.dns as dns_module

        original = dns_module.LIFETIME
        dns_module.LIFETIME = 0.5
        try:
            checked = platform.domains.check(acme.id, view.id, actor="o")
        finally:
            dns_module.LIFETIME = original
    assert checked.status == "pending"
    assert "did not answer in time" in checked.last_error


def test_two_tenants_claiming_one_domain_at_once_one_wins(platform, create_tenant) -> None:
    """The unique index decides a race; the loser gets the message, nothing half-saved."""
    import threading

    tenants = [create_tenant(f"racer{n}") for n in range(4)]
    barrier = threading.Barrier(len(tenants))
    outcomes: list[str] = []

    def claim(tenant_id: int) -> None:
        barrier.wait()
        try:
            platform.domains.add(tenant_id, "Contested.Example.org", actor="o")
            outcomes.append("won")
        except DomainError as error:
            assert error.status == 409, error.message
            outcomes.append("lost")

    threads = [threading.Thread(target=claim, args=(t.id,)) for t in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    with platform.engine.connect() as connection:
        rows = connection.execute(sa.select(TenantDomain.domain)).scalars().all()
    assert rows == ["contested.example.org"]


def test_normalized_names_are_stable_and_routable() -> None:
    """Whatever text is accepted, its stored form is accepted again unchanged, and the
    dispatcher reads it as a well-formed Host outside the base domain."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tenants.dispatch.hosts import Place, canonical_host, locate

    label = st.from_regex(r"[a-zA-Z0-9ü-]{1,20}", fullmatch=True)
    names = st.lists(label, min_size=2, max_size=4).map(".".join)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(names | st.text(max_size=40))
    def check(raw: str) -> None:
        try:
            stored = normalize_domain(raw, BASE)
        except DomainNameError:
            return
        assert normalize_domain(stored, BASE) == stored
        host, port = canonical_host(stored)
        assert (host, port) == (stored, None)
        assert locate(host, BASE).place is Place.ELSEWHERE

    check()


@pytest.mark.parametrize(
    ("scheme", "port", "expected"),
    [("https", "443", ""), ("http", "80", ""), ("https", "8443", "8443"), ("http", "443", "443")],
    ids=["https-default", "http-default", "https-other", "http-on-443"],
)
def test_the_schemes_own_port_is_left_out_of_links(scheme, port, expected) -> None:
    """`docker compose --profile tls` sets PUBLIC_PORT=443: links must read https://host/."""
    from tenants.settings import Settings

    settings = Settings.from_environ(
        {"PUBLIC_SCHEME": scheme, "PUBLIC_PORT": port, "BASE_DOMAIN": "example.com"},
        load_dotenv=False,
    )
    assert settings.public_port == expected
    suffix = f":{expected}" if expected else ""
    assert settings.url_for_tenant("acme") == f"{scheme}://acme.example.com{suffix}/"
