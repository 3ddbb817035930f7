"""Request ids and the one JSON log line per request (tenants.dispatch.requestlog)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tenants.dispatch.requestlog import REQUEST_ID_KEY, RequestLog, request_id_from

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

LOGGER = "tenants.requests"


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER]


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    environ["tenants.slug"] = "acme"  # what the dispatcher does before calling the app
    seen = environ[REQUEST_ID_KEY]
    return Response(f"id={seen}", status=201)(environ, start_response)


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


def test_a_request_without_an_id_gets_a_new_one_returned_and_logged(caplog) -> None:
    response = Client(RequestLog(hello)).post(
        "/notes/1", buffered=True, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert response.get_data(as_text=True) == f"id={request_id}"
    [line] = log_lines(caplog)
    assert line["request_id"] == request_id
    assert line["tenant"] == "acme"
    assert line["method"] == "POST"
    assert line["path"] == "/notes/1"
    assert line["status"] == 201
    assert line["remote_addr"] == "10.1.2.3"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_each_request_gets_its_own_id(caplog) -> None:
    client = Client(RequestLog(hello))
    ids = {client.get("/", buffered=True).headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5
    assert {line["request_id"] for line in log_lines(caplog)} == ids


@pytest.mark.parametrize(
    "incoming",
    ["abc", "0f8e2c1a-6b7d-4e3f-9a10-2b3c4d5e6f70", "nginx.req_42", "x" * 128],
    ids=["short", "uuid", "dots-underscores", "128-chars"],
)
def test_a_well_formed_incoming_id_is_kept(caplog, incoming: str) -> None:
    response = Client(RequestLog(hello)).get("/", buffered=True, headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert response.get_data(as_text=True) == f"id={incoming}"
    assert log_lines(caplog)[0]["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 129, "has space", "semi;colon", "tab\there", "ünïcode", '"quoted"', "a/b"],
    ids=["empty", "129-chars", "space", "semicolon", "tab", "non-ascii", "quotes", "slash"],
)
def test_a_malformed_incoming_id_is_replaced(caplog, incoming: str) -> None:
    assert request_id_from(incoming) != incoming
    response = Client(RequestLog(hello)).get("/", buffered=True, headers={"X-Request-ID": incoming})
    replaced = response.headers["X-Request-ID"]
    assert replaced != incoming and len(replaced) == 32
    assert log_lines(caplog)[0]["request_id"] == replaced


def test_the_apps_own_request_id_header_is_not_duplicated(caplog) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = Response("ok")
        response.headers["X-Request-ID"] = "made-up-by-the-app"
        return response(environ, start_response)

    response = Client(RequestLog(app)).get(
        "/", buffered=True, headers={"X-Request-ID": "from-client"}
    )
    assert response.headers.getlist("X-Request-ID") == ["from-client"]


def test_an_app_that_raises_is_logged_as_500_and_the_error_propagates(caplog) -> None:
    def broken(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Client(RequestLog(broken)).get("/crash", buffered=True, headers={"X-Request-ID": "crash-1"})
    [line] = log_lines(caplog)
    assert (line["status"], line["path"], line["request_id"]) == (500, "/crash", "crash-1")
    assert line["tenant"] is None


def test_the_line_is_written_when_the_body_is_done(caplog) -> None:
    written: list[str] = []

    def streaming(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for part in ("a", "b"):
            written.append(part)
            yield part.encode()

    app = RequestLog(streaming)
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/stream"}
    body = app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert log_lines(caplog) == []
    assert b"".join(body) == b"ab"
    body.close()  # type: ignore[attr-defined]
    [line] = log_lines(caplog)
    assert line["path"] == "/stream" and line["status"] == 200


def test_paths_are_logged_as_the_client_sent_them(caplog) -> None:
    Client(RequestLog(hello)).get("/caf%C3%A9", buffered=True)
    assert log_lines(caplog)[0]["path"] == "/café"


def test_nothing_is_formatted_when_the_log_is_off(caplog) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    response = Client(RequestLog(hello)).get("/", buffered=True)
    assert response.headers["X-Request-ID"]
    assert log_lines(caplog) == []


# -- wired into the platform ---------------------------------------------------------------


def test_platform_logs_each_request_with_its_tenant(platform, client, create_tenant, caplog):
    create_tenant("acme")
    caplog.clear()
    tenant = client.get(
        "/login", buffered=True, headers={"Host": "acme.example.com", "X-Request-ID": "r-1"}
    )
    home = client.get(
        "/healthz", buffered=True, headers={"Host": "example.com", "X-Request-ID": "r-2"}
    )
    refused = client.get(
        "/", buffered=True, headers={"Host": "a..b.example.com", "X-Request-ID": "r-3"}
    )
    assert [r.headers["X-Request-ID"] for r in (tenant, home, refused)] == ["r-1", "r-2", "r-3"]
    assert refused.status_code == 400
    lines = {line["request_id"]: line for line in log_lines(caplog)}
    assert set(lines) == {"r-1", "r-2", "r-3"}
    assert (lines["r-1"]["tenant"], lines["r-1"]["status"]) == ("acme", 200)
    assert (lines["r-2"]["tenant"], lines["r-2"]["path"]) == (None, "/healthz")
    assert (lines["r-3"]["tenant"], lines["r-3"]["status"]) == (None, 400)


@pytest.mark.parametrize("routing", ["path"])
def test_path_routing_logs_the_full_path_and_the_tenant(
    platform, client, create_tenant, caplog
) -> None:
    create_tenant("acme")
    caplog.clear()
    response = client.get("/acme/login", buffered=True, headers={"Host": "example.com"})
    assert response.status_code == 200
    [line] = log_lines(caplog)
    assert (line["tenant"], line["path"]) == ("acme", "/acme/login")
