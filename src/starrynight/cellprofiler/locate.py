"""Find the Python interpreter that has CellProfiler installed (normally `.venv-cp/bin/python`)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from importlib import metadata
from pathlib import Path

from starrynight.cellprofiler.errors import CellProfilerNotFound

ENV_VAR = "STARRYNIGHT_CELLPROFILER_PYTHON"
CELLPROFILER_DISTRIBUTIONS = ("cellprofiler", "cellprofiler-nightly")  # released, nightly builds


def _python_from_script(script: Path) -> Path | None:
    """The interpreter a console script runs with, from its shebang (pip style, incl. /bin/sh trick)."""
    try:
        head = script.read_text(errors="replace").splitlines()[:3]
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    shebang = shlex.split(head[0][2:].strip())
    if shebang and Path(shebang[0]).name.startswith("python"):
        return Path(shebang[0])
    # pip writes `#!/bin/sh` + `'''exec' /long/path/python "$0" "$@"` for long paths.
    for line in head[1:]:
        if line.startswith("'''exec'"):
            return Path(shlex.split(line[len("'''exec'") :])[0])
    candidate = script.parent / "python"
    return candidate if candidate.exists() else None


def cellprofiler_python() -> Path:
    """Locate CellProfiler's Python: $STARRYNIGHT_CELLPROFILER_PYTHON, else the `cellprofiler` on PATH."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise CellProfilerNotFound(f"{ENV_VAR}={override} is not an executable file")
        return path
    candidates = [shutil.which("cellprofiler"), str(Path(sys.executable).parent / "cellprofiler")]
    for found in candidates:
        if found and Path(found).exists():
            python = _python_from_script(Path(found).resolve())
            if python is not None and python.exists():
                return python
    raise CellProfilerNotFound(
        "CellProfiler not found: no `cellprofiler` on PATH and "
        f"{ENV_VAR} is not set; run `bash scripts/install_cellprofiler.sh`"
    )


def cellprofiler_version(python: Path) -> str:
    """CellProfiler's version, from the package metadata of the environment `python` belongs
    to (without starting it): 'unknown' where none is found."""
    sites = [str(p) for p in Path(python).parent.parent.glob("lib/python*/site-packages")]
    for dist in metadata.distributions(path=sites):
        if dist.metadata["Name"].lower() in CELLPROFILER_DISTRIBUTIONS:
            return dist.version
    return "unknown"


def cellprofiler_env() -> dict[str, str]:
    """Environment for CellProfiler's Python: a headless matplotlib backend whatever the caller
    uses (a notebook kernel exports one CellProfiler's matplotlib cannot load)."""
    return {**os.environ, "MPLBACKEND": "Agg"}
