"""Cut a registered CP/SBS well pair into matching crops in one frame: the CP well's pixels.

The CP well is split into `tiles_per_side`² cores that partition it; each crop is its core plus
a margin on every side (clipped to the well), so a cell cut by a core's edge is whole in the
crop. Ownership rule: a cell belongs to the crop whose core holds its centroid (cores are
half-open, [start, end)), so every cell is counted in exactly one crop. SBS images are resampled
onto the crop's CP pixel grid through the registration.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import tifffile
from pydantic import BaseModel, ConfigDict
from scipy import ndimage

from starrynight.algorithms.geometry.io import WellImage
from starrynight.algorithms.geometry.ome import ome_metadata
from starrynight.algorithms.geometry.register import Rigid
from starrynight.config import write_bytes_atomic, write_parquet_atomic
from starrynight.naming import geometry as names


class Crop(BaseModel):
    """One crop: its core (owned) and outer (written) boxes in CP well pixels (y0, y1, x0, x1)."""

    model_config = ConfigDict(frozen=True)

    id: str
    row: int
    col: int
    core: tuple[int, int, int, int]
    outer: tuple[int, int, int, int]


def crop_grid(shape: tuple[int, int], tiles_per_side: int, margin: int) -> list[Crop]:
    """`tiles_per_side`² crops covering a well of `shape` CP pixels."""
    if tiles_per_side < 1:
        raise ValueError(f"tiles_per_side must be >= 1, got {tiles_per_side}")
    ys = np.linspace(0, shape[0], tiles_per_side + 1).round().astype(int)
    xs = np.linspace(0, shape[1], tiles_per_side + 1).round().astype(int)
    out = []
    for r in range(tiles_per_side):
        for c in range(tiles_per_side):
            core = (int(ys[r]), int(ys[r + 1]), int(xs[c]), int(xs[c + 1]))
            outer = (
                max(core[0] - margin, 0),
                min(core[1] + margin, shape[0]),
                max(core[2] - margin, 0),
                min(core[3] + margin, shape[1]),
            )
            out.append(Crop(id=f"r{r:02d}c{c:02d}", row=r, col=c, core=core, outer=outer))
    return out


def owner(yx_px: np.ndarray, shape: tuple[int, int], tiles_per_side: int) -> np.ndarray:
    """Index (into `crop_grid`'s list) of the crop owning each point (CP well pixel coordinates,
    continuous: pixel i spans [i, i + 1)); -1 outside the well."""
    ys = np.linspace(0, shape[0], tiles_per_side + 1).round()
    xs = np.linspace(0, shape[1], tiles_per_side + 1).round()
    r = np.searchsorted(ys, yx_px[:, 0], side="right") - 1
    c = np.searchsorted(xs, yx_px[:, 1], side="right") - 1
    inside = (r >= 0) & (r < tiles_per_side) & (c >= 0) & (c < tiles_per_side)
    return np.where(inside, r * tiles_per_side + c, -1)


def sbs_on_cp_grid(
    sbs: WellImage, cp: WellImage, transform: Rigid, box: tuple[int, int, int, int]
) -> np.ndarray:
    """Every SBS plane resampled onto the CP well pixels of `box` (linear interpolation): (c, h, w)."""
    y0, y1, x0, x1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    cp_um = (np.stack([yy.ravel(), xx.ravel()], axis=1) + 0.5) * cp.pixel_size_um + cp.origin_um
    idx = (transform.inverse(cp_um) - sbs.origin_um) / sbs.pixel_size_um - 0.5
    lo = np.floor(idx.min(axis=0)).astype(int) - 1
    hi = np.ceil(idx.max(axis=0)).astype(int) + 2
    coords = (idx - lo).T
    out = np.empty((len(sbs.channels), y1 - y0, x1 - x0), np.uint16)
    for plane in range(len(sbs.channels)):
        region = sbs.region(plane, lo[0], hi[0], lo[1], hi[1]).astype(np.float32)
        values = ndimage.map_coordinates(region, coords, order=1, mode="constant", cval=0.0)
        out[plane] = np.clip(np.rint(values), 0, 65535).reshape(y1 - y0, x1 - x0)
    return out


def crop_table(crops: Sequence[Crop], cp: WellImage) -> pl.DataFrame:
    """One row per crop: id, row, col, core and outer boxes in CP well pixels and micrometres."""
    rows = []
    for c in crops:
        row = {"crop": c.id, "row": c.row, "col": c.col}
        for name, box in (("core", c.core), ("outer", c.outer)):
            for k, v in zip(("y0", "y1", "x0", "x1"), box, strict=True):
                row[f"{name}_{k}_px"] = v
                row[f"{name}_{k}_um"] = v * cp.pixel_size_um + cp.origin_um[0 if k[0] == "y" else 1]
        rows.append(row)
    return pl.DataFrame(rows)


def crop_images(
    cp: WellImage, sbs_cycles: Sequence[WellImage], transform: Rigid, crop: Crop
) -> dict[str, np.ndarray]:
    """The crop's stacks: "CP" (the CP well's channels) and "SBS_c<k>" per cycle, all on the
    crop's CP pixel grid."""
    y0, y1, x0, x1 = crop.outer
    out = {"CP": np.stack([cp.region(p, y0, y1, x0, x1) for p in range(len(cp.channels))])}
    for k, sbs in enumerate(sbs_cycles, start=1):
        out[f"SBS_c{k}"] = sbs_on_cp_grid(sbs, cp, transform, crop.outer)
    return out


def write_crops(
    cp: WellImage,
    sbs_cycles: Sequence[WellImage],
    transform: Rigid,
    crops: Sequence[Crop],
    out: Path,
) -> None:
    """Every crop's stacks as OME-TIFFs (CP pixel size; stage position of the crop's corner), then
    the crops table (written last: its presence means the crops are complete)."""
    for crop in crops:
        corner = np.array([crop.outer[0], crop.outer[2]]) * cp.pixel_size_um + cp.origin_um
        for name, stack in crop_images(cp, sbs_cycles, transform, crop).items():
            channels = cp.channels if name == "CP" else sbs_cycles[0].channels
            buf = io.BytesIO()
            tifffile.imwrite(
                buf,
                stack,
                ome=True,
                photometric="minisblack",
                software=False,
                metadata=ome_metadata(
                    channels, cp.pixel_size_um, (float(corner[0]), float(corner[1]))
                ),
            )
            target = names.crop_stack(out, crop.id, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(target, buf.getvalue())
    write_parquet_atomic(crop_table(crops, cp), names.crops_table(out))
