#!/usr/bin/env bash
# Install everything StarryNight needs into ./.venv (and CellProfiler into ./.venv-cp).
# Idempotent: re-running with unchanged dependency files does almost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/pip_quiet.sh
source scripts/pip_quiet.sh

PYTHON="${STARRYNIGHT_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "setup: Python 3.11 is required (set STARRYNIGHT_PYTHON to its path)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
  pip_quiet .venv/bin/python -m pip install -q --upgrade pip
fi

stamp=.venv/.starrynight-deps
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing starrynight + pipecraft into .venv"
  # every executor the example profiles in profiles/ name, so the container image runs them
  # all; these extras install together with no conflict (pip check is clean)
  pip_quiet .venv/bin/python -m pip install -q -e ".[dev,slurm,aws-batch,kubernetes,googlebatch]"
  echo "$want" > "$stamp"
fi

if [ -f scripts/install_cellprofiler.sh ]; then
  bash scripts/install_cellprofiler.sh
fi
pip_quiet_summary
echo "setup: ready ($ROOT/.venv)"
