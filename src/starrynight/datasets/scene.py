"""One field of view of cultured cells: nuclei, cell bodies, mitochondria and SBS spots.

The scene lives on a canvas larger than the camera frame by `pad` pixels on each side, so that
frames shifted by a few pixels (the SBS cycles) still show cells, not empty borders. Signals are
noise-free photon rates; `optics` turns them into camera counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from starrynight.datasets.phenotypes import CellEffects

NUCLEUS_AXES = (7.0, 11.0)  # major semi-axis range, pixels
CELL_EXTENT = (8.0, 18.0)  # how far a cell body reaches beyond its nucleus, pixels
SPOT_SIGMA = 1.2  # diffraction-limited spot, pixels
MIN_SPOT_DISTANCE = 5.0


@dataclass(frozen=True)
class Scene:
    pad: int
    nuclei: np.ndarray  # DAPI signal on the canvas (peak ~1)
    nucleus_labels: np.ndarray  # int32, 1..n
    cell_labels: np.ndarray  # int32, Voronoi-limited bodies around each nucleus
    cellmask: np.ndarray
    mito: np.ndarray
    spot_yx: np.ndarray  # (m, 2) canvas coordinates
    spot_cell: np.ndarray  # (m,) label of the cell holding the spot
    spot_amplitude: np.ndarray  # (m,) peak brightness relative to the preset's scale

    def frame(self, image: np.ndarray) -> np.ndarray:
        p = self.pad
        return image[p:-p, p:-p]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return field / (field.std() + 1e-12)


def place_nuclei(rng: np.random.Generator, shape: tuple[int, int], n: int,
                 touching_fraction: float, scale: np.ndarray | None = None) -> np.ndarray:
    """Nucleus parameters (cy, cx, a, b, theta) per row: random, mostly separated by cytoplasm,
    a `touching_fraction` of them placed against a neighbour (daughter cells). Row j's axes are
    multiplied by `scale[j]` (its phenotype)."""
    scale = np.ones(n) if scale is None else scale
    h, w = shape
    out: list[tuple[float, float, float, float, float]] = []
    centres = np.empty((0, 2))
    radii = np.empty(0)
    touching_cells = rng.permutation(np.arange(1, max(n, 1)))[: int(round(touching_fraction * n))]
    for i in range(n):
        touching = bool(out) and i in touching_cells
        for _attempt in range(30):
            a = rng.uniform(*NUCLEUS_AXES) * scale[len(out)]
            b = a * rng.uniform(0.7, 1.0)
            if touching:
                j = rng.integers(len(out))
                angle = rng.uniform(0, 2 * np.pi)
                _, _, aj, bj, tj = out[j]
                phi = angle - tj  # direction relative to the neighbour's major axis
                d = aj * bj / np.hypot(bj * np.cos(phi), aj * np.sin(phi)) + b - 0.5
                c = centres[j] + d * np.array([np.sin(angle), np.cos(angle)])
                theta = angle + np.pi / 2  # lie side by side
                gap = np.delete(np.hypot(*(centres - c).T) - radii - a, j)
            else:
                c = rng.uniform([0, 0], [h, w])
                theta = rng.uniform(0, np.pi)
                gap = np.hypot(*(centres - c).T) - radii - a
            if 0 <= c[0] < h and 0 <= c[1] < w and (gap.size == 0 or gap.min() >= 6.0):
                out.append((c[0], c[1], a, b, theta))
                centres = np.vstack([centres, c])
                radii = np.append(radii, a)
                break
    return np.asarray(out, dtype=np.float64).reshape(-1, 5)


def render_nuclei(rng: np.random.Generator, shape: tuple[int, int],
                  params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filled, slightly domed ellipses with chromatin texture and ~1 px soft edges."""
    labels = np.zeros(shape, np.int32)
    signal = np.zeros(shape, np.float32)
    brightness = rng.uniform(0.8, 1.2, len(params))
    for i, (cy, cx, a, b, theta) in enumerate(params):
        r = int(np.ceil(a)) + 3
        y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, shape[0])
        x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, shape[1])
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
        rho = np.hypot(u, v)
        value = brightness[i] / (1 + np.exp((rho - 1) * a * 1.5)) * (0.8 + 0.2 * np.clip(1 - rho**2, 0, 1))
        np.maximum(signal[y0:y1, x0:x1], value.astype(np.float32), out=signal[y0:y1, x0:x1])
        lab = labels[y0:y1, x0:x1]
        lab[(rho < 1) & (lab == 0)] = i + 1
    chromatin = _smooth_noise(rng, shape, 1.5)
    return signal * (1 + 0.12 * chromatin), labels


