#!/usr/bin/env bash
# Shared set-up: a virtual environment in .venv with the project and its test tools.
# It installs only when the dependencies changed: the hash of pyproject.toml and
# platform/constraints.txt is kept in .venv/.installed (delete it to force a reinstall).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=$(cat pyproject.toml platform/constraints.txt | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/tenants ] && [ "$(cat .venv/.installed 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "Installing the dependencies into .venv (pyproject.toml or constraints changed)..."
.venv/bin/python -m pip install --quiet --upgrade pip
# The versions the tests ran with and the image installs (platform/constraints.txt).
.venv/bin/python -m pip install --quiet -c platform/constraints.txt -e '.[dev]'
echo "$stamp" > .venv/.installed
