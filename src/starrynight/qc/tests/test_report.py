"""The QC report from step outputs with the real file names, checked in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from starrynight import naming
from starrynight.qc.figures import QCParameters
from starrynight.qc.report import build_report


def _fake_run(ws: Path, plates: tuple[str, ...] = ("Plate1",), wells: tuple[str, ...] = ("A1", "A2")) -> Path:
    """Step outputs named as the steps name them (values are made up), for every plate and well."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yy, xx = np.mgrid[0:32, 0:32]
    cells = []
    for plate in plates:
        illum = naming.unit_dir(naming.outputs_dir(ws, "cp_illum_calc"), plate)
        illum.mkdir(parents=True)
        np.save(illum / "IllumDAPI.npy", 1 + ((yy - 16) ** 2 + (xx - 16) ** 2) / 500.0)
        sbs_illum = naming.sbs.illum_function_path(ws, plate, 1, "A")
        sbs_illum.parent.mkdir(parents=True)
        np.save(sbs_illum, np.ones((32, 32)))
        for well in wells:
            unit = naming.unit_id(plate, well)
            keys = {"Metadata_Plate": [plate] * 2, "Metadata_Well": [well] * 2}
            seg = naming.unit_dir(naming.outputs_dir(ws, "cp_segcheck"), unit)
            seg.mkdir(parents=True)
            plt.imsave(seg / naming.cp.overlay_image(plate, well, 0), np.random.default_rng(0).random((16, 16)))
            pl.DataFrame({**keys, "Metadata_Site": [0, 1], "Count_Nuclei": [20, 22], "Count_Cells": [19, 22]}).write_csv(seg / "Image.csv")
            apply_dir = naming.unit_dir(naming.outputs_dir(ws, naming.sbs.SBS_ILLUM_APPLY), unit)
            apply_dir.mkdir(parents=True)
            pl.DataFrame({
                **keys,
                naming.sbs.alignment_shift_feature(2, "DAPI", "X"): [2.0, -3.0],
                naming.sbs.alignment_shift_feature(2, "DAPI", "Y"): [1.0, 1.0],
                naming.sbs.alignment_correlation_feature(2, "DAPI"): [0.9876, 0.9432],
            }).write_csv(apply_dir / naming.sbs.image_table_file())  # fmt: skip
            foci = naming.sbs.foci_table_path(ws, unit)
            foci.parent.mkdir(parents=True)
            pl.DataFrame({
                "Metadata_Plate": [plate] * 3, "Metadata_Well": [well] * 3,
                naming.sbs.FOCI_CALLED: ["ACG", "ACT", "TTT"],
                naming.sbs.FOCI_SCORE: [1.0, 0.67, 0.33],
            }).write_csv(foci)  # fmt: skip
            cells.append(pl.DataFrame({"plate": [plate] * 3, "well": [well] * 3, "gene": ["G1", None, "G2"],
                                       "matched_barcode": ["AAA", None, "CCC"], "n_foci": [2, 0, 1]}))  # fmt: skip
    table = naming.analysis.cell_table(ws)
    table.parent.mkdir(parents=True, exist_ok=True)
    pl.concat(cells).write_parquet(table)
    hits = naming.profiles.hits_table(ws)
    hits.parent.mkdir(parents=True)
    pl.DataFrame({"Metadata_Gene": ["G1", "G2", "G3"], "mean_average_precision": [0.95, 0.4, None],
                  "p_value": [0.001, 0.6, None], "corrected_p_value": [0.002, 0.6, None],
                  "hit": [True, False, False], "n_profiles": [4, 4, 1], "n_cells": [40, 38, 3]}).write_parquet(hits)  # fmt: skip
    summary = ws / "run_summary.json"
    summary.write_text(json.dumps({"status": "succeeded", "versions": {"cellprofiler": "5.0.0.dev784"}, "jobs": [
        {"rule": "cp_illum_calc_invoke", "unit": "Plate1", "status": "done", "wall_s": 12.5, "max_rss_mb": 300.0},
    ]}))  # fmt: skip
    return summary


@pytest.fixture
def workspace(tiny_workspace) -> Path:
    """A workspace with an experiment whose barcode library is AAA, CCC, GGG (GGG is never seen)."""
    data_config, experiment, _ = tiny_workspace
    ws = Path(data_config.workspace_path)
    library = ws / "barcodes.csv"
    library.write_text("sgRNA,gene_symbol\nAAA,G1\nCCC,G2\nGGG,G3\n")
    experiment.model_copy(update={"barcode_csv_path": library}).to_json(naming.experiment_json(ws))
    return ws


