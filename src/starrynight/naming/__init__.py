"""The one place that names every file a step reads or writes.

Producers and consumers both call these functions, so they can never disagree about a
path. Every function is pure: it takes the workspace root (a Path) and returns a Path.
Per-step names are grouped by step and unit of work.
"""

from __future__ import annotations

from pathlib import Path

UNIT_SEPARATOR = "__"

# workspace-level artefacts
INDEX_MANIFEST = "index.yaml"


def inventory_table(workspace: Path) -> Path:
    return workspace / "inventory" / "inventory.parquet"


def index_manifest(workspace: Path) -> Path:
    return workspace / INDEX_MANIFEST


def index_table(workspace: Path) -> Path:
    return workspace / "index" / "index.parquet"


def unparsed_table(workspace: Path) -> Path:
    return workspace / "index" / "unparsed.parquet"


def experiment_json(workspace: Path) -> Path:
    return workspace / "experiment" / "experiment.json"


def is_index_manifest(path: Path) -> bool:
    """Does this path name an index manifest (whose folder is then the workspace)?"""
    return path.name in (INDEX_MANIFEST, "index.yml")


# scratch: one working directory (Snakefile, logs, run summary) per named run
def run_folder(scratch: Path, name: str) -> Path:
    return scratch / "runs" / name


def screen_config(root: Path) -> Path:
    """The screen config a generated screen (`starrynight demo`) is run from."""
    return root / "screen.yaml"


# per-step artefacts
def step_dir(workspace: Path, step: str) -> Path:
    return workspace / step


def loaddata_dir(workspace: Path, step: str) -> Path:
    return step_dir(workspace, step) / "loaddata"


def unit_csv(loaddata_root: Path, unit: str) -> Path:
    """The LoadData CSV of one unit of work inside a step's LoadData folder."""
    return loaddata_root / f"{unit}.csv"


def csv_unit(csv: Path) -> str:
    """The unit of work whose LoadData CSV is `csv` (the inverse of `unit_csv`)."""
    return Path(csv).name.removesuffix(".csv")


def unit_sources(loaddata_root: Path, unit: str) -> Path:
    """The raw images one unit's LoadData CSV names, with their size and mtime in the index:
    a change to one of them (and only that) re-runs the unit."""
    return loaddata_root / f"{unit}.sources.parquet"


def cppipe_path(workspace: Path, step: str) -> Path:
    return step_dir(workspace, step) / "pipeline" / f"{step}.cppipe"


def outputs_dir(workspace: Path, step: str) -> Path:
    return step_dir(workspace, step) / "outputs"


def unit_dir(outputs_root: Path, unit: str) -> Path:
    """The folder holding everything one unit of work of a step produced."""
    return outputs_root / unit


def unit_manifest(unit_folder: Path) -> Path:
    """What a finished unit published (`starrynight.manifest`), written last inside its folder."""
    return unit_folder / "manifest.parquet"




def unit_id(*parts: object) -> str:
    """Join the keys of a unit of work (plate, well, chunk, ...) into one path-safe id."""
    return UNIT_SEPARATOR.join(str(p) for p in parts)


def illum_function_name(image_name: str) -> str:
    """File name of an illumination function saved by CellProfiler (`SaveImages`, npy)."""
    return f"{image_name}.npy"


def qc_report(workspace: Path) -> Path:
    return workspace / "qc" / "report.html"


def qc_gate_verdict(workspace: Path, stage: str) -> Path:
    """What a QC gate found (written whether it stopped the run or not)."""
    return workspace / "qc" / f"gate_{stage}.json"


def qc_gate_passed(workspace: Path, stage: str) -> Path:
    """Written only when the gate let the run go on: the stages after it wait for this file."""
    return workspace / "qc" / f"gate_{stage}.passed"


# Names inside each arm's step outputs live in the arm's own file of this package.
from starrynight.naming import analysis, cp, profiles, sbs  # noqa: E402

__all__ = ["analysis", "cp", "profiles", "sbs"]
