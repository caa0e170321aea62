"""The runner publishes an output dir only when CellProfiler completed with every expected file."""

from __future__ import annotations

import pytest

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
