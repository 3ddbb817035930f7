"""Request ids and the one JSON log line per request (tenants.dispatch.requestlog)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tenants.dispatch.logsink import DescriptorSink, LoggerSink, open_sink
from tenants.dispatch.requestlog import (
    MAX_LOGGED_PATH,
    REQUEST_ID_KEY,
    RequestLog,
    format_line,
    request_id_from,
)
from tenants.settings import SettingsError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

LOGGER = "tenants.requests"


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER]


def stdout_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The request log lines the platform wrote to standard output (file descriptor 1)."""
    return [json.loads(line) for line in capfd.readouterr().out.splitlines()]


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


# -- where the lines go ----------------------------------------------------------------------


def test_a_file_sink_gets_one_whole_line_per_request(tmp_path: Path) -> None:
    path = tmp_path / "requests.log"
    sink = DescriptorSink.append_to(str(path))
    try:
        client = Client(RequestLog(hello, sink))
        ids = [client.get(f"/n/{n}", buffered=True).headers["X-Request-ID"] for n in range(3)]
    finally:
        sink.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["request_id"] for line in lines] == ids
    assert [line["path"] for line in lines] == ["/n/0", "/n/1", "/n/2"]
    assert lines[0]["pid"] == os.getpid()
    assert set(lines[0]) == {
        "time",
        "tenant",
        "method",
        "path",
        "status",
        "duration_ms",
        "request_id",
        "remote_addr",
        "pid",
    }


def test_off_writes_nothing_but_still_gives_ids(capfd) -> None:
    assert open_sink("off") is None
    response = Client(RequestLog(hello, None)).get("/", buffered=True)
    assert len(response.headers["X-Request-ID"]) == 32
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize(
    ("spec", "kind"),
    [("-", DescriptorSink), ("stdout", DescriptorSink), ("logger", LoggerSink), ("off", None)],
)
def test_request_log_choices(spec: str, kind: type | None) -> None:
    sink = open_sink(spec)
    assert sink is None if kind is None else isinstance(sink, kind)


def test_an_unwritable_request_log_is_a_clear_settings_error(make_platform, tmp_path) -> None:
    with pytest.raises(SettingsError, match="REQUEST_LOG=.*cannot open it"):
        make_platform(request_log=str(tmp_path / "no-such-dir" / "requests.log"))


def test_a_line_that_cannot_be_written_is_dropped_not_an_error(tmp_path: Path) -> None:
    sink = DescriptorSink.append_to(str(tmp_path / "requests.log"))
    sink.close()  # every write now fails (EBADF), as a closed pipe would
    response = Client(RequestLog(hello, sink)).get("/", buffered=True)
    assert response.status_code == 201
    assert sink.dropped == 1


@pytest.mark.parametrize(
    ("method", "path", "remote_addr"),
    [
        ('GET"', '/a"b\\c', '1.2.3.4", "status": 200'),
        ("GET\n", "/line\nbreak", "\u2028"),
        ("PÖST", "/ünïcode/\x00", None),
    ],
    ids=["quotes-backslashes", "newlines", "non-ascii-nul"],
)
def test_whatever_the_client_sent_the_line_is_one_valid_json_object(
    method: str, path: str, remote_addr: str | None
) -> None:
    line = format_line(
        "2025-01-31T12:00:00.123Z", None, method, path, "200 OK", 0.0031, "id", remote_addr
    )
    assert line.endswith("\n") and line.count("\n") == 1
    parsed = json.loads(line)
    assert (parsed["method"], parsed["path"], parsed["remote_addr"]) == (method, path, remote_addr)
    assert (parsed["status"], parsed["duration_ms"], parsed["tenant"]) == (200, 3.1, None)


def test_long_paths_are_cut_so_a_line_stays_one_atomic_write() -> None:
    path = "/" + "é" * 5000
    line = format_line("t", "acme", "GET", path, "404 NOT FOUND", 0.1, "x" * 128, "::1")
    assert len(line.encode()) < 4096  # PIPE_BUF: written in one piece by concurrent workers
    assert json.loads(line)["path"] == path[:MAX_LOGGED_PATH] + "…"


# -- wired into the platform ---------------------------------------------------------------


def test_platform_logs_each_request_with_its_tenant(platform, client, create_tenant, capfd):
    create_tenant("acme")
    capfd.readouterr()
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
    lines = {line["request_id"]: line for line in stdout_lines(capfd)}
    assert set(lines) == {"r-1", "r-2", "r-3"}
    assert (lines["r-1"]["tenant"], lines["r-1"]["status"]) == ("acme", 200)
    assert (lines["r-2"]["tenant"], lines["r-2"]["path"]) == (None, "/healthz")
    assert (lines["r-3"]["tenant"], lines["r-3"]["status"]) == (None, 400)


def test_platform_can_log_through_the_logger_instead(make_platform, create_tenant, caplog, capfd):
    client = Client(make_platform(request_log="logger"))
    capfd.readouterr()
    client.get("/healthz", buffered=True, headers={"Host": "example.com", "X-Request-ID": "lg"})
    assert [line["request_id"] for line in log_lines(caplog)] == ["lg"]
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("routing", ["path"])
def test_path_routing_logs_the_full_path_and_the_tenant(
    platform, client, create_tenant, capfd
) -> None:
    create_tenant("acme")
    capfd.readouterr()
    response = client.get("/acme/login", buffered=True, headers={"Host": "example.com"})
    assert response.status_code == 200
    [line] = stdout_lines(capfd)
    assert (line["tenant"], line["path"]) == ("acme", "/acme/login")
