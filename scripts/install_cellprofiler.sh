#!/usr/bin/env bash
# Install headless CellProfiler into ./.venv-cp (its own Python 3.11 venv).
#
# Why a separate venv: CellProfiler pins numpy<2 and scipy<1.11, which must not
# constrain StarryNight's own environment (.venv).
#
# Why not `pip install cellprofiler-nightly`: it declares wxPython (no Linux
# wheel, needs GTK to build) and mysqlclient (needs system headers). Neither is
# needed headless. So the four CellProfiler distributions are installed with
# --no-deps, and their declared requirements are then read from the installed
# package metadata (importlib.metadata) and installed minus those two. Reading
# the metadata keeps us in step with what CellProfiler itself declares; the
# resolved versions of transitive requirements are whatever the registry has,
# within CellProfiler's own bounds.
#
# Idempotent: a stamp holding the hash of this script and pyproject.toml makes
# re-runs cost ~nothing. Set STARRYNIGHT_PYTHON to choose the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pip_quiet.sh
source scripts/pip_quiet.sh

CP_VERSION="5.0.0.dev784"
CP_DISTS=(cellprofiler-nightly cellprofiler-core-nightly cellprofiler-library-nightly centriole-nightly)
VENV=.venv-cp
STAMP="$VENV/.starrynight-cp"
want=$(cat "$0" scripts/pip_quiet.sh pyproject.toml | sha256sum | cut -d' ' -f1)

link_into_main_venv() {
  # Snakemake jobs run with .venv/bin first on PATH: make `cellprofiler` findable there.
  if [ -d .venv/bin ]; then
    ln -sfn "../../$VENV/bin/cellprofiler" .venv/bin/cellprofiler
  fi
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/cellprofiler" ]; then
  link_into_main_venv
  pip_quiet_summary
  exit 0
fi

start=$(date +%s)
PYTHON="${STARRYNIGHT_PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install_cellprofiler: $PYTHON not found (set STARRYNIGHT_PYTHON to a Python 3.11)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "install_cellprofiler: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
# --no-warn-conflicts: CellProfiler declares wxPython and mysqlclient, which are left out on
# purpose (above); without it pip ends every install here with an "ERROR: pip's dependency
# resolver ..." block listing them (and, mid-way, the requirements not installed yet).
PIP=(pip_quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-warn-conflicts)

echo "install_cellprofiler: CellProfiler $CP_VERSION (no GUI, no Java, no MySQL: wxPython and mysqlclient are left out)"
pins=()
for dist in "${CP_DISTS[@]}"; do pins+=("$dist==$CP_VERSION"); done
"${PIP[@]}" --no-deps "${pins[@]}"
"${PIP[@]}" packaging

# Declared requirements of the four distributions, without extras, minus the
# GUI/database ones and minus the four distributions themselves.
reqs_file="$VENV/.cellprofiler-requirements.txt"
"$VENV/bin/python" - "${CP_DISTS[@]}" > "$reqs_file" <<'PY'
import importlib.metadata as md
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

dists = sys.argv[1:]
skip = {canonicalize_name(n) for n in ["wxPython", "mysqlclient", *dists]}
out = set()
for dist in dists:
    for text in md.requires(dist) or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if canonicalize_name(req.name) not in skip:
            out.add(str(req))
print("\n".join(sorted(out)))
PY
# tifffile: the project's reader plugin (multi-plane TIFFs, honours Frame_).
"${PIP[@]}" -r "$reqs_file" "tifffile>=2022.4.8"

# The project itself (no deps): plugins import pure-numpy code from starrynight.
"${PIP[@]}" --no-deps -e .

"$VENV/bin/cellprofiler" --version >/dev/null
echo "$want" > "$STAMP"
link_into_main_venv
pip_quiet_summary
echo "install_cellprofiler: done in $(( $(date +%s) - start )) s"
