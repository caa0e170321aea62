"""Fuse positioned tiles into one well image, block by block, so that memory holds only the
tiles of about two tile rows and one row of output blocks, whatever the size of the well.

Each output pixel takes its value from the covering tile whose centre is nearest (in units of
the tile size): seams fall midway through the overlaps, where both tiles are equally good, and
no pixel mixes two exposures. Tiles are placed at integer pixels (positions rounded, <= 0.5 px).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

ReadPlane = Callable[[int, int], np.ndarray]  # (tile index, plane) -> 2-D image
WriteBlock = Callable[[int, int, int, np.ndarray], None]  # (plane, y0, x0, block)


def canvas_shape(positions: np.ndarray, tile_shape: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the fused image; positions are shifted so the smallest is 0."""
    top = np.round(positions - positions.min(axis=0)).astype(int).max(axis=0)
    return int(top[0] + tile_shape[0]), int(top[1] + tile_shape[1])


def blocks(shape: tuple[int, int], block: int) -> Iterator[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the output blocks, row by row."""
    for y0 in range(0, shape[0], block):
        for x0 in range(0, shape[1], block):
            yield y0, min(y0 + block, shape[0]), x0, min(x0 + block, shape[1])


def fuse_block(
    origins: np.ndarray,
    tile_shape: tuple[int, int],
    candidates: np.ndarray,
    get: Callable[[int], np.ndarray],
    box: tuple[int, int, int, int],
    dtype: type,
) -> np.ndarray:
    """One output block from the tiles in `candidates` (integer top-left `origins`)."""
    y0, y1, x0, x1 = box
    h, w = tile_shape
    out = np.zeros((y1 - y0, x1 - x0), dtype)
    best = np.full(out.shape, np.inf, np.float32)
    yy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5  # pixel centres
    xx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    for t in candidates:
        ty, tx = origins[t]
        sy0, sy1, sx0, sx1 = max(y0, ty), min(y1, ty + h), max(x0, tx), min(x1, tx + w)
        if sy0 >= sy1 or sx0 >= sx1:
            continue
        oy, ox = slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0)
        dist = ((yy[oy] - (ty + h / 2)) / h) ** 2 + ((xx[:, ox] - (tx + w / 2)) / w) ** 2
        win = dist < best[oy, ox]
        best[oy, ox] = np.where(win, dist, best[oy, ox])
        tile = get(int(t))[sy0 - ty : sy1 - ty, sx0 - tx : sx1 - tx]
        out[oy, ox] = np.where(win, tile, out[oy, ox])
    return out


def _cached(
    read: ReadPlane, plane: int, cache: dict[int, np.ndarray]
) -> Callable[[int], np.ndarray]:
    def get(t: int) -> np.ndarray:
        if t not in cache:
            cache[t] = read(t, plane)
        return cache[t]

    return get


def fuse(
    read: ReadPlane,
    positions: np.ndarray,
    tile_shape: tuple[int, int],
    planes: int,
    write: WriteBlock,
    dtype: type = np.uint16,
    block: int = 1024,
) -> tuple[int, int]:
    """Fuse every plane block by block and hand each block to `write`; returns the shape.

    Blocks are visited row by row; a tile plane is kept in memory while block rows use it and
    dropped after, so each tile plane is read once.
    """
    origins = np.round(positions - positions.min(axis=0)).astype(int)
    shape = canvas_shape(positions, tile_shape)
    h, w = tile_shape
    for plane in range(planes):
        cache: dict[int, np.ndarray] = {}
        for y0 in range(0, shape[0], block):
            y1 = min(y0 + block, shape[0])
            in_row = np.flatnonzero((origins[:, 0] < y1) & (origins[:, 0] + h > y0))
            for k in [k for k in cache if k not in set(in_row.tolist())]:
                del cache[k]

            get = _cached(read, plane, cache)
            row = np.empty((y1 - y0, shape[1]), dtype)
            for x0 in range(0, shape[1], block):
                x1 = min(x0 + block, shape[1])
                cand = in_row[(origins[in_row, 1] < x1) & (origins[in_row, 1] + w > x0)]
                row[:, x0:x1] = fuse_block(origins, tile_shape, cand, get, (y0, y1, x0, x1), dtype)
            write(
                plane, y0, 0, row
            )  # one block row at a time: the store writes its chunks together
    return shape
