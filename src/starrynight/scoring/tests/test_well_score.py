"""Scoring a stitched screen's table (well coordinates) against truth in well micrometres."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from starrynight.scoring.score import score_cells


def _truth(n: int = 60, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    yx = np.stack(np.meshgrid(np.arange(6), np.arange(10), indexing="ij"), -1).reshape(-1, 2) * 20.0
    yx = yx[:n] + rng.uniform(-3, 3, (n, 2))
    return pl.DataFrame({
        "plate": "P", "well": "A1", "y_um": yx[:, 0], "x_um": yx[:, 1], "nucleus_area": 100,
        "gene": [f"G{k % 7}" for k in range(n)], "has_spots": True, "in_cp": True, "in_sbs": True,
    })  # fmt: skip


def _table(truth: pl.DataFrame, offset: tuple[float, float], pixel: float = 0.5) -> pl.DataFrame:
    """Every truth cell found, in a frame shifted by `offset` µm, tiles split at x 100 µm."""
    y = truth.get_column("y_um").to_numpy() - offset[0]
    x = truth.get_column("x_um").to_numpy() - offset[1]
    return pl.DataFrame({
        "plate": "P", "well": "A1", "tile": np.where(truth.get_column("x_um").to_numpy() < 100, "r00c00", "r00c01"),
        "well_y_um": y, "well_x_um": x, "well_y_px": y / pixel, "well_x_px": x / pixel,
        "gene": truth.get_column("gene"), "Nuclei_AreaShape_Area": 120.0,
    })  # fmt: skip


def test_a_table_in_another_well_frame_is_matched_after_one_translation() -> None:
    truth = _truth()
    score = score_cells(truth, _table(truth, (1234.5, -321.0)))
    assert (
        score.matched == truth.height and score.right_gene == truth.height and score.wrong_gene == 0
    )
    assert score.duplicated_truth_cells == 0 and score.nucleus_area_ratio == pytest.approx(1.2)


def test_a_cell_listed_by_two_crops_is_counted_twice_and_a_wrong_gene_is_wrong() -> None:
    truth = _truth()
    table = _table(truth, (10.0, 10.0))
    again = table.head(1).with_columns(tile=pl.lit("r00c01"), well_x_um=pl.col("well_x_um") + 0.5)
    wrong = table.slice(1, 1).with_columns(gene=pl.lit("OTHER"))
    table = pl.concat([table.head(1), again, wrong, table.slice(2)])
    score = score_cells(truth, table)
    assert score.duplicated_truth_cells == 1
    assert (
        score.wrong_gene == 1
        and score.right_gene == truth.height - 1
        and score.table_unmatched == 1
    )
