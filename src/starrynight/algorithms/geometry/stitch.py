"""Stitch one arm of one well: initial tile positions, refinement by registering the overlaps of
neighbouring tiles, and a global solution over the tile graph.

Positions are top-left corners (y, x) in the arm's pixels. Every function is pure: tiles come in
as arrays (or a callable that reads one), results go out as arrays and small tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import lsqr
from skimage.registration import phase_cross_correlation

from starrynight.algorithms.geometry.acquisition import (
    AcquisitionLayout,
    GeometryError,
    layout_positions,
    neighbour_pairs,
)
from starrynight.algorithms.geometry.ome import OmeGeometry

ReadTile = Callable[[int], np.ndarray]  # tile index -> 2-D image (the registration plane)


@dataclass(frozen=True)
class PairMeasure:
    """The measured offset of tile j relative to tile i (pixels) and how much to trust it."""

    i: int
    j: int
    dy: float
    dx: float
    score: float  # normalised cross-correlation of the aligned overlaps, -1..1
    accepted: bool
    reason: str = ""


def initial_positions(
    sites: Sequence[int],
    ome: Sequence[OmeGeometry | None],
    pixel_size_um: float | None,
    layout: AcquisitionLayout | None,
    tile_shape: tuple[int, int],
) -> tuple[np.ndarray, str]:
    """Starting positions (pixels, first row's leftmost slot near 0) and where they came from:
    "stage" when every tile's OME-XML carries a stage position (and the pixel size is known),
    else "layout" from the acquisition layout and the site numbers. A mix of tiles with and
    without positions is an error: it would silently combine two frames."""
    has = [g is not None and g.position_um is not None for g in ome]
    if all(has) and ome:
        if pixel_size_um is None:
            raise GeometryError(
                "tiles carry stage positions but no pixel size: give the pixel size"
            )
        um = np.array([g.position_um for g in ome], float)  # type: ignore[union-attr]
        px = um / pixel_size_um
        return px - px.min(axis=0), "stage"
    if any(has):
        without = [s for s, h in zip(sites, has, strict=True) if not h]
        raise GeometryError(
            f"{len(without)} of {len(sites)} tiles have no stage position "
            f"(sites {', '.join(map(str, without[:5]))}{' ...' if len(without) > 5 else ''})"
        )
    if layout is None:
        raise GeometryError(
            "tiles carry no stage positions: give the acquisition layout (sites per row)"
        )
    if max(sites, default=-1) >= layout.n_sites:
        raise GeometryError(f"site {max(sites)} is beyond the layout's {layout.n_sites} sites")
    return layout_positions(layout, tile_shape)[list(sites)], "layout"


def _overlap(d: np.ndarray, shape: tuple[int, int]) -> tuple[slice, slice, slice, slice] | None:
    """Slices of the overlap in tile i and in tile j when j sits at integer offset `d` from i."""
    h, w = shape
    dy, dx = int(d[0]), int(d[1])
    y0, y1, x0, x1 = max(0, dy), min(h, dy + h), max(0, dx), min(w, dx + w)
    if y1 - y0 < 8 or x1 - x0 < 8:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-shape images (0 when either is flat)."""
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _taper(n: int, fraction: float = 0.25) -> np.ndarray:
    """1 in the middle, a raised-cosine ramp to 0 over `fraction` of the length at each end."""
    ramp = max(int(n * fraction), 1)
    out = np.ones(n)
    edge = 0.5 * (1 - np.cos(np.pi * np.arange(ramp) / ramp))
    out[:ramp], out[n - ramp :] = edge, edge[::-1]
    return out


def _windowed(image: np.ndarray) -> np.ndarray:
    """Mean removed and tapered to zero at the edges, so the crop's borders do not correlate."""
    window = np.outer(_taper(image.shape[0]), _taper(image.shape[1])).astype(np.float32)
    return (image - image.mean()) * window


def measure_pair(
    a: np.ndarray, b: np.ndarray, prior: np.ndarray, max_error: float, min_score: float = 0.3
) -> tuple[float, float, float, str]:
    """Offset (dy, dx) of tile b relative to tile a, given the prior offset, by phase correlation
    of their expected overlaps; returns (dy, dx, score, reason) with reason empty when trusted."""
    base = np.round(prior)
    sl = _overlap(base, a.shape)
    if sl is None:
        return float(prior[0]), float(prior[1]), 0.0, "no overlap"
    ay, ax, by, bx = sl
    fa, fb = a[ay, ax].astype(np.float32), b[by, bx].astype(np.float32)
    if fa.std() == 0 or fb.std() == 0:
        return float(prior[0]), float(prior[1]), 0.0, "flat overlap"
    shift, _, _ = phase_cross_correlation(
        _windowed(fa), _windowed(fb), upsample_factor=10, normalization=None
    )
    d = base + shift
    if np.abs(d - prior).max() > max_error:
        return (
            float(d[0]),
            float(d[1]),
            0.0,
            f"offset {np.abs(d - prior).max():.1f} px from the prior",
        )
    aligned = ndimage.shift(fb, shift, order=1, mode="nearest")
    m = int(np.ceil(np.abs(shift).max())) + 1
    core = (slice(m, -m or None), slice(m, -m or None))
    if fa[core].size < 64:
        return float(d[0]), float(d[1]), 0.0, "overlap too small"
    score = ncc(fa[core], aligned[core])
    return (
        float(d[0]),
        float(d[1]),
        score,
        "" if score >= min_score else f"low correlation {score:.2f}",
    )


def measure_pairs(
    read: ReadTile,
    positions: np.ndarray,
    tile_shape: tuple[int, int],
    max_error: float,
    min_score: float = 0.3,
    cache_size: int = 100,
) -> list[PairMeasure]:
    """Register every pair of edge neighbours. Tiles are read through `read` with a small cache,
    pairs visited in order of their first tile, so memory stays at `cache_size` tiles."""
    pairs = neighbour_pairs(positions, tile_shape)
    # visit pairs in raster order of their first tile: the tiles in use are then about two rows
    rank = np.empty(len(positions), int)
    rank[np.lexsort((positions[:, 1], np.round(positions[:, 0] / (0.5 * tile_shape[0]))))] = (
        np.arange(len(positions))
    )
    cache: dict[int, np.ndarray] = {}

    def get(k: int) -> np.ndarray:  # least recently used goes first
        tile = cache.pop(k) if k in cache else read(k)
        cache[k] = tile
        if len(cache) > cache_size:
            cache.pop(next(iter(cache)))
        return tile

    out = []
    for i, j in pairs[np.argsort(np.minimum(rank[pairs[:, 0]], rank[pairs[:, 1]]), kind="stable")]:
        dy, dx, score, reason = measure_pair(
            get(int(i)), get(int(j)), positions[j] - positions[i], max_error, min_score
        )
        out.append(PairMeasure(int(i), int(j), dy, dx, score, not reason, reason))
    return out


def solve_positions(
    prior: np.ndarray,
    pairs: Sequence[PairMeasure],
    prior_weight: float = 1e-3,
    max_residual: float = 2.0,
    rounds: int = 50,
) -> tuple[np.ndarray, list[PairMeasure]]:
    """Least-squares positions from the accepted pair offsets (weighted by their score), with a
    weak pull towards the prior so tiles without a trusted neighbour keep their prior position.
    While a pair disagrees with the solution by more than `max_residual` px, the worst one is
    rejected and the system solved again (at most `rounds` times). Returns the positions and the pairs with their final verdicts."""
    n = len(prior)
    pairs = list(pairs)
    solution = prior.astype(float).copy()
    for _ in range(rounds):
        use = [p for p in pairs if p.accepted]
        rows = len(use) + n
        data, ri, ci = [], [], []
        for r, p in enumerate(use):
            w = max(p.score, 1e-3)
            ri += [r, r]
            ci += [p.j, p.i]
            data += [w, -w]
        ri += list(range(len(use), rows))
        ci += list(range(n))
        data += [prior_weight] * n
        a = sparse.csr_matrix((data, (ri, ci)), shape=(rows, n))
        for axis in (0, 1):
            rhs = np.concatenate(
                [
                    [max(p.score, 1e-3) * (p.dy, p.dx)[axis] for p in use],
                    prior_weight * prior[:, axis],
                ]
            )
            solution[:, axis] = lsqr(a, rhs, atol=1e-10, btol=1e-10, x0=solution[:, axis])[0]
        # one wrong pair spreads its error over its neighbours: reject only the worst, then re-solve
        residuals = [
            (np.hypot(*(solution[p.j] - solution[p.i] - (p.dy, p.dx))), k)
            for k, p in enumerate(pairs)
            if p.accepted
        ]
        worst, k = max(residuals, default=(0.0, -1))
        if worst <= max_residual:
            break
        p = pairs[k]
        pairs[k] = PairMeasure(p.i, p.j, p.dy, p.dx, p.score, False, f"residual {worst:.1f} px")
    return solution, pairs


def stitch_positions(
    read: ReadTile, prior: np.ndarray, tile_shape: tuple[int, int], max_error: float | None = None
) -> tuple[np.ndarray, list[PairMeasure]]:
    """Refined positions of all tiles and the pair measurements behind them. `max_error` bounds
    how far a measured overlap offset may be from the prior (default: 5 % of the tile)."""
    if max_error is None:
        max_error = 0.05 * max(tile_shape)
    pairs = measure_pairs(read, prior, tile_shape, max_error)
    return solve_positions(prior, pairs)


def align_to_reference(
    read_reference: ReadTile, read: ReadTile, n: int, max_shift: float
) -> np.ndarray:
    """(n, 2) shift of each tile's content relative to its reference tile (the same site in
    another acquisition, e.g. SBS cycle 1): a feature at p in the reference is at p + shift."""
    out = np.zeros((n, 2))
    for k in range(n):
        ref, tile = read_reference(k).astype(np.float32), read(k).astype(np.float32)
        if ref.shape != tile.shape:
            raise GeometryError(f"tile {k}: {tile.shape} pixels, its reference {ref.shape}")
        shift, _, _ = phase_cross_correlation(
            _windowed(tile), _windowed(ref), upsample_factor=10, normalization=None
        )
        if np.abs(shift).max() > max_shift:
            raise GeometryError(
                f"tile {k} is {np.abs(shift).max():.0f} px off its reference (limit {max_shift:g})"
            )
        out[k] = shift
    return out
