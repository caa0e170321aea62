"""What the stitch step publishes for the QC report, so the report never recomputes a stitch.

Per arm (CP, SBS cycle 1): a small preview of the stitched nuclear channel (PNG, see
`algorithms.geometry.preview`), every acquired tile's placed box and the crop cores, all in
that arm's well pixels (the SBS crop cores mapped through the registration), with the stitch
summary (tiles, missing sites, tile pairs and their residuals); for the well: the CP<->SBS
registration (matched nuclei, residuals, rotation, and the scale the pixel sizes give).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from starrynight.algorithms.geometry.crop import Crop
from starrynight.algorithms.geometry.io import WellImage
from starrynight.algorithms.geometry.preview import png_bytes, pooled_plane, pooling_step, to_8bit
from starrynight.algorithms.geometry.register import Registration
from starrynight.algorithms.geometry.well import StitchReport
from starrynight.config import write_bytes_atomic, write_text_atomic
from starrynight.naming import stitch as names


def tile_boxes(positions: pl.DataFrame, well: WellImage, tile_shape: tuple[int, int]) -> list[dict]:
    """Each tile's placed box (y0, x0, y1, x1) in the stitched well's pixels (from its stage
    micrometres and the well origin, as the fusion placed it)."""
    y0 = (positions.get_column("y_um").to_numpy() - well.origin_um[0]) / well.pixel_size_um
    x0 = (positions.get_column("x_um").to_numpy() - well.origin_um[1]) / well.pixel_size_um
    return [
        {"site": int(s), "box": [round(float(y), 2), round(float(x), 2),
                                 round(float(y) + tile_shape[0], 2), round(float(x) + tile_shape[1], 2)]}
        for s, y, x in zip(positions.get_column("site").to_list(), y0, x0, strict=True)
    ]  # fmt: skip


def core_corners(crop: Crop) -> np.ndarray:
    """(4, 2) corners (y, x) of a crop's core, clockwise from the top left."""
    y0, y1, x0, x1 = crop.core
    return np.array([(y0, x0), (y0, x1), (y1, x1), (y1, x0)], float)


def cores_in_sbs(
    crops: Sequence[Crop], cp: WellImage, sbs: WellImage, registration: Registration
) -> list[list]:
    """The crop cores (CP well pixels) as polygons in SBS well pixels, through the registration."""
    out = []
    for crop in crops:
        um = core_corners(crop) * cp.pixel_size_um + cp.origin_um
        px = (registration.transform.inverse(um) - sbs.origin_um) / sbs.pixel_size_um
        out.append(np.round(px, 2).tolist())
    return out


def publish_stitch_qc(
    out: Path, wells: dict[str, tuple[WellImage, str]], reports: dict[str, StitchReport],
    positions: dict[str, pl.DataFrame], tile_shapes: dict[str, tuple[int, int]],
    crops: Sequence[Crop], registration: Registration,
) -> list[Path]:  # fmt: skip
    """Write the previews and the QC summary of one well (atomically); return their paths,
    summary last. `wells`, `reports`, `positions` and `tile_shapes` are keyed by arm (CP, SBS)."""
    cp, sbs = wells["CP"][0], wells["SBS"][0]
    polygons = {
        "CP": [core_corners(c).tolist() for c in crops],
        "SBS": cores_in_sbs(crops, cp, sbs, registration),
    }
    arms, written = {}, []
    for arm, (well, channel) in wells.items():
        step = pooling_step(well.shape)
        preview = to_8bit(pooled_plane(well, channel, step))
        path = out / names.preview_image(arm)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, png_bytes(preview))
        written.append(path)
        report = reports[arm]
        arms[arm] = {
            "preview": names.preview_image(arm), "preview_step": step, "channel": channel,
            "well_shape": list(well.shape), "tile_shape": list(tile_shapes[arm]),
            "pixel_size_um": well.pixel_size_um, "positions_from": report.positions_from,
            "tiles": report.tiles, "missing_sites": report.missing_sites, "pairs": report.pairs,
            "pairs_rejected": report.pairs_rejected, "median_pair_residual_px": report.median_pair_residual_px,
            "max_pair_residual_px": report.max_pair_residual_px,
            "tile_boxes": tile_boxes(positions[arm], well, tile_shapes[arm]),
            "crop_cores": polygons[arm], "crop_ids": [c.id for c in crops],
        }  # fmt: skip
    reg = registration
    summary = {
        "arms": arms,
        "registration": {
            "matched_nuclei": reg.matched, "cp_nuclei": reg.cp_nuclei, "sbs_nuclei": reg.sbs_nuclei,
            "median_residual_cp_px": reg.median_residual_cp_px, "rms_residual_cp_px": reg.rms_residual_cp_px,
            "rotation_deg": reg.transform.angle_deg, "shift_um": [reg.transform.ty, reg.transform.tx],
            "scale": sbs.pixel_size_um / cp.pixel_size_um,
        },
    }  # fmt: skip
    written.append(out / names.stitch_qc_file())
    write_text_atomic(written[-1], json.dumps(summary, indent=1))
    return written
