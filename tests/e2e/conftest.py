"""Real-browser fixtures: gunicorn on a loopback port and Debian's Chromium through Playwright.

Chromium resolves ``*.localhost`` to the loopback address by itself, so tenants are
served at ``http://acme.localhost:PORT`` with no DNS set-up. Playwright never
downloads a browser here: it drives ``/usr/bin/chromium`` (``CHROMIUM_PATH``).
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: Where screenshots go: a temporary folder, unless SCREENSHOTS_DIR names one
#: (scripts/screenshots.sh sets it to docs/screenshots to refresh the README's).
SCREENSHOTS_ENV = "SCREENSHOTS_DIR"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    # Custom domains in the browser tests (notes.acme.test) point at loopback, as their
    # CNAME to the platform would.
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]
ADMIN = ("admin@platform.test", "admin-password-1")
SUPPORT_EMAIL = "support@platform.test"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder drives a browser: mark it e2e and slow.

    (A ``pytestmark`` in a conftest marks nothing: only test modules' are read.) This runs
    before ``-m`` deselects, so ``-m "not e2e"`` leaves the browser tests out.
    """
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


_screenshots: Path | None = None


def start_gunicorn(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """gunicorn with the shipped config on ``port``, returned once ``/healthz`` answers.

    Its output goes to ``log_path``, whose tail is the error when it does not come up.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "platform/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "tenants.wsgi:application",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.time() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz", headers={"Host": "localhost"})
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        if time.time() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(log_path.read_text()[-4000:])
        time.sleep(0.2)


@pytest.fixture(scope="session", autouse=True)
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder screenshots are written to (never the tracked docs/ by default)."""
    global _screenshots
    chosen = os.environ.get(SCREENSHOTS_ENV)
    _screenshots = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    _screenshots.mkdir(parents=True, exist_ok=True)
    return _screenshots


@dataclass(frozen=True)
class Server:
    port: int
    env: dict[str, str]

    def url(self, slug: str | None = None, path: str = "/") -> str:
        host = "localhost" if slug is None else f"{slug}.localhost"
        return f"http://{host}:{self.port}{path}"

    def flask(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "tenants.wsgi", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    instance = tmp_path_factory.mktemp("e2e-instance")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{instance / 'platform.db'}",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_hex(32),
        "BASE_DOMAIN": "localhost",
        "PUBLIC_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "SUPPORT_EMAIL": SUPPORT_EMAIL,
        "SIGNUP_LIMIT_PER_ADDRESS": "100000 per hour",
        "SIGNUP_LIMIT_TOTAL": "100000 per hour",
        # The admin journeys log in with a password only (2FA has its own tests).
        "ADMIN_REQUIRE_2FA": "0",
    }
    env.pop("FLASK_DEBUG", None)
    Server(port, env).flask("db", "upgrade")
    Server(port, env).flask("admin", "create", ADMIN[0], "--password", ADMIN[1])
    process = start_gunicorn(port, env, instance / "gunicorn.log")
    yield Server(port, env)
    process.terminate()
    process.wait(15)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context
    context.close()


@pytest.fixture
def page(context) -> Iterator[object]:
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page


def screenshot(page, name: str) -> Path:
    """Save a screenshot: to a temporary folder, or SCREENSHOTS_DIR (scripts/screenshots.sh)."""
    assert _screenshots is not None, "the screenshots_dir fixture sets the folder"
    path = _screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()
