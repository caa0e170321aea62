"""File names inside the outputs of the geometry commands (stitch, register, crop).

- a stitched arm of a well, `stitch_dir`: `stitched_well(d)` (OME-Zarr), `positions_table(d)`
  (tile positions), `pairs_table(d)` (every registered tile pair, accepted or not, with its
  residual), `stitch_report(d)` (JSON);
- a registration: `registration_file(d)` (JSON: rigid SBS -> CP motion and residuals);
- crops, `crop_dir`: `crops_table(d)` (boxes per crop) and `crop_stack(d, crop, name)` per crop
  (`name` "CP" or "SBS_c<k>").
"""

from __future__ import annotations

from pathlib import Path


def stitched_well(stitch_dir: Path) -> Path:
    return stitch_dir / "well.ome.zarr"


def positions_table(stitch_dir: Path) -> Path:
    return stitch_dir / "positions.parquet"


def pairs_table(stitch_dir: Path) -> Path:
    return stitch_dir / "pairs.parquet"


def stitch_report(stitch_dir: Path) -> Path:
    return stitch_dir / "stitch.json"


def registration_file(directory: Path) -> Path:
    return directory / "registration.json"


def crops_table(crop_dir: Path) -> Path:
    return crop_dir / "crops.parquet"


def crop_stack(crop_dir: Path, crop: str, name: str) -> Path:
    return crop_dir / crop / f"{name}.ome.tiff"
