#!/usr/bin/env bash
# Install what the tests need and run them all, on SQLite and on PostgreSQL.
# PostgreSQL: TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
# Redis (the job queue's tests): TEST_REDIS_URL (default redis://127.0.0.1:6379/0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# System tools the tests drive for real: Chromium (browser tests), nginx (its own
# config check), wrk (the benchmark's load generator), PgBouncer (the platform behind a
# transaction-mode pooler), Caddy (HTTPS on demand for custom domains). Debian packages,
# root only.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v caddy >/dev/null || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
fi

export REQUIRE_POSTGRES=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layers (pyproject.toml [tool.importlinter]): no tenant app in the kernel, no cycles.
.venv/bin/lint-imports
if [ $# -gt 0 ]; then
  # Arguments: run just what was asked, e.g. `bash scripts/test.sh tests/test_dispatch.py`.
  exec .venv/bin/python -m pytest "$@"
fi
# The fast tests on two processes (pytest-xdist; each process makes its own PostgreSQL
# database), then once more with asserts stripped, as `python -O` runs in production:
# nothing may rely on them.
.venv/bin/python -m pytest -m "not slow" -n 2
.venv/bin/python -O -m pytest -q -p no:cacheprovider -m "not slow" -n 2
# The slow tests (real gunicorn, PgBouncer, Chromium, the benchmark's smoke run) once, one
# at a time: they measure and load the machine themselves.
.venv/bin/python -m pytest -m slow
