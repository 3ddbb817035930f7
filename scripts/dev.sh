#!/usr/bin/env bash
# Run the platform on its embedded default (SQLite) with a demo tenant and admin:
#   http://localhost:5000 (platform), http://acme.localhost:5000 (tenant)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FLASK_DEBUG=${FLASK_DEBUG:-1}
exec .venv/bin/python -m tenants.devserver --demo "$@"
