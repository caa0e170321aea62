"""Register the stitched SBS well to the stitched CP well on their nuclei.

Both wells are first put in micrometres with their own pixel sizes (from the metadata, never a
constant); what is left is a rigid motion (translation and a small rotation), fitted on nucleus
centroids: a coarse translation by voting over nearby point differences, then iterative closest
points with a least-squares rigid fit. The residual is the median distance of matched nuclei.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.filters import threshold_otsu

from starrynight.algorithms.geometry.fuse import blocks
from starrynight.algorithms.geometry.io import WellImage


class Rigid(BaseModel):
    """Maps SBS well micrometres to CP well micrometres: p_cp = R(angle) p_sbs + (ty, tx)."""

    model_config = ConfigDict(frozen=True)

    angle_deg: float = 0.0
    ty: float = 0.0
    tx: float = 0.0

    @property
    def matrix(self) -> np.ndarray:
        a = np.deg2rad(self.angle_deg)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def apply(self, yx: np.ndarray) -> np.ndarray:
        return yx @ self.matrix.T + np.array([self.ty, self.tx])

    def inverse(self, yx: np.ndarray) -> np.ndarray:
        return (yx - np.array([self.ty, self.tx])) @ self.matrix


class Registration(BaseModel):
    """The fitted motion and how well the nuclei agree under it."""

    transform: Rigid
    cp_nuclei: int
    sbs_nuclei: int
    matched: int
    median_residual_um: float
    median_residual_cp_px: float
    rms_residual_cp_px: float


def nucleus_centroids(image: np.ndarray, min_area: int = 12) -> np.ndarray:
    """(n, 2) centroids (pixel indices) of bright blobs: Otsu threshold over the imaged (non-zero)
    pixels of a lightly smoothed image, objects of at least `min_area` pixels."""
    imaged = image > 0
    if imaged.sum() < 1000:
        return np.empty((0, 2))
    smooth = ndimage.gaussian_filter(image.astype(np.float32), 1.0)
    mask = (smooth > threshold_otsu(smooth[imaged])) & imaged
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.empty((0, 2))
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = np.flatnonzero(area >= min_area) + 1
    return np.array(ndimage.center_of_mass(mask, labels, keep)).reshape(-1, 2)


def well_nuclei(
    well: WellImage, channel: str, min_area_um2: float = 5.0, block: int = 2048, margin: int = 48
) -> np.ndarray:
    """Nucleus centroids of a stitched well in well micrometres, block by block (each block read
    with a margin, a nucleus kept by the block holding its centroid)."""
    plane = well.plane(channel)
    min_area = max(4, int(min_area_um2 / well.pixel_size_um**2))
    out = []
    for y0, y1, x0, x1 in blocks(well.shape, block):
        region = well.region(plane, y0 - margin, y1 + margin, x0 - margin, x1 + margin)
        c = nucleus_centroids(region, min_area) + (y0 - margin, x0 - margin)
        inside = (c[:, 0] >= y0) & (c[:, 0] < y1) & (c[:, 1] >= x0) & (c[:, 1] < x1)
        out.append(c[inside])
    px = np.concatenate(out) if out else np.empty((0, 2))
    return (px + 0.5) * well.pixel_size_um + well.origin_um


def coarse_translation(
    moving: np.ndarray,
    fixed: np.ndarray,
    guess: np.ndarray,
    search_um: float,
    bin_um: float = 2.0,
    max_points: int = 4000,
    seed: int = 0,
) -> np.ndarray:
    """The translation moving -> fixed with the most point pairs agreeing on it, within
    `search_um` of `guess`: a vote over all fixed-minus-moving differences near the guess."""
    rng = np.random.default_rng(seed)
    if len(moving) > max_points:
        moving = moving[rng.choice(len(moving), max_points, replace=False)]
    tree = cKDTree(fixed)
    shifted = moving + guess
    diffs = [
        fixed[idx] - p
        for p, idx in zip(shifted, tree.query_ball_point(shifted, search_um), strict=True)
        if idx
    ]
    if not diffs:
        raise ValueError(f"no nuclei of the two wells within {search_um} µm of each other")
    d = np.concatenate(diffs)
    edges = np.arange(-search_um, search_um + bin_um, bin_um)
    hist, _, _ = np.histogram2d(d[:, 0], d[:, 1], bins=(edges, edges))
    hist = ndimage.gaussian_filter(hist, 1.0)
    iy, ix = np.unravel_index(np.argmax(hist), hist.shape)
    return guess + np.array([edges[iy] + bin_um / 2, edges[ix] + bin_um / 2])


def fit_rigid(moving: np.ndarray, fixed: np.ndarray) -> Rigid:
    """Least-squares rotation + translation taking `moving` onto `fixed` (paired rows)."""
    mc, fc = moving.mean(axis=0), fixed.mean(axis=0)
    u, _, vt = np.linalg.svd((moving - mc).T @ (fixed - fc))
    r = (u @ vt).T
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = (u @ vt).T
    t = fc - mc @ r.T
    return Rigid(
        angle_deg=float(np.rad2deg(np.arctan2(r[1, 0], r[0, 0]))), ty=float(t[0]), tx=float(t[1])
    )


def register_points(
    moving: np.ndarray,
    fixed: np.ndarray,
    guess: np.ndarray | None = None,
    search_um: float = 100.0,
    match_um: float = 4.0,
    rounds: int = 20,
) -> tuple[Rigid, np.ndarray]:
    """The rigid motion moving -> fixed and the matched distances under it (µm)."""
    t0 = coarse_translation(
        moving, fixed, np.zeros(2) if guess is None else np.asarray(guess, float), search_um
    )
    transform = Rigid(ty=float(t0[0]), tx=float(t0[1]))
    tree = cKDTree(fixed)
    dist = np.empty(0)
    for _ in range(rounds):
        dist, idx = tree.query(transform.apply(moving), distance_upper_bound=match_um)
        ok = np.isfinite(dist)
        if ok.sum() < 3:
            raise ValueError(
                f"fewer than 3 nuclei match within {match_um} µm after the coarse alignment"
            )
        new = fit_rigid(moving[ok], fixed[idx[ok]])
        moved = max(
            abs(new.ty - transform.ty),
            abs(new.tx - transform.tx),
            abs(new.angle_deg - transform.angle_deg),
        )
        transform = new
        if moved < 1e-4:
            break
    dist, _ = tree.query(transform.apply(moving), distance_upper_bound=match_um)
    return transform, dist[np.isfinite(dist)]


def register_wells(
    cp: WellImage, sbs: WellImage, cp_channel: str, sbs_channel: str, search_um: float = 100.0
) -> Registration:
    """Register the SBS well onto the CP well on their nuclear channels. Without stage positions
    in either arm, the mosaics' centres are the first guess (both grids are centred on the well)."""
    fixed, moving = well_nuclei(cp, cp_channel), well_nuclei(sbs, sbs_channel)
    if min(len(fixed), len(moving)) < 3:
        raise ValueError(f"too few nuclei to register: {len(fixed)} in CP, {len(moving)} in SBS")
    both_stage = (
        cp.extra.get("stitch", {}).get("positions_from")
        == sbs.extra.get("stitch", {}).get("positions_from")
        == "stage"
    )
    guess = None if both_stage else _centre(cp) - _centre(sbs)
    transform, dist = register_points(moving, fixed, guess, search_um)
    return Registration(
        transform=transform,
        cp_nuclei=len(fixed),
        sbs_nuclei=len(moving),
        matched=len(dist),
        median_residual_um=float(np.median(dist)),
        median_residual_cp_px=float(np.median(dist) / cp.pixel_size_um),
        rms_residual_cp_px=float(np.sqrt(np.mean(dist**2)) / cp.pixel_size_um),
    )


def _centre(well: WellImage) -> np.ndarray:
    return well.origin_um + np.array(well.shape) * well.pixel_size_um / 2
