"""``safe_next`` never leaves the app's prefix, however the target is spelled (issue 10, #11)."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tenants.web.redirects import safe_next
from tests.conftest import PASSWORD
from tests.helpers import csrf_token

ROOT = "/acme"

#: Pieces attackers combine: dot segments in every encoding, separators browsers or
#: servers accept, parameters, another tenant, and plain words.
PIECES = [
    "/",
    ".",
    "..",
    "%2e",
    "%2E",
    "%252e",
    "%25252E",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    ";",
    "..;",
    ";x=1",
    "acme",
    "ACME",
    "globex",
    "notes",
    "?",
    "#",
    "%",
    "%00",
    "\t",
    ":",
    "@",
    "evil.test",
    "http:",
]


def reached(target: str) -> str:
    """The path any browser or server could finally reach: the oracle, written plainly.

    Decode as often as anything might, read backslashes as slashes, drop ``;``
    parameters, resolve dot segments.
    """
    path = urlsplit(target).path
    for _ in range(8):
        path = unquote(path)
    path = path.replace("\\", "/")
    path = "/".join(segment.split(";", 1)[0] for segment in path.split("/"))
    return posixpath.normpath(path)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=0, max_size=12).map("".join),
    st.sampled_from(["/acme/", "/acme", "/", "//", "/acme/notes/", ""]),
)
def test_no_result_leaves_the_prefix(tail: str, head: str) -> None:
    target = head + tail
    result = safe_next(target, ROOT)
    if result is None:
        return
    assert result.startswith("/") and not result.startswith("//")
    assert not urlsplit(result).scheme and not urlsplit(result).netloc
    final = reached(result)
    assert final == ROOT or final.startswith(ROOT + "/"), (target, result, final)
    assert "\\" not in result and all(ord(char) >= 0x20 for char in result)


@pytest.mark.parametrize(
    "target",
    [
        "/acme/../globex/notes/",
        "/acme/%2e%2e/globex/notes/",
        "/acme/%2E%2e/globex/",
        "/acme/%252e%252e/globex/",
        "/acme/..;/globex/",
        "/acme/..%3b/globex/",
        "/acme/..\\globex/",
        "/acme/..%5cglobex/",
        "/acme/.%2e/globex/",
        "/acme/notes/../../globex/",
        "/acme%2f..%2fglobex/",
        "/acme/%2e%2e%2fglobex/",
        "//evil.test/acme/",
        "/\\evil.test/acme/",
        "https://evil.test/acme/",
        "/acme/\x00",
        "/globex/",
        "/acmex/",
    ],
)
def test_known_escapes_are_refused(target: str) -> None:
    assert safe_next(target, ROOT) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/acme/notes/?page=2", "/acme/notes/?page=2"),
        ("/acme", "/acme"),
        ("/acme/notes/../members/", "/acme/members/"),
        ("/acme/./notes/", "/acme/notes/"),
        ("/acme/notes/%C3%A9t%C3%A9", "/acme/notes/%C3%A9t%C3%A9"),
    ],
)
def test_paths_under_the_prefix_are_kept_normalized(target: str, expected: str) -> None:
    assert safe_next(target, ROOT) == expected


@pytest.fixture
def routing() -> str:
    return "path"


@pytest.mark.parametrize("next_target", ["/acme/../globex/", "/acme/%2e%2e/globex/", "/globex/"])
def test_login_in_path_mode_stays_in_the_tenant(platform, create_tenant, next_target) -> None:
    create_tenant("acme")
    create_tenant("globex")
    client = Client(platform)
    host = {"Host": "example.com"}
    page = client.get("/acme/login", headers=host)
    response = client.post(
        f"/acme/login?next={next_target}",
        headers=host,
        data={
            "email": "owner@acme.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(page),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/acme/"
