"""Jobs in the development server: a worker thread beside the server, on the embedded queue.

``bash scripts/dev.sh`` then needs no other process to show jobs working: the nightly
upkeep runs at start, the Background jobs page's button runs at once, and each job's
end is printed in the server's console. ``JOBS_EMBEDDED_WORKER=0`` turns it off (to
run ``flask --app tenants.wsgi jobs worker`` beside it instead).
"""

from __future__ import annotations

import atexit
import logging
from typing import TYPE_CHECKING

from tenants.jobs.runtime import runtime_of
from tenants.jobs.worker import JobWorker

if TYPE_CHECKING:
    from tenants.kernel import Platform


def run_jobs_in_background(platform: Platform, *, reloading: bool) -> JobWorker | None:
    """Start a worker in this process, if it is the one that serves (not the reloader's)."""
    from werkzeug.serving import is_running_from_reloader

    if reloading and not is_running_from_reloader():
        return None  # the reloader's parent only watches files; its child serves and works
    runtime = runtime_of(platform)
    if not runtime.settings.embedded_worker:
        return None
    logger = logging.getLogger("tenants.jobs")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("  jobs: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    worker = JobWorker(runtime, threads=2)
    worker.start()
    atexit.register(worker.stop, 5.0)
    queue = "Redis" if runtime.settings.is_redis else f"embedded queue {runtime.settings.url}"
    print(f"  Jobs:      running in this process ({queue})", flush=True)
    return worker
