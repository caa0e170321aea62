#!/usr/bin/env bash
# Install everything, then run the demo end to end on the bundled synthetic dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
starrynight demo "$@"
