#!/usr/bin/env bash
# Refresh the README's screenshots (docs/screenshots/*.png): run the browser tests
# (Debian's Chromium through Playwright) with SCREENSHOTS_DIR pointing there. The tests
# alone write their screenshots to a temporary folder and never touch tracked files.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SCREENSHOTS_DIR="$PWD/docs/screenshots"
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e "$@"
