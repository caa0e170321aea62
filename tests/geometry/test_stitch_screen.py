"""A screen whose arms image different fields (CP 20X, SBS 10X), end to end through
`run_screen` (real Snakemake and CellProfiler): stitched, registered, cropped, analysed on
crops and scored against the generator's truth in well coordinates."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from starrynight import naming
from starrynight.datasets import generate_dataset
from starrynight.naming import analysis as analysis_names
from starrynight.naming import stitch as stitch_names
from starrynight.pipelines.screen import run_screen
from starrynight.scoring.geometry import registration_error_cp_px
from starrynight.scoring.score import score_tables

INIT = {"nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "barcode_csv_path": "workspace/barcodes.csv", "image_overlap_percentage": 10}  # fmt: skip


def _run(root: Path, preset: str):
    info = generate_dataset(root, preset, seed=0)
    config = root / "screen.yaml"
    config.write_text(yaml.safe_dump({
        "workspace_path": "workspace", "images_path": "images", "scratch_path": "scratch",
        "experiment": INIT, "parameters": {}, "backend": {"cores": 2},
    }))  # fmt: skip
    run_screen(config)
    return info


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["geometry-demo", "geometry-missing"])
def test_a_stitched_screen_gets_the_right_genes_once_per_cell(tmp_path: Path, preset: str) -> None:
    """geometry-missing lacks a CP tile: reported, not fatal, and the nuclei its hole cuts are
    left out like those at the well's edge, so the count still matches the truth."""
    info = _run(tmp_path, preset)
    table_path = analysis_names.cell_table(info.workspace_path)
    table = pl.read_parquet(table_path)
    assert {"tile", "well_y_px", "well_x_px", "well_y_um", "well_x_um"} <= set(table.columns)
    assert table.get_column("tile").null_count() == 0
    score = score_tables(info.root, table_path)
    print(score.report())
    assert score.right_gene_fraction is not None and score.right_gene_fraction >= 0.90
    assert score.wrong_gene_rate is not None and score.wrong_gene_rate <= 0.02
    assert score.duplicated_truth_cells == 0
    assert score.nuclei_count_error is not None and abs(score.nuclei_count_error) <= 0.05
    assert score.nucleus_area_ratio is not None and abs(score.nucleus_area_ratio - 1) <= 0.10
    stitch_outputs = naming.outputs_dir(info.workspace_path, stitch_names.STITCH)
    for (plate, well), _ in table.group_by("plate", "well"):
        unit = naming.unit_dir(stitch_outputs, naming.unit_id(plate, well))
        error = registration_error_cp_px(info.root / "truth", unit, plate, well)
        print(f"{plate}/{well}: registration {error:.2f} CP px from truth")
        assert error <= 2.0
