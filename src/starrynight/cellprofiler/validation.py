"""Validate a pipeline before CellProfiler runs it (the check itself runs in CellProfiler's Python)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel

from starrynight.cellprofiler import PLUGINS_DIR
from starrynight.cellprofiler.errors import CellProfilerError, PipelineValidationError
from starrynight.cellprofiler.locate import cellprofiler_env, cellprofiler_python

_SCRIPT = Path(__file__).with_name("_cp_validate.py")


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
    for label, path in (("pipeline", pipeline), ("data file", data_file)):
        if path is not None and not Path(path).is_file():
            raise CellProfilerError(f"{label} {path} does not exist")
    python = python or cellprofiler_python()
    with tempfile.TemporaryDirectory(prefix="sn-cp-validate-") as tmp:
        report_path = Path(tmp) / "report.json"
        argv = [str(python), str(_SCRIPT), str(report_path), str(Path(pipeline).resolve()),
                str(Path(plugins_directory).resolve())]
        if data_file is not None:
            argv.append(str(Path(data_file).resolve()))
        argv += [f"{k}={v}" for k, v in groups.items()]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=tmp,
                              env=cellprofiler_env())
        if proc.returncode != 0 or not report_path.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise CellProfilerError(f"validating {pipeline} failed inside CellProfiler:\n{tail}")
        report = ValidationReport.model_validate(json.loads(report_path.read_text()))
    if report.problems:
        raise PipelineValidationError(str(pipeline), report.problems)
    return report
