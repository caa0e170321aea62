#!/usr/bin/env bash
# Install (idempotent), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_browser.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check src tests benchmarks
python -m pytest -n 2 --dist loadgroup "$@"
