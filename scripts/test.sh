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
.venv/bin/python -m pytest "$@"
# Once more with asserts stripped, as `python -O` runs in production: nothing may rely on them.
if [ $# -eq 0 ]; then
  .venv/bin/python -O -m pytest -q -p no:cacheprovider
fi
