"""A change to the registry reaches another process, which then answers by it.

The watcher polls with a deadline and the test asserts the state it saw change to; how
fast a change travels (about half a second, REGISTRY_POLL_SECONDS) is measured by the
benchmark (tests/benchmarks/scale.py, "a suspension seen by two watcher processes"), not
asserted here, where a busy machine would make a wall-clock bound flaky.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import TEST_SECRET

WATCHER = r"""
import sys, time
from werkzeug.test import Client
from tenants.kernel import Platform
from tenants.settings import Settings

platform = Platform(Settings.from_environ())
client = Client(platform)
last = None
deadline = time.time() + 20
while time.time() < deadline:
    status = client.get("/login", headers={"Host": "acme.example.com"}).status_code
    if status != last:
        print(f"{time.time():.3f} {status}", flush=True)
        last = status
    time.sleep(0.01)
"""


def test_suspend_and_resume_reach_a_second_process(
    platform, create_tenant, settings, tmp_path
) -> None:
    from tenants import lifecycle

    create_tenant("acme")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        DATABASE_POOLER=settings.database_pooler,
        SECRET_KEY=TEST_SECRET,
        BASE_DOMAIN="example.com",
        INSTANCE_PATH=str(tmp_path),
    )
    env.pop("REGISTRY_POLL_SECONDS", None)  # the default interval, as deployed
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert watcher.stdout.readline().split()[1] == "200"
        changed_at = time.time()
        lifecycle.suspend_tenant(platform, "acme")
        # The watcher prints each change of status it sees (it gives up after 20 s).
        seen_at, status = watcher.stdout.readline().split()
        assert status == "403" and float(seen_at) >= changed_at

        changed_at = time.time()
        lifecycle.resume_tenant(platform, "acme")
        seen_at, status = watcher.stdout.readline().split()
        assert status == "200" and float(seen_at) >= changed_at
    finally:
        watcher.kill()
        watcher.communicate()
