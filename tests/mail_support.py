"""A real SMTP server for the tests (aiosmtpd on a loopback port), and mail helpers.

Import the fixtures a module uses from here. ``smtp_server`` starts the server on a
free port of 127.0.0.1 and collects what it receives; ``mail_settings`` points the
platform's ``MAIL_URL`` at it; ``mail_worker`` runs a job worker on the embedded queue
for the test, so messages queued by requests are delivered by the real mail job.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tenants.jobs.runtime import JobRuntime
from tests.jobs_support import running_worker

_LINK = re.compile(r"https?://\S+")


class Inbox:
    """What the test SMTP server received, in order (aiosmtpd's handler)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = False
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            return "451 4.3.0 Try again later"
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, address: str, count: int = 1, timeout: float = 20.0) -> EmailMessage:
        """The ``count``-th message to ``address`` (waits for the worker to deliver it)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                subjects = [str(m["Subject"]) for m in self.messages]
                raise AssertionError(f"no message #{count} to {address} in {timeout} s: {subjects}")
            time.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the message has no text part"
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the message has no HTML part"
    return part.get_content()


def links_in(message: EmailMessage) -> list[str]:
    return _LINK.findall(text_of(message))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.running = False

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        """Stop listening (a test may do it early, to make the server unreachable)."""
        if self.running:
            self.controller.stop()
            self.running = False


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def inbox(smtp_server: SmtpServer) -> Inbox:
    return smtp_server.inbox


@pytest.fixture
def mail_overrides() -> Mapping[str, Any]:
    """More settings for a mail test module (override it)."""
    return {}


@pytest.fixture
def tenants_settings_overrides(
    routing: str, smtp_server: SmtpServer, mail_overrides: Mapping[str, Any]
) -> Mapping[str, Any]:
    return {
        "tenant_routing": routing,
        "mail_url": smtp_server.url,
        "mail_from": "no-reply@example.com",
        **mail_overrides,
    }


@pytest.fixture
def queue_kind() -> str:
    """Mail tests run the embedded queue; the job tests cover Redis."""
    return "embedded"


@pytest.fixture
def mail_worker(jobs: JobRuntime) -> Iterator[JobRuntime]:
    """A worker delivering queued mail while the test runs."""
    with running_worker(jobs, threads=2):
        yield jobs
