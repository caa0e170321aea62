"""Run one headless CellProfiler invocation into an output directory, all-or-nothing.

One CellProfiler process validates the pipeline and then runs it (`_cp_driver.py`), so a
unit of work pays CellProfiler's start-up once. Images the LoadData CSV names by URL are
first copied to a local staging folder (`staging`) and removed afterwards. CellProfiler
writes into a hidden temporary sibling of the output directory; only when it exited
cleanly, reported "Complete" and produced every expected file is that directory renamed to
the output directory, with the unit's manifest (`starrynight.manifest`) written last inside it. A killed or failed run therefore never leaves an output directory
that looks complete (Snakemake declares it as `directory()` output).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from pydantic import BaseModel

from starrynight import __version__, naming
from starrynight.cellprofiler import PLUGINS_DIR
from starrynight.cellprofiler.errors import (
    CellProfilerError,
    CellProfilerRunError,
    PipelineValidationError,
)
from starrynight.cellprofiler.locate import (
    cellprofiler_env,
    cellprofiler_python,
    cellprofiler_version,
)
from starrynight.cellprofiler.staging import stage_loaddata
from starrynight.cellprofiler.validation import check_group, driver_argv, read_report, require_files
from starrynight.manifest import (
    ManifestError,
    Publication,
    expected_files,
    producer_digest,
    with_sizes,
    write_manifest,
)

LOG_NAME = "cellprofiler.log"
MARKER_NAME = ".starrynight-cp-run.json"
_DONE_NAME = ".cellprofiler.done"
_REPORT_NAME = ".validation.json"
# Built-in readers left on: Bio-Formats downloads Java jars at run time (fails offline), so only
# imageio; the project's plugin readers (tifffile, Frame_-aware) are added on top of these.
BUILTIN_READERS = ("imageio_reader",)


class RunResult(BaseModel):
    """Where the outputs are and how long CellProfiler took (seconds, including its start-up)."""

    output_dir: Path
    log: Path
    seconds: float
    outputs: dict[str, list[Path]]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_patterns(patterns: Sequence[str]) -> None:
    for pattern in patterns:
        p = Path(pattern)
        if not pattern or p.is_absolute() or ".." in p.parts:
            raise CellProfilerError(f"--expect {pattern!r} must be a relative path inside the output dir")


def find_expected(root: Path, patterns: Sequence[str]) -> tuple[dict[str, list[Path]], list[str]]:
    """Files matching each pattern under root; the second item lists patterns with no non-empty match."""
    found: dict[str, list[Path]] = {}
    missing: list[str] = []
    for pattern in patterns:
        files = sorted(p for p in root.glob(pattern) if p.is_file() and p.stat().st_size > 0)
        found[pattern] = files
        if not files:
            missing.append(pattern)
    return found, missing


def _publish_manifest(publication: Publication, pipeline: Path, data_file: Path, groups: dict[str, str],
                      root: Path, python: Path) -> list[str]:
    """Write the unit's manifest under `root` (the files declared for its image sets, with their
    sizes); the problems found instead, when a declared file is missing or empty."""
    image_sets = pl.read_csv(data_file, infer_schema_length=0)
    for key, value in groups.items():
        image_sets = image_sets.filter(pl.col(key) == value)
    sources = naming.unit_sources(data_file.parent, naming.csv_unit(data_file))
    made_by = [pipeline, data_file, *([sources] if sources.is_file() else [])]
    producer = producer_digest(made_by, f"starrynight {__version__}, cellprofiler {cellprofiler_version(python)}")
    try:
        rows, absent = with_sizes(expected_files(publication, image_sets, producer), root)
    except ManifestError as error:
        return [str(error)]
    if absent:
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        return [f"{len(absent)} declared output(s) missing or empty: {shown}"]
    write_manifest(rows, root)
    return []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(output_dir: Path) -> None:
    """Temporary and staging dirs of killed earlier runs (their pid is gone) are garbage."""
    for kind in (".tmp-", ".stage-"):
        for stale in output_dir.parent.glob(f".{output_dir.name}{kind}*"):
            pid = stale.name.rsplit(kind, 1)[1].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)


def _check_replaceable(output_dir: Path) -> None:
    if output_dir.is_symlink() or (output_dir.exists() and not output_dir.is_dir()):
        raise CellProfilerError(f"output dir {output_dir} exists and is not a directory")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / MARKER_NAME).exists():
        raise CellProfilerError(
            f"output dir {output_dir} is not empty and was not written by `starrynight cp run`; "
            "refusing to replace it"
        )


def _publish(tmp: Path, output_dir: Path) -> None:
    """Swap tmp into place; an earlier output of this command is replaced, never merged."""
    old = None
    if output_dir.exists():
        old = output_dir.with_name(f".{output_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(output_dir, old)
    os.rename(tmp, output_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    failed = _failed_dir(output_dir)
    if (failed / MARKER_NAME).exists():
        shutil.rmtree(failed, ignore_errors=True)


def _failed_dir(output_dir: Path) -> Path:
    return output_dir.with_name(f"{output_dir.name}.failed")


def _keep_failed(tmp: Path, output_dir: Path) -> Path:
    failed = _failed_dir(output_dir)
    if failed.is_dir() and (failed / MARKER_NAME).exists():
        shutil.rmtree(failed)
    if failed.exists():
        return tmp
    os.rename(tmp, failed)
    return failed


def run_pipeline(
    pipeline: Path,
    data_file: Path,
    output_dir: Path,
    groups: dict[str, str] | None = None,
    expect: Sequence[str] = (),
    plugins_directory: Path = PLUGINS_DIR,
    python: Path | None = None,
    validate: bool = True,
    publication: Publication | None = None,
) -> RunResult:
    """Validate and run the pipeline for one unit of work (one CellProfiler process), check
    outputs, publish atomically.

    On failure raises CellProfilerRunError with the tail of CellProfiler's log; the partial
    outputs are kept in `<output_dir>.failed` for inspection, never in `output_dir`. With a
    `publication`, every file it declares for the unit's image sets must exist and be
    non-empty, and the unit's manifest listing them is written before the folder is published.
    """
    groups = groups or {}
    check_group(groups)
    _check_patterns(expect)
    pipeline, data_file, output_dir = Path(pipeline), Path(data_file), Path(output_dir).absolute()
    require_files(pipeline, data_file)
    python = python or cellprofiler_python()
    _check_replaceable(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(output_dir)
    stage = output_dir.with_name(f".{output_dir.name}.stage-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        run_file, _ = stage_loaddata(data_file, stage)
        return _run(pipeline, data_file, run_file, output_dir, groups, expect, plugins_directory,
                    python, validate, publication)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _run(pipeline: Path, data_file: Path, run_file: Path, output_dir: Path, groups: dict[str, str],
         expect: Sequence[str], plugins_directory: Path, python: Path, validate: bool,
         publication: Publication | None) -> RunResult:
    """CellProfiler on `run_file` (the LoadData CSV, or its staged local copy) into a
    temporary sibling of `output_dir`, published only when complete."""
    tmp = output_dir.with_name(f".{output_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    log = tmp / LOG_NAME
    argv = driver_argv(python, tmp / _REPORT_NAME, pipeline, plugins_directory, run_file, groups)
    argv += ["--run-into", str(tmp), "--done-file", str(tmp / _DONE_NAME),
             "--temp-dir", str(tmp / ".cptmp")]
    argv += [a for name in BUILTIN_READERS for a in ("--reader", name)]
    if not validate:
        argv.append("--no-validate")
    env = cellprofiler_env()
    start = time.monotonic()
    try:
        with open(log, "wb") as fd:
            proc = subprocess.Popen(argv, stdout=fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=tmp, env=env)
            try:
                code = proc.wait()
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.monotonic() - start
    shutil.rmtree(tmp / ".cptmp", ignore_errors=True)
    report = read_report(tmp / _REPORT_NAME) if (tmp / _REPORT_NAME).exists() else None
    (tmp / _REPORT_NAME).unlink(missing_ok=True)
    if report is not None and report.problems:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PipelineValidationError(str(pipeline), report.problems)
    done = (tmp / _DONE_NAME).read_text().strip() if (tmp / _DONE_NAME).exists() else "no status"
    (tmp / _DONE_NAME).unlink(missing_ok=True)
    outputs, missing = find_expected(tmp, expect)
    problems = []
    if code != 0 or done != "Complete":
        problems.append(f"CellProfiler exited with code {code}, status {done!r}")
    if missing:
        problems.append("expected outputs missing or empty: " + ", ".join(missing))
    if publication is not None and not problems:
        problems += _publish_manifest(publication, pipeline, data_file, groups, tmp, python)
    marker = {"pipeline": str(pipeline.resolve()), "data_file": str(data_file.resolve()),
              "groups": groups, "argv": argv, "exit_code": code, "status": done, "seconds": seconds}
    (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=1))
    if problems:
        tail = _tail(log)
        kept = _keep_failed(tmp, output_dir)
        raise CellProfilerRunError(
            f"CellProfiler run of {pipeline} failed: {'; '.join(problems)}\n"
            f"partial outputs: {kept}; last lines of {LOG_NAME}:\n{tail}"
        )
    _publish(tmp, output_dir)
    outputs = {k: [output_dir / p.relative_to(tmp) for p in v] for k, v in outputs.items()}
    return RunResult(output_dir=output_dir, log=output_dir / LOG_NAME, seconds=seconds, outputs=outputs)
