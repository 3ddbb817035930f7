"""Figures measured inside this process: dispatch, cold tenants, registry, provisioning."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from werkzeug.test import Client, EnvironBuilder, TestResponse

from tenants.kernel import Platform
from tenants.registry.models import Tenant, TenantStatus
from tenants.storage import migrations
from tenants.workspace import HISTORY
from tests.benchmarks.environment import (
    BASE_DOMAIN,
    FAST_HASH,
    PASSWORD,
    USER_AGENT,
    cookie_header,
    database,
    host_of,
    open_platform,
    provision,
    sqlite_database,
    tenant_session_cookie,
    wsgi_call,
)
from tests.benchmarks.harness import (
    Context,
    interleaved,
    median,
    paired_ratio,
    percentile,
    timed,
)
from tests.helpers import handoff_of

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class BenchmarkError(RuntimeError):
    """The platform did not answer as the benchmark expects: the figure would be wrong."""


def csrf_token(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    if match is None:
        raise BenchmarkError(f"no csrf_token field on {response.request.path}")
    return match.group(1) or match.group(2)


def logged_in_environ(slug: str, cookie: str, path: str = "/") -> dict[str, Any]:
    builder = EnvironBuilder(
        path=path,
        base_url=f"http://{host_of(slug)}/",
        headers={"Cookie": cookie_header(cookie), "User-Agent": USER_AGENT},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def check_page(app: Any, environ: dict[str, Any], expected: bytes) -> None:
    """The request must render the logged-in page, and must not rewrite the session."""
    status, headers, body = wsgi_call(app, environ)
    if not status.startswith("200") or expected not in body:
        raise BenchmarkError(f"expected the logged-in page, got {status}: {body[:200]!r}")
    if any(name.lower() == "set-cookie" for name, _ in headers):
        raise BenchmarkError("the page rewrote the session cookie; the figure would measure that")


def requests_per_second(
    app: Any, environ: dict[str, Any], count: int, clock: Callable[[], float] = time.perf_counter
) -> Callable[[], float]:
    """A measurement: ``count`` requests, answered per second of ``clock``."""

    def measure() -> float:
        started = clock()
        for _ in range(count):
            wsgi_call(app, environ)
        return count / (clock() - started)

    return measure


# -- 1. dispatch overhead ------------------------------------------------------------------


def dispatch(ctx: Context) -> None:
    figure = ctx.figures["dispatch.ratio"]
    with (
        sqlite_database("dispatch") as url,
        open_platform(url, password_hash_method=FAST_HASH) as platform,
    ):
        provision(platform, "acme", "Acme Dispatch")
        cookie = tenant_session_cookie(platform, "acme")
        environ = logged_in_environ("acme", cookie)
        app = platform.tenant_app_for("acme")
        for target in (platform, app):
            check_page(target, environ, b"Acme Dispatch")
        # Short, many alternations: a burst of load from elsewhere hits both sides alike.
        batch = ctx.pick(50, 200)
        runs = {
            "platform": requests_per_second(platform, environ, batch, time.process_time),
            "direct": requests_per_second(app, environ, batch, time.process_time),
            "platform_wall": requests_per_second(platform, environ, batch),
            "direct_wall": requests_per_second(app, environ, batch),
        }
        for warm_up in runs.values():
            warm_up()
        results = interleaved(runs, ctx.pick(20, 30))
    figure.value = paired_ratio(results["platform"], results["direct"])
    wall_ratio = paired_ratio(results["platform_wall"], results["direct_wall"])
    figure.detail = {
        "platform_rps_cpu": round(median(results["platform"])),
        "direct_rps_cpu": round(median(results["direct"])),
        "ratio_wall_clock": round(wall_ratio, 3),
        "platform_rps_wall": round(median(results["platform_wall"])),
        "direct_rps_wall": round(median(results["direct_wall"])),
        "requests_per_repetition": batch,
        "repetitions": len(results["platform"]),
        "page": "logged-in GET / (workspace home), SQLite",
    }
    figure.note = (
        f"{figure.detail['platform_rps_cpu']} vs {figure.detail['direct_rps_cpu']} req per CPU-s"
        f" (wall clock: {wall_ratio:.3f}x), logged-in workspace home, SQLite"
    )


# -- 3. cold tenant ------------------------------------------------------------------------


def cold(ctx: Context) -> None:
    build_figure = ctx.figures["cold.create_app"]
    first_figure = ctx.figures["cold.first_request"]
    with (
        sqlite_database("cold") as url,
        open_platform(url, password_hash_method=FAST_HASH) as platform,
    ):
        provision(platform, "chilly", "Chilly Cold")
        cookie = tenant_session_cookie(platform, "chilly")
        environ = logged_in_environ("chilly", cookie)
        record = platform.registry.get("chilly")
        assert record is not None
        check_page(platform, environ, b"Chilly Cold")

        def build() -> float:
            started = time.perf_counter()
            app = platform.build_tenant_app(record)
            elapsed = time.perf_counter() - started
            platform.release_app(app)
            return elapsed * 1000

        def evicted_first_request() -> float:
            platform.apps.discard(record.id)
            return timed(lambda: wsgi_call(platform, environ)) * 1000

        def warm_request() -> float:
            return timed(lambda: wsgi_call(platform, environ)) * 1000

        for _ in range(5):
            build()
        builds = interleaved({"build": build}, ctx.pick(40, 300))["build"]
        requests = interleaved(
            {"first": evicted_first_request, "warm": warm_request}, ctx.pick(15, 100)
        )
    build_figure.value = median(builds)
    build_figure.detail = {"p95_ms": round(percentile(builds, 0.95), 2), "builds": len(builds)}
    build_figure.note = f"p95 {build_figure.detail['p95_ms']} ms over {len(builds)} builds"
    first_figure.value = median(requests["first"])
    warm = median(requests["warm"])
    first_figure.detail = {
        "warm_request_ms": round(warm, 3),
        "p95_ms": round(percentile(requests["first"], 0.95), 2),
        "repetitions": len(requests["first"]),
        "backend": "sqlite",
    }
    first_figure.note = (
        f"logged-in home, SQLite; a warm request takes {warm:.2f} ms (informational, no goal)"
    )


# -- 5. registry at 10,000 tenants ----------------------------------------------------------

REGISTRY_SIZE = 10_000


def insert_registry_rows(platform: Platform, count: int, *, prefix: str = "tenant") -> list[str]:
    """Registry rows only (no storage): bulk inserts through SQLAlchemy Core."""
    now = datetime.now(UTC)
    head = migrations.head_revision(HISTORY)
    slugs = [f"{prefix}-{index:05d}" for index in range(count)]
    rows = [
        {
            "slug": slug,
            "display_name": f"Tenant {index:05d}",
            "status": str(TenantStatus.ACTIVE),
            "plan": "free",
            "settings": {},
            "storage_revision": head,
            "created_at": now,
            "updated_at": now,
            "version": 0,
        }
        for index, slug in enumerate(slugs)
    ]
    with platform.engine.begin() as connection:
        for start in range(0, count, 2000):
            connection.execute(sa.insert(Tenant.__table__), rows[start : start + 2000])
    platform.registry.invalidate()
    return slugs


def registry(ctx: Context) -> None:
    hit_figure = ctx.figures["registry.hit"]
    miss_figure = ctx.figures["registry.miss"]
    with (
        sqlite_database("registry") as url,
        open_platform(url, password_hash_method=FAST_HASH) as platform,
    ):
        started = time.perf_counter()
        slugs = insert_registry_rows(platform, REGISTRY_SIZE)
        inserted = time.perf_counter() - started
        load = timed(lambda: platform.registry.refresh(force=True))
        platform.registry.wait_loaded()
        for slug in slugs:  # warm: every record cached (the cache holds 10,000)
            if platform.registry.get(slug) is None:
                raise BenchmarkError(f"registry does not find {slug}")
        unknown = [f"nobody-{index:05d}" for index in range(REGISTRY_SIZE)]
        get = platform.registry.get
        passes = ctx.pick(3, 10)

        def per_lookup(names: list[str]) -> Callable[[], float]:
            def measure() -> float:
                started = time.perf_counter()
                for _ in range(passes):
                    for name in names:
                        get(name)
                return (time.perf_counter() - started) / (passes * len(names)) * 1e6

            return measure

        results = interleaved(
            {"hit": per_lookup(slugs), "miss": per_lookup(unknown)}, ctx.pick(5, 15)
        )
        admin_search(ctx, platform, "sqlite")
    if ctx.postgres_missing:
        ctx.figures["registry.admin_search_postgres"].note = f"skipped: {ctx.postgres_missing}"
    elif "registry.admin_search" not in ctx.missing:
        with (
            database("postgres", "registry") as url,
            open_platform(url, password_hash_method=FAST_HASH) as platform,
        ):
            insert_registry_rows(platform, REGISTRY_SIZE)
            admin_search(ctx, platform, "postgres")
    for figure, name in ((hit_figure, "hit"), (miss_figure, "miss")):
        figure.value = median(results[name])
        figure.detail = {
            "lookups_per_repetition": passes * REGISTRY_SIZE,
            "repetitions": len(results[name]),
            "includes": "TenantRegistry.get: poll-interval check, cache read (and the loop)",
        }
    hit_figure.detail.update(
        bulk_insert_s=round(inserted, 3), snapshot_load_ms=round(load * 1000, 1)
    )
    hit_figure.note = (
        f"bounded record cache; 10,000 rows bulk-inserted in {inserted:.2f} s, "
        f"first poll {load * 1000:.0f} ms"
    )
    miss_figure.note = (
        "an unknown name: key index says no, a freshness poll at most every "
        f"{platform.settings.registry_miss_check_seconds * 1000:.0f} ms when they flood"
    )


def url_of(platform: Platform, endpoint: str) -> str | None:
    """The path of a console endpoint without arguments, or None if the console has none."""
    if endpoint not in platform.console.view_functions:
        return None
    for rule in platform.console.url_map.iter_rules(endpoint):
        if not rule.arguments:
            return rule.rule
    return None


def admin_search(ctx: Context, platform: Platform, backend: str) -> None:
    key = "registry.admin_search" + ("_postgres" if backend == "postgres" else "")
    figure = ctx.figures[key]
    tenants_url = url_of(platform, "admin.tenants")
    login_url = url_of(platform, "admin_auth.login")
    if tenants_url is None or login_url is None:
        figure.note = "not available yet: the platform has no /admin/ tenants list and login"
        ctx.figures["registry.admin_search_postgres"].note = figure.note
        ctx.missing.append(figure.key)
        return
    from tenants.admins import create_admin

    create_admin(platform, "admin@bench.test", PASSWORD)
    client = Client(platform)
    headers = {"Host": BASE_DOMAIN, "User-Agent": USER_AGENT}
    page = client.get(login_url, headers=headers)
    response = client.post(
        login_url,
        headers=headers,
        data={"email": "admin@bench.test", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    if response.status_code not in (302, 303):
        raise BenchmarkError(f"admin login answered {response.status_code}")
    query = "tenant-0999"  # matches tenant-09990 .. tenant-09999

    def search() -> float:
        started = time.perf_counter()
        response = client.get(tenants_url, query_string={"q": query}, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or b"tenant-09995" not in response.data:
            raise BenchmarkError(f"admin search answered {response.status_code}")
        return elapsed * 1000

    def unfiltered() -> float:
        return timed(lambda: client.get(tenants_url, headers=headers)) * 1000

    search()
    results = interleaved({"search": search, "list": unfiltered}, ctx.pick(5, 15))
    figure.value = median(results["search"])
    figure.detail = {
        "url": f"{tenants_url}?q={query}",
        "unfiltered_list_ms": round(median(results["list"]), 2),
        "backend": backend,
        "repetitions": len(results["search"]),
    }
    figure.note = (
        f"GET {tenants_url}?q={query} logged in as admin; "
        f"unfiltered first page {figure.detail['unfiltered_list_ms']} ms"
    )


# -- 6. provisioning ----------------------------------------------------------------------


def signup_once(platform: Platform, slug: str) -> float:
    """POST /signup (with its CSRF token), then the tenant's first response; in ms."""
    client = Client(platform)
    headers = {"Host": BASE_DOMAIN, "User-Agent": USER_AGENT}
    token = csrf_token(client.get("/signup", headers=headers))
    started = time.perf_counter()
    response = client.post(
        "/signup",
        headers=headers,
        data={
            "name": f"Signup {slug}",
            "subdomain": slug,
            "email": f"owner@{slug}.test",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    if response.status_code != 200:
        raise BenchmarkError(
            f"signup answered {response.status_code}: {response.get_data(as_text=True)[:200]}"
        )
    url, fields = handoff_of(response)
    location = urlsplit(url)
    first = client.post(
        location.path, headers={"Host": location.netloc, "User-Agent": USER_AGENT}, data=fields
    )
    elapsed = time.perf_counter() - started
    if first.status_code != 303 or "/login" in first.headers.get("Location", ""):
        raise BenchmarkError(f"the tenant's sign-in hand-over answered {first.status_code}")
    return elapsed * 1000


def provisioning(ctx: Context) -> None:
    backends = ["sqlite"] if ctx.postgres_missing else ["sqlite", "postgres"]
    with contextlib.ExitStack() as stack:
        platforms = {
            backend: stack.enter_context(
                open_platform(stack.enter_context(database(backend, "signup")))
            )
            for backend in backends
        }
        method = platforms["sqlite"].settings.password_hash_method
        counter = iter(range(1_000_000))

        def run(backend: str) -> Callable[[], float]:
            return lambda: signup_once(platforms[backend], f"signup-{next(counter):05d}")

        def hashing() -> float:
            settings = platforms["sqlite"].settings
            return timed(lambda: settings.hash_password(PASSWORD)) * 1000

        runs = {backend: run(backend) for backend in backends}
        for warm_up in runs.values():
            warm_up()
        results = interleaved({**runs, "hashing": hashing}, ctx.pick(6, 40))
    for backend in ("sqlite", "postgres"):
        p50 = ctx.figures[f"provisioning.{backend}_p50"]
        p95 = ctx.figures[f"provisioning.{backend}_p95"]
        if backend not in results:
            p50.note = p95.note = f"skipped: {ctx.postgres_missing}"
            continue
        values = results[backend]
        p50.value = median(values)
        p95.value = percentile(values, 0.95)
        p50.detail = p95.detail = {"signups": len(values), "hash_method": method}
        p95.note = (
            f"{len(values)} signups, password hash {method.split(':')[0]} "
            f"(production default); POST /signup to the tenant's token-login response"
        )
    hashing_figure = ctx.figures["provisioning.hashing"]
    hashing_figure.value = median(results["hashing"])
    hashing_figure.detail = {"method": method, "repetitions": len(results["hashing"])}
    hashing_figure.note = f"settings.hash_password with the default method ({method})"
