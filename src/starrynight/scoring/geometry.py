"""How far a stitched well's SBS -> CP registration is from the generator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from starrynight.algorithms.geometry.register import Registration
from starrynight.naming import geometry as geo_names
from starrynight.naming import stitch as names
from starrynight.scoring.score import ScoringError


def _frame_offset(
    tiles: pl.DataFrame, arm: str, plate: str, well: str, positions: Path
) -> np.ndarray:
    """Stitched frame minus true well frame (µm): the median over the arm's tiles (cycle 1)."""
    truth = tiles.filter(
        (pl.col("arm") == arm) & (pl.col("plate") == plate) & (pl.col("well") == well) & pl.col("present")
        & (pl.col("cycle").is_null() | (pl.col("cycle") == 1))
    ).select("site", "y_um", "x_um")  # fmt: skip
    got = pl.read_parquet(positions).select("site", "y_um", "x_um")
    both = truth.join(got, on="site", suffix="_got")
    if both.height == 0:
        raise ScoringError(f"{positions}: no tile of {plate}/{well} {arm} in the truth")
    return np.median(
        both.select("y_um_got", "x_um_got").to_numpy() - both.select("y_um", "x_um").to_numpy(),
        axis=0,
    )


def registration_error_cp_px(truth_dir: Path, stitch_unit: Path, plate: str, well: str) -> float:
    """Median distance (CP px) between where the registration puts the well's truth cells
    (seen through the SBS stitch) and where the CP stitch has them."""
    truth_dir, stitch_unit = Path(truth_dir), Path(stitch_unit)
    tiles = pl.read_parquet(truth_dir / "tiles.parquet")
    registration = Registration.model_validate_json(
        geo_names.registration_file(stitch_unit).read_text()
    )
    cp_off = _frame_offset(
        tiles, "CP", plate, well, geo_names.positions_table(names.cp_stitch_dir(stitch_unit))
    )
    sbs_off = _frame_offset(
        tiles, "SBS", plate, well, geo_names.positions_table(names.sbs_stitch_dir(stitch_unit))
    )
    cells = pl.read_parquet(truth_dir / "cells.parquet").filter(
        (pl.col("plate") == plate) & (pl.col("well") == well) & pl.col("in_cp") & pl.col("in_sbs")
    )
    w = cells.select("y_um", "x_um").to_numpy()
    error = registration.transform.apply(w + sbs_off) - (w + cp_off)
    pixel = float(tiles.filter(pl.col("arm") == "CP").get_column("pixel_size_um")[0])
    return float(np.median(np.hypot(*error.T)) / pixel)
