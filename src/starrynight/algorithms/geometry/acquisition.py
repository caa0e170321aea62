"""Acquisition layouts: where the microscope puts each site of a well.

A well is imaged row by row. Square grids have equal rows; circular acquisitions of round wells
have rows of varying length, centred on the well. Sites are numbered along the rows, either
always left to right (`raster`) or alternating direction (`snake`). Numbers are in pixels of the
arm's own tiles; positions are the top-left corners of the tiles, y down, x right.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Order = Literal["snake", "raster"]

# Sites per row, top to bottom, of the circular acquisitions used by published screens, by
# total site count.
# fmt: off
ROUND_ROWS: dict[int, tuple[int, ...]] = {
    1396: (18, 22, 26, 28, 30, 32, 34, 36, 36, 38, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 38, 36, 36, 34, 32, 30, 28, 26, 22, 18),
    1364: (8, 14, 18, 22, 26, 28, 30, 32, 34, 34, 36, 36, 38, 38, 40, 40, 40, 42, 42, 42, 42, 42, 42, 42, 42, 40, 40, 40, 38, 38, 36, 36, 34, 34, 32, 30, 28, 26, 22, 18, 14, 8),
    1332: (14, 18, 22, 26, 28, 30, 32, 34, 34, 36, 36, 38, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 38, 36, 36, 34, 34, 32, 30, 28, 26, 22, 18, 14),
    394: (3, 7, 9, 11, 11, 13, 13, 15, 15, 15, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 15, 15, 15, 13, 13, 11, 11, 9, 7, 3),
    320: (4, 8, 12, 14, 16, 18, 18, 20, 20, 20, 20, 20, 20, 20, 18, 18, 16, 14, 12, 8, 4),
    316: (6, 10, 14, 16, 16, 18, 18, 20, 20, 20, 20, 20, 20, 18, 18, 16, 16, 14, 10, 6),
    293: (7, 11, 13, 15, 17, 17, 19, 19, 19, 19, 19, 19, 19, 17, 17, 15, 13, 11, 7),
    256: (6, 10, 12, 14, 16, 16, 18, 18, 18, 18, 18, 18, 16, 16, 14, 12, 10, 6),
    88: (6, 8, 10, 10, 10, 10, 10, 10, 8, 6),
    52: (4, 6, 8, 8, 8, 8, 6, 4),
}
# fmt: on


class GeometryError(Exception):
    """Tile positions cannot be derived (unknown layout, inconsistent metadata)."""


class AcquisitionLayout(BaseModel):
    """Sites per row (top to bottom), site order and overlap between neighbouring tiles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: tuple[int, ...] = Field(min_length=1)
    order: Order = "snake"
    overlap_percentage: float = Field(10.0, ge=0, lt=100)

    @property
    def n_sites(self) -> int:
        return sum(self.rows)

    @property
    def kind(self) -> Literal["square", "round"]:
        return "square" if len(set(self.rows)) == 1 else "round"


def square_rows(n_sites: int, columns: int | None = None) -> tuple[int, ...]:
    """Rows of a rectangular grid: `columns` wide, or square when `n_sites` is a perfect square."""
    if columns is None:
        side = math.isqrt(n_sites)
        if side * side != n_sites:
            raise GeometryError(
                f"{n_sites} sites are not a square grid; give the number of columns"
            )
        columns = side
    if columns < 1 or n_sites % columns:
        raise GeometryError(f"{n_sites} sites do not fill rows of {columns}")
    return (columns,) * (n_sites // columns)


def infer_rows(n_sites: int) -> tuple[int, ...]:
    """Per-row site counts from the site count alone: a known circular acquisition, else a square
    grid; anything else needs stage positions or an explicit layout."""
    if n_sites in ROUND_ROWS:
        return ROUND_ROWS[n_sites]
    try:
        return square_rows(n_sites)
    except GeometryError:
        raise GeometryError(
            f"{n_sites} sites per well match no known circular acquisition "
            f"({', '.join(map(str, sorted(ROUND_ROWS)))}) and no square grid; the files need stage "
            "positions, or give the layout (sites per row)"
        ) from None


def grid_cells(layout: AcquisitionLayout) -> np.ndarray:
    """(n, 2) float (row, column) of each site in acquisition order; rows are centred, so a short
    row of a round well starts half a tile in for every site it lacks on each side."""
    widest = max(layout.rows)
    out = []
    for r, count in enumerate(layout.rows):
        columns = (widest - count) / 2 + np.arange(count)
        if layout.order == "snake" and r % 2:
            columns = columns[::-1]
        out.append(np.column_stack([np.full(count, r, float), columns]))
    return np.concatenate(out)


def layout_positions(layout: AcquisitionLayout, tile_shape: tuple[int, int]) -> np.ndarray:
    """(n, 2) nominal top-left (y, x) of each tile, in the arm's pixels, from the layout alone."""
    step = np.asarray(tile_shape, float) * (1 - layout.overlap_percentage / 100)
    return grid_cells(layout) * step


def neighbour_pairs(
    positions: np.ndarray, tile_shape: tuple[int, int], min_overlap: float = 0.02
) -> np.ndarray:
    """(m, 2) index pairs (i < j) of tiles whose rectangles overlap by at least `min_overlap` of
    the tile size along one axis and most of it along the other (edge neighbours, not corners)."""
    h, w = tile_shape
    d = np.abs(positions[None, :, :] - positions[:, None, :])
    oy, ox = h - d[..., 0], w - d[..., 1]
    side = ((oy >= min_overlap * h) & (ox >= 0.5 * w)) | ((ox >= min_overlap * w) & (oy >= 0.5 * h))
    i, j = np.nonzero(np.triu(side, 1))
    return np.column_stack([i, j])
