"""The runner publishes an output dir only when CellProfiler completed with every expected file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from cp_testdata import write_loaddata

from starrynight.cellprofiler.errors import CellProfilerError, CellProfilerRunError
from starrynight.cellprofiler.runner import LOG_NAME, MARKER_NAME, run_pipeline


def test_missing_expected_output_fails_and_leaves_no_output_dir(intensity_pipeline, constant_site, tmp_path):
    out = tmp_path / "unit"
    with pytest.raises(CellProfilerRunError, match="Nuclei.csv"):
        run_pipeline(intensity_pipeline, constant_site[1], out, expect=["Image.csv", "Nuclei.csv"])
    assert not out.exists()
    failed = tmp_path / "unit.failed"
    assert (failed / LOG_NAME).stat().st_size > 0 and (failed / "Image.csv").exists()
    assert not list(tmp_path.glob(".unit.tmp-*"))
    run_pipeline(intensity_pipeline, constant_site[1], out, expect=["Image.csv"], validate=False)
    assert (out / "Image.csv").exists() and not failed.exists()


def test_rerun_replaces_own_output_but_never_a_foreign_dir(intensity_pipeline, constant_site, tmp_path):
    out = tmp_path / "unit"
    first = run_pipeline(intensity_pipeline, constant_site[1], out, expect=["Image.csv"])
    assert (out / MARKER_NAME).exists() and first.outputs["Image.csv"] == [out / "Image.csv"]
    (out / "stale.txt").write_text("from an earlier run")
    run_pipeline(intensity_pipeline, constant_site[1], out, expect=["Image.csv"], validate=False)
    assert not (out / "stale.txt").exists() and (out / "Image.csv").exists()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("user data")
    with pytest.raises(CellProfilerError, match="refusing"):
        run_pipeline(intensity_pipeline, constant_site[1], foreign, validate=False)
    assert (foreign / "precious.txt").read_text() == "user data"


def test_bad_expect_pattern_and_group_are_rejected(intensity_pipeline, constant_site, tmp_path):
    with pytest.raises(CellProfilerError, match="relative"):
        run_pipeline(intensity_pipeline, constant_site[1], tmp_path / "o", expect=["../x.csv"])
    with pytest.raises(CellProfilerError, match="Metadata_"):
        run_pipeline(intensity_pipeline, constant_site[1], tmp_path / "o", groups={"Plate": "P1"})


def _start_run(pipeline, data_file, out):
    argv = [sys.executable, "-m", "starrynight", "cp", "run", "-p", str(pipeline),
            "--data-file", str(data_file), "-o", str(out), "--expect", "Image.csv"]
    return subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_cellprofiler(out, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = list(out.parent.glob(f".{out.name}.tmp-*/{LOG_NAME}"))
        if logs:
            return logs[0].parent
        time.sleep(0.2)
    raise AssertionError("CellProfiler never started")


def test_killed_run_leaves_no_output_dir_and_rerun_cleans_up(intensity_pipeline, constant_site, tmp_path):
    out = tmp_path / "unit"
    proc = _start_run(intensity_pipeline, constant_site[1], out)
    tmp = _wait_for_cellprofiler(out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and tmp.exists()
    run_pipeline(intensity_pipeline, constant_site[1], out, expect=["Image.csv"], validate=False)
    assert (out / "Image.csv").exists() and not tmp.exists()


def test_terminated_run_stops_cellprofiler_and_removes_its_temp_dir(intensity_pipeline, constant_site, tmp_path):
    out = tmp_path / "unit"
    proc = _start_run(intensity_pipeline, constant_site[1], out)
    tmp = _wait_for_cellprofiler(out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert not out.exists() and not tmp.exists()


def test_a_unit_publishes_the_manifest_of_what_it_declared(intensity_pipeline, constant_site, tmp_path):
    import polars as pl

    from starrynight import naming
    from starrynight.manifest import Product, Publication

    declared = Publication(step="toy", products=[Product(kind="table", name="Image", file="Image.csv")])
    two_sites = write_loaddata(tmp_path / "two_sites.csv", [constant_site[0]] * 2)
    out = tmp_path / "unit"
    run_pipeline(intensity_pipeline, two_sites, out, publication=declared, validate=False)
    published = pl.read_parquet(naming.unit_manifest(out))
    row = published.row(0, named=True)
    assert published.height == 1 and (row["step"], row["kind"], row["name"], row["path"]) == (
        "toy", "table", "Image", "Image.csv")  # fmt: skip
    assert row["plate"] == "P1" and row["site"] is None  # the unit's one plate; its sites vary
    assert row["bytes"] == (out / "Image.csv").stat().st_size and len(row["producer"]) == 64
    one_site = tmp_path / "one_site"
    run_pipeline(intensity_pipeline, constant_site[1], one_site, publication=declared, validate=False)
    assert pl.read_parquet(naming.unit_manifest(one_site)).row(0, named=True)["site"] == 0

    # a declared per-site file that CellProfiler did not write fails the unit: nothing published
    per_site = Publication(step="toy", products=[Product(kind="image", name="DNA", file="{plate}_s{site}.tiff")])
    with pytest.raises(CellProfilerRunError, match=r"1 declared output\(s\) missing or empty: P1_s0.tiff"):
        run_pipeline(intensity_pipeline, constant_site[1], tmp_path / "other", publication=per_site, validate=False)
    assert not (tmp_path / "other").exists()
