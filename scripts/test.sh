#!/usr/bin/env bash
# Install what the tests need and run them all, on SQLite and on PostgreSQL.
# PostgreSQL: TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export REQUIRE_POSTGRES=1

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
