"""The QC report from step outputs with the real file names, checked in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from starrynight import naming
from starrynight.qc.report import build_report


def _fake_run(ws: Path) -> Path:
    """Step outputs named as the steps name them (values are made up)."""
    illum = naming.unit_dir(naming.outputs_dir(ws, "cp_illum_calc"), "Plate1")
    illum.mkdir(parents=True)
    yy, xx = np.mgrid[0:32, 0:32]
    np.save(illum / "IllumDAPI.npy", 1 + ((yy - 16) ** 2 + (xx - 16) ** 2) / 500.0)
    sbs_illum = naming.sbs.illum_function_path(ws, "Plate1", 1, "A")
    sbs_illum.parent.mkdir(parents=True)
    np.save(sbs_illum, np.ones((32, 32)))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seg = naming.unit_dir(naming.outputs_dir(ws, "cp_segcheck"), "Plate1__A1")
    seg.mkdir(parents=True)
    plt.imsave(seg / naming.cp.overlay_image("Plate1", "A1", 0), np.random.default_rng(0).random((16, 16)))
    pl.DataFrame({"Metadata_Well": ["A1"], "Metadata_Site": [0], "Count_Nuclei": [20], "Count_Cells": [19]}).write_csv(seg / "Image.csv")

    apply_dir = naming.unit_dir(naming.outputs_dir(ws, naming.sbs.SBS_ILLUM_APPLY), "Plate1__A1")
    apply_dir.mkdir(parents=True)
    pl.DataFrame({
        "Metadata_Well": ["A1", "A1"],
        naming.sbs.alignment_shift_feature(2, "DAPI", "X"): [2.0, -3.0],
        naming.sbs.alignment_shift_feature(2, "DAPI", "Y"): [1.0, 1.0],
        naming.sbs.alignment_correlation_feature(2, "DAPI"): [0.9876, 0.9432],
    }).write_csv(apply_dir / naming.sbs.image_table_file())  # fmt: skip
    foci = naming.sbs.foci_table_path(ws, "Plate1__A1")
    foci.parent.mkdir(parents=True)
    pl.DataFrame({
        "Metadata_Well": ["A1", "A1", "A1"],
        naming.sbs.FOCI_CALLED: ["ACG", "ACT", "TTT"],
        naming.sbs.FOCI_SCORE: [1.0, 0.67, 0.33],
    }).write_csv(foci)  # fmt: skip
    table = naming.analysis.cell_table(ws)
    table.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"plate": ["Plate1"] * 3, "well": ["A1", "A1", "A2"], "gene": ["G1", None, "G2"]}).write_parquet(table)
    summary = ws / "run_summary.json"
    summary.write_text(json.dumps({"jobs": [
        {"rule": "cp_illum_calc_invoke", "unit": "Plate1", "status": "done", "wall_s": 12.5, "max_rss_mb": 300.0},
    ]}))  # fmt: skip
    return summary


def test_every_section_has_content_when_outputs_exist(tmp_path):
    summary = _fake_run(tmp_path)
    page = build_report(tmp_path, summary).read_text()
    assert "Not available" not in page
    assert page.count("data:image/png;base64,") >= 5  # illum, overlay, alignment, barcodes, cells
    assert "cp_illum_calc_invoke" in page and "0.333" in page  # timing table, perfect-match share
    assert "min score" in page and "0.943" in page  # worst alignment score of cycle 2


def test_missing_outputs_are_reported_not_fatal(tmp_path):
    page = build_report(tmp_path).read_text()
    assert page.count("Not available") == 6


def test_report_renders_in_headless_chromium(tmp_path):
    from starrynight.qc.browser import BrowserError, render

    summary = _fake_run(tmp_path)
    report = build_report(tmp_path, summary)
    screenshot = tmp_path / "report.png"
    try:
        result = render(report, screenshot)
    except BrowserError as err:
        pytest.fail(f"{err} (scripts/install_browser.sh installs it)")
    assert result["images"] >= 5 and result["broken"] == 0
    assert screenshot.stat().st_size > 10_000


def test_browser_check_detects_a_broken_image(tmp_path):
    from starrynight.qc.browser import render

    page = tmp_path / "broken.html"
    report = build_report(tmp_path, _fake_run(tmp_path)).read_text()
    page.write_text(report.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1))
    assert render(page, tmp_path / "broken.png")["broken"] == 1
