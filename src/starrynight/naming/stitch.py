"""File names inside the stitch step's outputs (one unit folder per well).

- `cp_stitch_dir(u)` / `sbs_stitch_dir(u)`: the stitched CP well and SBS cycle-1 well
  (`naming.geometry` names the files inside);
- `registration_dir(u)`: the SBS -> CP registration (`naming.geometry.registration_file`);
- `frame_file()`: the well frame (CP origin and pixel sizes) the analysis join maps foci with;
- `crop_image(crop, name)`: one channel of one crop on the CP pixel grid, relative to the unit;
- `naming.geometry.crops_table(u)`: the crops' core and outer boxes;
- `preview_image(arm)` and `stitch_qc_file()`: what the QC report shows of the well (a small
  preview per arm; tile boxes, crop cores, pair and registration figures).
"""

from __future__ import annotations

from pathlib import Path

STITCH = "stitch"
#: manifest `kind` of a crop's channel image, and of the step's tables
CROP_KIND = "image"
TABLE_KIND = "table"
#: manifest table names
CROPS = "crops"
SBS_POSITIONS = "sbs_positions"
CP_POSITIONS = "cp_positions"
CP_PAIRS = "cp_pairs"
SBS_PAIRS = "sbs_pairs"
STITCH_QC = "stitch_qc"
#: manifest `kind` of a well's preview image (`name`: the arm, CP or SBS)
PREVIEW_KIND = "preview"
REGISTRATION = "registration"
FRAME = "frame"


def cp_stitch_dir(unit_dir: Path) -> Path:
    return unit_dir / "cp"


def sbs_stitch_dir(unit_dir: Path) -> Path:
    return unit_dir / "sbs_c1"


def registration_dir(unit_dir: Path) -> Path:
    return unit_dir


def frame_file() -> str:
    return "frame.json"


def crop_image(crop: str, name: str) -> str:
    """`<crop>/<name>.tiff`: one plane (a CP channel, or the SBS cycle-1 nuclear channel)."""
    return f"{crop}/{name}.tiff"


def preview_image(arm: str) -> str:
    """`qc/preview_<arm>.png`, relative to the unit."""
    return f"qc/preview_{arm.lower()}.png"


def stitch_qc_file() -> str:
    return "qc/stitch_qc.json"
