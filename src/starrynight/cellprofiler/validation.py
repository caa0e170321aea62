"""Validate a pipeline before CellProfiler runs it (the check itself runs in CellProfiler's Python).

`starrynight cp run` validates and runs in one CellProfiler process (see `runner`); this module
is the validation on its own, and the shared pieces: the driver's command line and its report.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel

from starrynight.cellprofiler import PLUGINS_DIR
from starrynight.cellprofiler.errors import CellProfilerError, PipelineValidationError
from starrynight.cellprofiler.locate import cellprofiler_env, cellprofiler_python

DRIVER = Path(__file__).with_name("_cp_driver.py")


class ValidationReport(BaseModel):
    """What CellProfiler loaded: module names in order and the header's ModuleCount."""

    modules: list[str]
    module_count: int | None
    problems: list[str]


def check_group(groups: dict[str, str]) -> None:
    """CellProfiler splits `-g` on ',' and '=': keys and values must not contain them."""
    for key, value in groups.items():
        if not key.startswith("Metadata_"):
            raise CellProfilerError(f"group key {key!r} must be a Metadata_ column")
        for text in (key, value):
            if "," in text or "=" in text or not text:
                raise CellProfilerError(f"group {key}={value}: keys/values must be non-empty, no ',' or '='")


def validate_pipeline(
    pipeline: Path,
    data_file: Path | None = None,
    groups: dict[str, str] | None = None,
    plugins_directory: Path = PLUGINS_DIR,
    python: Path | None = None,
    timeout: float = 300,
) -> ValidationReport:
    """Load `pipeline` in CellProfiler and raise PipelineValidationError listing every problem.

    Checks: every module loads, ModuleCount equals the modules in the file, each module's own
    `test_valid`, and (with `data_file`) every image/object name a module uses is provided by the
    LoadData CSV or an earlier module; the CSV has rows and the group values occur in it.
    """
    groups = groups or {}
    check_group(groups)
    require_files(pipeline, data_file)
    python = python or cellprofiler_python()
    with tempfile.TemporaryDirectory(prefix="sn-cp-validate-") as tmp:
        report_path = Path(tmp) / "report.json"
        argv = driver_argv(python, report_path, pipeline, plugins_directory, data_file, groups)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=tmp,
                              env=cellprofiler_env())
        if proc.returncode != 0 or not report_path.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise CellProfilerError(f"validating {pipeline} failed inside CellProfiler:\n{tail}")
        report = read_report(report_path)
    if report.problems:
        raise PipelineValidationError(str(pipeline), report.problems)
    return report


def driver_argv(python: Path, report: Path, pipeline: Path, plugins_directory: Path,
                data_file: Path | None, groups: dict[str, str]) -> list[str]:
    """The command that loads CellProfiler once and validates `pipeline` (see `_cp_driver.py`)."""
    argv = [str(python), str(DRIVER), "--report", str(report), "--pipeline",
            str(Path(pipeline).resolve()), "--plugins", str(Path(plugins_directory).resolve())]
    if data_file is not None:
        argv += ["--data-file", str(Path(data_file).resolve())]
    for key, value in groups.items():
        argv += ["--group", f"{key}={value}"]
    return argv


def read_report(path: Path) -> ValidationReport:
    return ValidationReport.model_validate(json.loads(path.read_text()))


def require_files(pipeline: Path, data_file: Path | None) -> None:
    """The pipeline and (when given) the LoadData CSV exist, else an error naming the missing one."""
    for label, path in (("pipeline", pipeline), ("data file", data_file)):
        if path is not None and not Path(path).is_file():
            raise CellProfilerError(f"{label} {path} does not exist")
