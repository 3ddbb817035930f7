"""The subdomain dispatcher as plain WSGI: one table of Host headers, each with an id."""

from __future__ import annotations

import pytest
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response

from tenants.dispatch.hosts import BadHost, canonical_host
from tenants.dispatch.pages import SUSPENDED
from tenants.dispatch.subdomain import SLUG_KEY, SubdomainDispatcher


def echo(name: str):
    def app(environ, start_response):
        body = f"{name}|{environ.get(SLUG_KEY, '-')}|{environ['HTTP_HOST']}"
        return Response(body)(environ, start_response)

    return app


TENANT_APPS = {"acme": echo("tenant:acme"), "globex": echo("tenant:globex"), "paused": SUSPENDED}


@pytest.fixture
def client() -> Client:
    return Client(SubdomainDispatcher("example.com", echo("platform"), TENANT_APPS.get))


HOSTS = [
    # (id, Host header or None for none at all, status, app that answers)
    ("bare-domain", "example.com", 200, "platform"),
    ("bare-domain-upper-case", "EXAMPLE.COM", 200, "platform"),
    ("bare-domain-trailing-dot", "example.com.", 200, "platform"),
    ("bare-domain-with-port", "example.com:8000", 200, "platform"),
    ("tenant", "acme.example.com", 200, "tenant:acme"),
    ("tenant-mixed-case-and-port", "ACME.Example.COM:443", 200, "tenant:acme"),
    ("tenant-trailing-dot", "acme.example.com.", 200, "tenant:acme"),
    ("tenant-trailing-dot-and-port", "acme.example.com.:8080", 200, "tenant:acme"),
    ("other-tenant", "globex.example.com", 200, "tenant:globex"),
    ("suspended-tenant", "paused.example.com", 403, None),
    ("unknown-tenant", "nope.example.com", 404, None),
    ("no-label-boundary", "acmeexample.com", 404, None),
    ("suffix-without-dot", "xexample.com", 404, None),
    ("two-labels-below", "www.acme.example.com", 404, None),
    ("base-as-subdomain-of-foreign", "example.com.evil.test", 404, None),
    ("foreign-domain", "evil.test", 404, None),
    ("ipv4-literal", "127.0.0.1:8000", 404, None),
    ("ipv6-literal", "[::1]:8000", 404, None),
    ("missing-host", None, 400, None),
    ("empty-host", "", 400, None),
    ("userinfo-smuggling", "acme.example.com:80@evil.test", 400, None),
    ("at-sign", "user@acme.example.com", 400, None),
    ("port-not-digits", "acme.example.com:http", 400, None),
    ("port-too-long", "acme.example.com:1234567", 400, None),
    ("empty-port", "acme.example.com:", 400, None),
    ("two-ports", "acme.example.com:80:81", 400, None),
    ("empty-label", "acme..example.com", 400, None),
    ("leading-dot", ".example.com", 400, None),
    ("two-trailing-dots", "acme.example.com..", 400, None),
    ("only-a-dot", ".", 400, None),
    ("underscore", "acme_corp.example.com", 400, None),
    ("leading-hyphen", "-acme.example.com", 400, None),
    ("trailing-hyphen", "acme-.example.com", 400, None),
    ("label-over-63", "a" * 64 + ".example.com", 400, None),
    ("host-over-253", ".".join(["a" * 60] * 5) + ".example.com", 400, None),
    ("header-over-limit", "a" * 300, 400, None),
    ("slash", "acme.example.com/admin", 400, None),
    ("space", "acme example.com", 400, None),
    ("percent-encoded", "acme%2eexample.com", 400, None),
    ("nul-byte", "acme\x00.example.com", 400, None),
    ("non-ascii-fullwidth", "\uff41cme.example.com", 400, None),
    ("bad-ipv6", "[not-ipv6]", 400, None),
    ("ipv6-garbage-after", "[::1]x", 400, None),
]


@pytest.mark.parametrize(
    ("host", "status", "served_by"), [h[1:] for h in HOSTS], ids=[h[0] for h in HOSTS]
)
def test_host_routing(client: Client, host: str | None, status: int, served_by: str | None) -> None:
    if host is None:
        response = _without_host(client)
    else:
        response = client.get("/", environ_overrides={"HTTP_HOST": host})
    assert response.status_code == status
    body = response.get_data(as_text=True)
    if served_by is not None:
        assert body.split("|")[0] == served_by
    else:
        assert "tenant:" not in body and "platform|" not in body


def _without_host(client: Client) -> Response:
    """A request with no Host header at all (the test client would always add one)."""
    environ = EnvironBuilder(path="/").get_environ()
    environ.pop("HTTP_HOST", None)
    body, status, headers = run_wsgi_app(client.application, environ, buffered=True)
    return Response(b"".join(body), status=status, headers=headers)


def test_tenant_app_sees_canonical_host_and_slug(client: Client) -> None:
    body = client.get("/", environ_overrides={"HTTP_HOST": "ACME.EXAMPLE.COM.:8443"}).get_data(
        as_text=True
    )
    # The public address, not the client's port: no public port is configured here.
    assert body == "tenant:acme|acme|acme.example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM", ("example.com", None)),
        ("example.com.:80", ("example.com", "80")),
        ("[::1]", ("[::1]", None)),
        ("[::1]:5000", ("[::1]", "5000")),
    ],
    ids=["case", "dot-and-port", "ipv6", "ipv6-port"],
)
def test_canonical_host(raw: str, expected: tuple[str, str | None]) -> None:
    assert canonical_host(raw) == expected


def test_bad_host_messages_say_what_is_wrong() -> None:
    with pytest.raises(BadHost, match="no Host header"):
        canonical_host(None)
    with pytest.raises(BadHost, match="port"):
        canonical_host("example.com:x")


def test_no_assert_for_control_flow_anywhere() -> None:
    """``assert`` vanishes under ``python -O``: the platform never relies on it."""
    import ast
    from pathlib import Path

    import tenants

    for path in Path(tenants.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not isinstance(node, ast.Assert), f"assert in {path}:{node.lineno}"


def test_dispatch_package_does_not_import_flask() -> None:
    """The dispatcher is plain WSGI."""
    import ast
    from pathlib import Path

    import tenants.dispatch as package

    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in node.names]
                assert not any(n == "flask" or n.startswith("flask.") for n in names), path.name
