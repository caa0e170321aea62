"""Stopping a run: SIGTERM or Ctrl-C (SIGINT) to `starrynight run` stops Snakemake and every
job it started within 10 s, no half-written unit looks complete, the run summary says
`interrupted`, and the next run resumes from what had finished (real Snakemake, real
CellProfiler, the tiny screen).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from starrynight import naming

pytestmark = pytest.mark.slow

STOP_WITHIN = 10.0  # seconds from the signal to the last process of the run gone


def _start(config: Path) -> subprocess.Popen:
    starrynight = Path(sys.executable).with_name("starrynight")
    return subprocess.Popen(
        [str(starrynight), "run", "pcp-generic", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_cellprofiler(run: subprocess.Popen, timeout: float = 300) -> list[psutil.Process]:
    """Block until a CellProfiler unit of the run is working; the run's processes then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        family = psutil.Process(run.pid).children(recursive=True)
        for proc in family:
            try:
                if "_cp_driver.py" in " ".join(proc.cmdline()):
                    time.sleep(1.0)  # let it get going: outputs half-written
                    return psutil.Process(run.pid).children(recursive=True)
            except psutil.Error:
                continue
        time.sleep(0.2)
    raise AssertionError("no CellProfiler unit started within the timeout")


def _stop(run: subprocess.Popen, signum: int) -> tuple[float, str]:
    """Signal the run once a CellProfiler unit works; (seconds until all of it was gone, stderr)."""
    family = _wait_for_cellprofiler(run)
    assert len(family) >= 3  # Snakemake, a job's `starrynight cp run`, its CellProfiler
    sent = time.monotonic()
    os.kill(run.pid, signum)
    _, stderr = run.communicate(timeout=60)
    _, alive = psutil.wait_procs(family, timeout=max(0.0, sent + STOP_WITHIN - time.monotonic()))
    elapsed = time.monotonic() - sent
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    assert run.returncode == 130, stderr
    return elapsed, stderr


def _summary(scratch: Path) -> dict:
    return json.loads((scratch / "runs" / "pcp-generic" / "run_summary.json").read_text())


def _ran(summary: dict) -> set[tuple[str, str | None]]:
    """(rule, unit) of the jobs whose command ran to success, completion markers aside."""
    return {(j["rule"], j["unit"]) for j in summary["jobs"]
            if j["status"] == "succeeded" and not j["rule"].endswith("__done")}  # fmt: skip


def _complete_units(workspace: Path) -> set[Path]:
    """Unit folders that hold a manifest, the mark of a complete unit."""
    return {path.parent for path in workspace.glob("*/outputs/*/manifest.parquet")}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_stops_the_whole_run_and_the_next_run_resumes(
    tiny_screen_config, tmp_path, signum
):
    config = tiny_screen_config(backend={"cores": 2})
    workspace, scratch = tmp_path / "workspace", tmp_path / "scratch"

    elapsed, stderr = _stop(_start(config), signum)
    assert elapsed < STOP_WITHIN
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    summary = _summary(scratch)
    assert summary["status"] == "interrupted"
    finished = _ran(summary)
    # the unit cut short left nothing behind: no temporary unit folder, no manifest
    assert not list(workspace.glob("*/outputs/.*")), list(workspace.glob("*/outputs/.*"))
    complete = _complete_units(workspace)

    resumed = _start(config)
    out, err = resumed.communicate(timeout=1800)
    assert resumed.returncode == 0, err[-3000:]
    assert "run succeeded" in out
    again = _summary(scratch)
    assert again["status"] == "succeeded"
    rerun = _ran(again)
    assert finished and rerun and not (finished & rerun), finished & rerun  # nothing redone
    assert complete <= _complete_units(workspace)

    # and then nothing is left to do: the run says so, and keeps the report that run wrote
    report = naming.qc_report(workspace)
    written = report.stat().st_mtime_ns
    idle = _start(config)
    out, err = idle.communicate(timeout=600)
    assert idle.returncode == 0, err[-3000:]
    assert "run succeeded: up to date: nothing to do" in out, out
    assert report.stat().st_mtime_ns == written
