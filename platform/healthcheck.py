"""The container's HEALTHCHECK: is this container's gunicorn answering?

Asks ``http://127.0.0.1:$PORT/healthz`` with ``Host: $BASE_DOMAIN`` (the health
endpoints live on the platform's bare domain) and exits 0 on a 200, 1 otherwise.
Standard library only, so it runs in the slim image::

    python platform/healthcheck.py
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PORT") or "8000"
    host = os.environ.get("BASE_DOMAIN") or "localhost"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    # No proxy from the environment: the check is about this container, not the network.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=2) as response:
            status = response.status
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: {request.full_url} (Host: {host}): {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {request.full_url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