def test_every_section_has_content_when_outputs_exist(workspace):
    summary = _fake_run(workspace)
    page = build_report(workspace, summary).read_text()
    assert "Not available" not in page
    assert page.count("data:image/png;base64,") >= 10
    assert "cp_illum_calc_invoke" in page and "0.333" in page  # timing table, perfect-match share
    assert "min score" in page and "0.943" in page  # worst alignment score of cycle 2
    assert "version: cellprofiler" in page and "5.0.0.dev784" in page  # versions from the run summary
    assert "guides with no cell</th><td>1" in page and "GGG" in page  # the missing guide is listed
    assert "1 of 3 genes are hits" in page


def test_missing_outputs_are_reported_not_fatal(tmp_path):
    page = build_report(tmp_path).read_text()
    assert page.count("Not available") == 10
    assert page.count(">n/a<") == 2 * 5  # value and status of every headline figure, unmeasured


def test_every_well_of_every_plate_is_in_the_report(workspace):
    plates, wells = ("Plate1", "Plate2"), ("A1", "A2", "A3", "B1", "B2", "B3")
    page = build_report(workspace, _fake_run(workspace, plates, wells)).read_text()
    for plate in plates:
        assert f"<h3>{plate}</h3>" in page  # its illumination functions
        for well in wells:
            assert page.count(f"<td>{plate}</td><td>{well}</td>") >= 4  # plate map, segmentation, barcodes, cells
            assert naming.cp.overlay_image(plate, well, 0) in page  # its overlay
    assert "12 well(s) shown" in page


def test_headline_thresholds_are_configurable(workspace):
    summary = _fake_run(workspace)
    default = build_report(workspace, summary).read_text()
    assert re.search(r'<tr class="fail"><td>cells_per_well</td><td>3</td>', default)  # 3 cells < 20
    strict = QCParameters(cells_per_well={"warn": 3, "fail": 2}, perfect_match_share={"warn": 0.5, "fail": 0.4})
    page = build_report(workspace, summary, params=strict).read_text()
    assert re.search(r'<tr class="pass"><td>cells_per_well</td><td>3</td>', page)
    assert re.search(r'<tr class="fail"><td>perfect_match_share</td><td>0.333</td>', page)


def test_a_failed_run_gets_a_report_saying_what_failed(workspace):
    summary = workspace / "run_summary.json"
    summary.write_text(json.dumps({"status": "failed", "jobs": [
        {"rule": "analysis_invoke", "unit": "Plate1__A1", "status": "failed", "log": "logs/analysis_invoke/Plate1__A1.log"},
        {"rule": "cp_illum_calc_invoke", "unit": "Plate1", "status": "succeeded", "wall_s": 3.0},
    ]}))  # fmt: skip
    page = build_report(workspace, summary, failure="pipecraft run failed: 1 failed job(s)").read_text()
    assert page.index("Run failed") < page.index("Headline figures")  # it leads
    assert "Run status: failed" in page and "logs/analysis_invoke/Plate1__A1.log" in page


def test_report_renders_in_headless_chromium(workspace, tmp_path):
    from starrynight.qc.browser import BrowserError, render

    summary = _fake_run(workspace, ("Plate1", "Plate2"))
    report = build_report(workspace, summary)
    screenshot = tmp_path / "report.png"
    try:
        result = render(report, screenshot)
    except BrowserError as err:
        pytest.fail(f"{err} (scripts/install_browser.sh installs it)")
    assert result["images"] >= 10 and result["broken"] == 0
    assert screenshot.stat().st_size > 10_000


def test_browser_check_detects_a_broken_image(workspace, tmp_path):
    from starrynight.qc.browser import render

    page = tmp_path / "broken.html"
    report = build_report(workspace, _fake_run(workspace)).read_text()
    page.write_text(report.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1))
    assert render(page, tmp_path / "broken.png")["broken"] == 1


def test_the_documented_settings_are_valid_parameters():
    """The settings example of docs/profiles-hits-qc.md passes the steps' own validation."""
    import yaml

    from starrynight.modules.hits import HitsParameters
    from starrynight.modules.profiles import ProfilesParameters

    doc = (Path(__file__).parents[4] / "docs" / "profiles-hits-qc.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.S).group(1)
    parameters = yaml.safe_load(block)["parameters"]
    ProfilesParameters(**parameters["profiles"])
    HitsParameters(**parameters["hits"])
    qc = QCParameters(**parameters["qc"])
    assert qc.gates == ["alignment_score"]
