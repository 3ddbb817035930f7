"""The development server: ``python -m tenants.devserver`` (reloader and debugger on).

Serves the platform at http://localhost:5000 and tenants at http://acme.localhost:5000
(browsers resolve ``*.localhost`` to the loopback address). With ``--demo`` it first
applies migrations and creates a demo tenant and a platform admin.

It is the one server that may run on the public development key (no ``SECRET_KEY``
needed): it is bound to localhost by default and its debugger runs code for whoever
reaches it anyway. gunicorn (``tenants.wsgi:application``) refuses that key.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys

DEMO_TENANT = ("acme", "Acme Corporation", "owner@acme.test", "acme-password")
DEMO_MEMBER = ("member@acme.test", "member-password")
DEMO_ADMIN = ("admin@platform.test", "admin-password")
#: What the demo workspace starts with, so a first look shows a workspace in use:
#: (author email, password, title, body).
DEMO_NOTES = (
    (
        DEMO_TENANT[2],
        DEMO_TENANT[3],
        "Welcome to Acme's workspace",
        "Notes are shared with every member. Owners also manage members and settings.",
    ),
    (
        DEMO_MEMBER[0],
        DEMO_MEMBER[1],
        "Launch checklist",
        "1. Pick the accent colour\n2. Invite the team\n3. Write the first real note",
    ),
    (
        DEMO_TENANT[2],
        DEMO_TENANT[3],
        "Links worth keeping",
        "https://flask.palletsprojects.com/patterns/appdispatch/",
    ),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--demo", action="store_true", help="set up a demo tenant and admin")
    parser.add_argument("--no-reload", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("FLASK_DEBUG", "1")
    os.environ.setdefault("PUBLIC_PORT", str(args.port))
    # werkzeug prints a line per request itself; the JSON request log is for production.
    os.environ.setdefault("REQUEST_LOG", "off")

    from werkzeug.serving import is_running_from_reloader, run_simple

    from tenants.jobs.devserver import run_jobs_in_background
    from tenants.settings import record_development_port
    from tenants.wsgi import load

    if not is_running_from_reloader():
        busy = port_in_use(args.host, args.port)
        if busy:
            sys.exit(busy)
    platform = load(development=True)
    # The CLI prints tenant URLs with this port (tenants.settings.development_port).
    record_development_port(platform.settings.instance_path, platform.settings.public_port)

    if args.demo and not is_running_from_reloader():
        set_up_demo(platform)
    run_jobs_in_background(platform, reloading=not args.no_reload)
    run_simple(
        args.host,
        args.port,
        platform,
        use_reloader=not args.no_reload,
        use_debugger=True,
        use_evalex=True,
    )


def port_in_use(host: str, port: int) -> str | None:
    """One line saying how to pick another port if ``host:port`` is taken, else None.

    werkzeug's own message names neither this script nor its ``--port`` option.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return f"Cannot serve on {host}: {error.strerror}. Try --host localhost."
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    continue
                return (
                    f"Port {port} is in use (another development server?). Stop it, or pick "
                    f"another port: bash scripts/dev.sh --port {port + 1}"
                )
    return None


def seed_demo(platform, tenant_id: int) -> None:  # noqa: ANN001
    """A second member (the contract's ``add_user``) and a few notes, written through the
    workspace's own pages as its members would (the platform never imports the product)."""
    import re

    from sqlalchemy.orm import Session
    from werkzeug.test import Client

    from tenants.contract import NewUser

    if platform.tenant_app.add_user is not None:
        engine = platform.storage.engine_for(tenant_id)
        try:
            with Session(engine) as session:
                member = NewUser(
                    DEMO_MEMBER[0], platform.settings.hash_password(DEMO_MEMBER[1]), "member"
                )
                platform.tenant_app.add_user(session, member)
                session.commit()
        finally:
            platform.storage.release(engine)
    host = {"Host": platform.settings.host_for(DEMO_TENANT[0])}
    prefix = f"/{DEMO_TENANT[0]}" if platform.settings.tenant_routing == "path" else ""
    token = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
    for author, password, title, body in DEMO_NOTES:
        browser = Client(platform)
        page = browser.get(f"{prefix}/login", headers=host).get_data(as_text=True)
        data = {"email": author, "password": password, "csrf_token": token.search(page)[1]}
        if browser.post(f"{prefix}/login", headers=host, data=data).status_code != 302:
            raise RuntimeError(f"{author} could not log in")
        page = browser.get(f"{prefix}/notes/new", headers=host).get_data(as_text=True)
        data = {"title": title, "body": body, "csrf_token": token.search(page)[1]}
        if browser.post(f"{prefix}/notes/new", headers=host, data=data).status_code != 302:
            raise RuntimeError(f"the note “{title}” was not saved")


def set_up_demo(platform) -> None:  # noqa: ANN001 - avoids importing Platform eagerly
    from sqlalchemy.orm import Session

    from tenants import lifecycle
    from tenants.admins import create_admin, find_admin
    from tenants.registry.service import find_live
    from tenants.storage import migrations

    with platform.engine.begin() as connection:
        migrations.upgrade(migrations.PLATFORM_SCRIPTS, connection)
    slug, name, email, password = DEMO_TENANT
    with Session(platform.engine) as session:
        exists = find_live(session, slug) is not None
        admin_exists = find_admin(session, DEMO_ADMIN[0]) is not None
    if not exists:
        tenant = lifecycle.provision_tenant(
            platform, lifecycle.NewTenant(slug, name, email, password)
        )
        try:
            seed_demo(platform, tenant.id)
        except Exception as error:  # a demo without notes still serves
            print(f"  (The demo workspace was left empty: {error})", flush=True)
    if not admin_exists:
        create_admin(platform, *DEMO_ADMIN, actor="demo")
    settings = platform.settings
    print(
        "\n  Platform:  "
        + settings.url_for_platform("/")
        + "\n  Sign up:   "
        + settings.url_for_platform("/signup")
        + "\n  Admin:     "
        + settings.url_for_platform("/admin/")
        + f"   ({DEMO_ADMIN[0]} / {DEMO_ADMIN[1]})"
        + f"\n  Tenant:    {settings.url_for_tenant(slug)}   ({email} / {password};"
        + f" member {DEMO_MEMBER[0]} / {DEMO_MEMBER[1]})\n",
        flush=True,
    )


if __name__ == "__main__":
    main()
