"""Whole screens through `run_screen`: the demo's hits against its true phenotypes, and a
two-plate screen with deliberately broken alignment that a QC gate stops, then resumes after
an override, ending with a report that shows every figure and every well in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

import pipecraft as pc
from starrynight import naming
from starrynight.datasets import generate_dataset
from starrynight.datasets.presets import Preset
from starrynight.pipelines.screen import run_screen
from starrynight.scoring.hits import score_hit_files

INIT = {"nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "barcode_csv_path": "workspace/barcodes.csv", "image_overlap_percentage": 10}  # fmt: skip


def _config(root: Path, parameters: dict | None = None) -> Path:
    path = root / "screen.yaml"
    path.write_text(yaml.safe_dump({
        "workspace_path": "workspace", "images_path": "images", "scratch_path": "scratch",
        "experiment": INIT, "parameters": parameters or {}, "backend": {"cores": 2},
    }))  # fmt: skip
    return path


@pytest.mark.slow
def test_demo_recovers_its_large_effect_genes(tmp_path: Path) -> None:
    info = generate_dataset(tmp_path, "demo", seed=0)
    run_screen(_config(tmp_path))
    score = score_hit_files(naming.profiles.hits_table(info.workspace_path), info.root)
    print(score.report())
    assert score.genes["large"] >= 2 and score.genes["none"] >= 4
    assert score.recall["large"] >= 0.9
    assert score.false_call_rate is not None and score.false_call_rate <= 0.1
    assert not score.missing
    assert score.recall["subtle"] is not None  # reported, whatever its value


def _flip_cycle(info, plate: str, well: str, cycle: int) -> int:
    """Turn every SBS image of one well and cycle upside down: no shift can align it."""
    flipped = 0
    for path in (info.images_path).rglob(f"{plate}/*_c{cycle}_SBS-{cycle}/Well{well}_*"):
        stack = tifffile.imread(path)
        tifffile.imwrite(path, np.ascontiguousarray(stack[:, ::-1, :]), ome=True, photometric="minisblack",
                         metadata={"axes": "CYX", "Channel": {"Name": info.sbs_channels}})  # fmt: skip
        flipped += 1
    return flipped


@pytest.mark.slow
def test_gate_stops_broken_alignment_override_resumes_and_report_shows_both_plates(
    tmp_path: Path,
) -> None:
    from starrynight.qc.browser import BrowserError, render

    preset = Preset(name="tiny-2plates", plates=2, wells=2, sites_per_well=2, cycles=3, image_size=256,
                    cells_per_site=25, library_size=12, nontargeting=2)  # fmt: skip
    info = generate_dataset(tmp_path, preset, seed=1)
    assert _flip_cycle(info, info.plates[1], info.wells[0], cycle=2) == 2
    ws = info.workspace_path

    with pytest.raises(pc.RunFailedError) as stopped:
        run_screen(_config(tmp_path, {"qc": {"gates": ["alignment_score"]}}))
    message = str(stopped.value)
    assert re.search(
        r"QC gate before_analysis: alignment_score = 0\.\d+ is below its fail threshold 0\.5",
        message,
    )
    assert "qc.override" in message
    assert not naming.analysis.cell_table(ws).exists()  # analysis never ran
    failed_page = naming.qc_report(ws).read_text()
    assert "Run failed" in failed_page and "alignment_score" in failed_page
    aligned = sorted(naming.outputs_dir(ws, naming.sbs.SBS_ILLUM_APPLY).glob("*/*.csv"))
    before = {p: p.stat().st_mtime_ns for p in aligned}

    run_screen(
        _config(tmp_path, {"qc": {"gates": ["alignment_score"], "override": ["alignment_score"]}})
    )
    assert naming.analysis.cell_table(ws).is_file() and naming.profiles.hits_table(ws).is_file()
    assert {p: p.stat().st_mtime_ns for p in aligned} == before  # resumed: finished units kept

    page = naming.qc_report(ws).read_text()
    for title in ("Screen", "Headline figures", "Plate maps", "Illumination functions", "Segmentation overlays",
                  "SBS alignment to cycle 1", "Barcode quality", "Library coverage", "Foci per cell",
                  "Cells per well", "Hits", "Run"):  # fmt: skip
        assert f"<h2>{title}</h2>" in page
    assert "Not available" not in page
    for plate in info.plates:  # every well of both plates, in the plate-map table and the overlays
        for well in info.wells:
            assert f"<td>{plate}</td><td>{well}</td>" in page
            assert f"{plate}_{well}_Site" in page
    assert "overridden" in page and "version: starrynight" in page
    try:
        result = render(naming.qc_report(ws), tmp_path / "report.png", height=6000)
    except BrowserError as err:
        pytest.fail(f"{err} (scripts/install_browser.sh installs it)")
    assert result["broken"] == 0 and result["images"] >= 12