def grow_cells(rng: np.random.Generator, nucleus_labels: np.ndarray,
               extent_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cell bodies: each background pixel joins its nearest nucleus if within that cell's reach
    (irregular outline, scaled by `extent_scale[label - 1]`); neighbours meet on the Voronoi line.
    Also returns the distance to it."""
    n = int(nucleus_labels.max())
    distance, (iy, ix) = ndimage.distance_transform_edt(nucleus_labels == 0, return_indices=True)
    nearest = nucleus_labels[iy, ix]
    scale = np.ones(n) if extent_scale is None else extent_scale[:n]
    reach = np.concatenate([[0.0], rng.uniform(*CELL_EXTENT, n) * scale])
    outline = 3.0 * _smooth_noise(rng, nucleus_labels.shape, 6.0)
    cells = np.where(distance <= reach[nearest] + outline, nearest, 0).astype(np.int32)
    cells[nucleus_labels > 0] = nucleus_labels[nucleus_labels > 0]
    return cells, distance.astype(np.float32)


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels of an object next to another object or the background (4-neighbourhood)."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def render_cellmask(rng: np.random.Generator, cells: np.ndarray) -> np.ndarray:
    """A plasma-membrane stain: dim, textured cytoplasm and bright cell outlines."""
    level = np.concatenate([[0.0], rng.uniform(0.7, 1.3, int(cells.max()))]).astype(np.float32)
    body = level[cells] * (0.35 + 0.06 * _smooth_noise(rng, cells.shape, 3.0))
    membrane = ndimage.gaussian_filter(_boundaries(cells).astype(np.float32), 0.8) * level[cells]
    return np.clip(body + 0.9 * membrane, 0, None)


def render_mito(rng: np.random.Generator, cells: np.ndarray, nuclei: np.ndarray,
                distance: np.ndarray, effects: CellEffects | None = None) -> np.ndarray:
    """Mitochondria: a filament network plus puncta, densest around the nucleus. A cell's
    phenotype scales its brightness (`mito_level`) and trades network for bright puncta packed
    near the nucleus (`mito_clumping`, 0..1)."""
    n = int(cells.max())
    effects = CellEffects.neutral(n) if effects is None else effects
    network = np.exp(-((_smooth_noise(rng, cells.shape, 2.0) / 0.25) ** 2))
    puncta = np.clip(_smooth_noise(rng, cells.shape, 1.0) - 1.8, 0, None)
    clump = np.concatenate([[0.0], effects.mito_clumping[:n]])[cells]
    reach = 10.0 * (1.0 - 0.6 * clump)
    density = np.where(nuclei > 0, 0.15, np.exp(-distance / reach)) * (cells > 0)
    level = np.concatenate([[0.0], rng.uniform(0.7, 1.3, n) * effects.mito_level[:n]]).astype(np.float32)
    mix = 0.8 * (1.0 - clump) * network + 0.5 * (1.0 + 6.0 * clump) * puncta
    return mix * density * level[cells]


def place_spots(rng: np.random.Generator, cells: np.ndarray, spot_counts: np.ndarray,
                margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Spot positions inside their cell, >= 2 px from its outline and apart from other spots."""
    inner = ndimage.distance_transform_edt(~_boundaries(cells) & (cells > 0)) >= 2
    inner[:margin] = inner[-margin:] = False
    inner[:, :margin] = inner[:, -margin:] = False
    flat = np.flatnonzero(inner)
    owner = cells.ravel()[flat]
    order = np.argsort(owner, kind="stable")
    flat, owner = flat[order], owner[order]
    starts = np.searchsorted(owner, np.arange(len(spot_counts) + 2))
    yx: list[np.ndarray] = []
    cell_ids: list[int] = []
    for label in np.flatnonzero(spot_counts):
        candidates = flat[starts[label]:starts[label + 1]]
        placed = 0
        for idx in rng.permutation(candidates)[: 20 * spot_counts[label]]:
            p = np.array(divmod(int(idx), cells.shape[1]), float) + rng.uniform(-0.5, 0.5, 2)
            if yx and np.hypot(*(np.asarray(yx) - p).T).min() < MIN_SPOT_DISTANCE:
                continue
            yx.append(p)
            cell_ids.append(int(label))
            placed += 1
            if placed == spot_counts[label]:
                break
    return np.asarray(yx, float).reshape(-1, 2), np.asarray(cell_ids, np.int32)


def build_scene(rng: np.random.Generator, size: int, pad: int, n_cells: int, touching_fraction: float,
                spot_counts: np.ndarray, effects: CellEffects | None = None) -> Scene:
    """The whole field, `size` square plus `pad` on each side. `spot_counts[i]` = spots wanted in
    cell i (label i + 1); fewer fit when a cell is small or crowded. `effects` (indexed the same
    way) are the cells' phenotypes; none by default."""
    shape = (size + 2 * pad, size + 2 * pad)
    effects = CellEffects.neutral(n_cells) if effects is None else effects
    params = place_nuclei(rng, shape, n_cells, touching_fraction, effects.nucleus_scale)
    nuclei, nucleus_labels = render_nuclei(rng, shape, params)
    cells, distance = grow_cells(rng, nucleus_labels, effects.extent_scale)
    cellmask = render_cellmask(rng, cells)
    mito = render_mito(rng, cells, nucleus_labels, distance, effects)
    counts = np.concatenate([[0], spot_counts[: len(params)]])
    yx, owner = place_spots(rng, cells, counts, margin=2)
    amplitude = rng.lognormal(0.0, 0.25, len(owner))
    return Scene(pad, nuclei, nucleus_labels, cells, cellmask, mito, yx, owner, amplitude)


def render_spots(shape: tuple[int, int], yx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gaussian spots at float positions `yx` (m, 2); `weights` (m, c) -> image stack (c, h, w)."""
    out = np.zeros((weights.shape[1], *shape), np.float32)
    if len(yx) == 0:
        return out
    offsets = np.arange(-4, 5)
    iy = np.floor(yx[:, 0])[:, None, None] + offsets[None, :, None]
    ix = np.floor(yx[:, 1])[:, None, None] + offsets[None, None, :]
    value = np.exp(-((iy - yx[:, 0, None, None]) ** 2 + (ix - yx[:, 1, None, None]) ** 2)
                   / (2 * SPOT_SIGMA**2))
    iy, ix = np.broadcast_arrays(iy, ix)
    keep = (iy >= 0) & (iy < shape[0]) & (ix >= 0) & (ix < shape[1])
    spot = np.broadcast_to(np.arange(len(yx))[:, None, None], keep.shape)[keep]
    flat_idx = (iy[keep] * shape[1] + ix[keep]).astype(np.int64)
    for c in range(weights.shape[1]):
        np.add.at(out[c].reshape(-1), flat_idx, (value[keep] * weights[spot, c]).astype(np.float32))
    return out
