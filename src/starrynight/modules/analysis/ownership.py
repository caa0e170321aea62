"""Which crop of a stitched well keeps a cell, so that every nucleus is in the table once.

Crops overlap by their margins, so a nucleus near a core edge is segmented whole in two (at a
corner, four) crops. Each crop keeps the cells whose nucleus centroid lies in its core. Crops
are segmented independently, so the centroids of one nucleus differ between them by a fraction
of a pixel; on a core edge that alone would keep it twice, or in neither crop. So a crop keeps
what lies up to `CORE_SLACK_PX` outside its core, and the per-cell table then keeps, of the
copies of one nucleus, the one deepest inside its crop's core.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

#: how far (CP px) outside its crop's core a nucleus centroid may lie and still be kept there
CORE_SLACK_PX = 2.0
#: cells of one well from different crops whose centroids are closer than this (CP px) are one
#: nucleus seen twice: the centroids of two distinct nuclei are a nucleus diameter apart
SAME_NUCLEUS_PX = 3.0
#: distance (CP px) of a cell's nucleus centroid inside its crop's core edge; negative outside
CORE_DEPTH = "core_depth_px"


def owned_with_well_coordinates(
    cells: pl.DataFrame, crops: pl.DataFrame, frame: dict
) -> pl.DataFrame:
    """The cells whose nucleus centroid lies in their crop's core, or up to CORE_SLACK_PX
    beyond it (pixel i spanning [i, i + 1)), with the crop id, well coordinates and
    CORE_DEPTH; `site` is dropped (a crop is no site)."""
    pixel, (oy, ox) = frame["cp_pixel_size_um"], frame["cp_origin_um"]
    placed = cells.join(
        crops.rename({"rank": "site", "crop": "tile"}), on="site", how="left"
    ).with_columns(
        well_y_px=pl.col("y") + pl.col("outer_y0_px"), well_x_px=pl.col("x") + pl.col("outer_x0_px")
    )
    cy, cx = pl.col("well_y_px") + 0.5, pl.col("well_x_px") + 0.5
    depth = pl.min_horizontal(
        cy - pl.col("core_y0_px"),
        pl.col("core_y1_px") - cy,
        cx - pl.col("core_x0_px"),
        pl.col("core_x1_px") - cx,
    )
    owned = placed.with_columns(depth.alias(CORE_DEPTH)).filter(pl.col(CORE_DEPTH) > -CORE_SLACK_PX)
    box = [c for c in crops.columns if c not in ("rank", "crop")]
    return owned.with_columns(
        well_y_um=oy + (pl.col("well_y_px") + 0.5) * pixel,
        well_x_um=ox + (pl.col("well_x_px") + 0.5) * pixel,
        site=pl.lit(None, pl.Int64),
    ).drop(box)


def one_cell_per_nucleus(cells: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`cells` (of all crops, with CORE_DEPTH) without the copies of a nucleus that other crops
    also kept: of copies closer than SAME_NUCLEUS_PX the one deepest in its core stays. Returns
    the table, without CORE_DEPTH, and the number of copies dropped."""
    indexed = cells.with_row_index("_row")
    dropped: set[int] = set()
    for _, well in indexed.group_by("plate", "well"):
        yx = well.select("well_y_px", "well_x_px").to_numpy()
        rows = well.get_column("_row").to_numpy()
        tiles = well.get_column("tile").to_numpy()
        depth = well.get_column(CORE_DEPTH).to_numpy()
        for i, j in cKDTree(yx).query_pairs(SAME_NUCLEUS_PX, output_type="ndarray"):
            if tiles[i] == tiles[j]:
                continue
            keep_i = (depth[i], tiles[j]) > (depth[j], tiles[i])  # ties: the first crop by name
            dropped.add(int(rows[j] if keep_i else rows[i]))
    kept = indexed.filter(~pl.col("_row").is_in(np.fromiter(dropped, np.int64, len(dropped))))
    return kept.drop("_row", CORE_DEPTH), len(dropped)
