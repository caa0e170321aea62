"""Stitch one arm of one well from its tile files: positions, refinement, fusion, report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from starrynight.algorithms.geometry.acquisition import AcquisitionLayout, GeometryError
from starrynight.algorithms.geometry.fuse import canvas_shape, fuse
from starrynight.algorithms.geometry.io import read_plane, write_well_zarr
from starrynight.algorithms.geometry.ome import OmeGeometry, read_ome_geometry
from starrynight.algorithms.geometry.stitch import (
    PairMeasure,
    align_to_reference,
    initial_positions,
    stitch_positions,
)
from starrynight.config import write_parquet_atomic, write_text_atomic

POSITION_SCHEMA = {
    "site": pl.Int64,
    "path": pl.String,
    "y_px": pl.Float64,
    "x_px": pl.Float64,
    "prior_y_px": pl.Float64,
    "prior_x_px": pl.Float64,
    "y_um": pl.Float64,
    "x_um": pl.Float64,
}


PAIR_SCHEMA = {
    "site_a": pl.Int64,
    "site_b": pl.Int64,
    "dy_px": pl.Float64,
    "dx_px": pl.Float64,
    "score": pl.Float64,
    "accepted": pl.Boolean,
    "reason": pl.String,
    "residual_px": pl.Float64,
}


class TileFile(BaseModel):
    """One acquired tile: its site number in the acquisition and its file."""

    model_config = ConfigDict(frozen=True)

    site: int
    path: Path


class StitchReport(BaseModel):
    """What a stitch did, for the QC report and the user."""

    tiles: int
    missing_sites: list[int]
    positions_from: str  # "stage", "layout" or "given"
    pixel_size_um: float
    pairs: int
    pairs_rejected: int
    rejected: list[str]
    median_pair_residual_px: float | None
    max_pair_residual_px: float | None
    shape: tuple[int, int]
    origin_um: tuple[float, float]


def _tile_geometry(tiles: Sequence[TileFile]) -> list[OmeGeometry]:
    out = []
    for t in tiles:
        try:
            out.append(read_ome_geometry(t.path))
        except ValueError as error:
            raise GeometryError(f"{t.path}: {error}") from None
    shapes = {(g.height, g.width) for g in out}
    if len(shapes) > 1:
        raise GeometryError(f"tiles differ in size: {sorted(shapes)}")
    return out


def _pixel_size(given: float | None, geoms: Sequence[OmeGeometry]) -> float:
    sizes = {g.pixel_size_um for g in geoms}
    if given is not None:
        return given
    if None in sizes:
        raise GeometryError("a tile's OME-XML has no PhysicalSizeX: give the pixel size")
    if max(sizes) - min(sizes) > 1e-6 * max(sizes):  # type: ignore[type-var,operator]
        raise GeometryError(f"tiles differ in pixel size: {sorted(sizes)} µm")  # type: ignore[type-var]
    return float(next(iter(sizes)))  # type: ignore[arg-type]


def _residual(positions: np.ndarray, p: PairMeasure) -> float:
    """How far the solved positions are from the pair's measured offset (px)."""
    return float(np.hypot(*(positions[p.j] - positions[p.i] - (p.dy, p.dx))))


def _residuals(positions: np.ndarray, pairs: Sequence[PairMeasure]) -> np.ndarray:
    return np.array([_residual(positions, p) for p in pairs if p.accepted])


def pair_table(
    sites: Sequence[int], positions: np.ndarray, pairs: Sequence[PairMeasure]
) -> pl.DataFrame:
    """Every measured tile pair by site, its verdict and its residual under the solved positions
    (for a rejected pair: how far the solution is from what it measured)."""
    return pl.DataFrame(
        [{"site_a": sites[p.i], "site_b": sites[p.j], "dy_px": p.dy, "dx_px": p.dx, "score": p.score,
          "accepted": p.accepted, "reason": p.reason, "residual_px": _residual(positions, p)} for p in pairs],
        schema=PAIR_SCHEMA,
    )  # fmt: skip


def stitch_well(
    tiles: Sequence[TileFile],
    channels: Sequence[str],
    register_channel: str,
    out: Path,
    positions_out: Path,
    report_out: Path,
    *,
    pairs_out: Path | None = None,
    pixel_size_um: float | None = None,
    layout: AcquisitionLayout | None = None,
    expected_sites: int | None = None,
    given_positions: Path | None = None,
    align: bool = False,
    max_shift: float = 50.0,
    block: int = 1024,
) -> StitchReport:
    """Position, refine, fuse and write one arm of one well.

    With `given_positions` (a positions table of an earlier stitch, e.g. SBS cycle 1) the tiles
    are fused at those positions without registering again; with `align` each tile is first
    registered to the same site's tile of that stitch (cycle alignment, at most `max_shift` px).
    `pairs_out` receives every measured tile pair (none with given positions). Sites below
    `expected_sites` (or the layout's site count) with no tile are reported as missing; the
    rest is stitched."""
    if not tiles:
        raise GeometryError("no tiles to stitch")
    tiles = sorted(tiles, key=lambda t: t.site)
    sites = [t.site for t in tiles]
    if len(set(sites)) != len(sites):
        raise GeometryError(
            f"site(s) given twice: {sorted({s for s in sites if sites.count(s) > 1})}"
        )
    if register_channel not in channels:
        raise GeometryError(
            f"register channel {register_channel!r} is not among {', '.join(channels)}"
        )
    if align and given_positions is None:
        raise GeometryError("align needs the positions of the stitch to align to")
    geoms = _tile_geometry(tiles)
    tile_shape = (geoms[0].height, geoms[0].width)
    pixel = _pixel_size(pixel_size_um, geoms)
    expected = (
        expected_sites if expected_sites is not None else (layout.n_sites if layout else None)
    )
    missing = sorted(set(range(expected)) - set(sites)) if expected is not None else []
    plane = list(channels).index(register_channel)

    if given_positions is not None:
        table = pl.read_parquet(given_positions)
        by_site = {r["site"]: r for r in table.iter_rows(named=True)}
        absent = [s for s in sites if s not in by_site]
        if absent:
            raise GeometryError(f"{given_positions}: no position for site(s) {absent[:5]}")
        positions = np.array([(by_site[s]["y_px"], by_site[s]["x_px"]) for s in sites])
        prior = np.array([(by_site[s]["prior_y_px"], by_site[s]["prior_x_px"]) for s in sites])
        frame = (
            np.array([by_site[sites[0]]["y_um"], by_site[sites[0]]["x_um"]]) / pixel - positions[0]
        )
        source, pairs = "given", []
        if align:
            references = [Path(by_site[s]["path"]) for s in sites]
            shifts = align_to_reference(
                lambda k: read_plane(references[k], plane),
                lambda k: read_plane(tiles[k].path, plane),
                len(tiles),
                max_shift,
            )
            positions = (
                positions - shifts
            )  # a feature at p in the reference shows at p + shift here
    else:
        prior, source = initial_positions(sites, geoms, pixel, layout, tile_shape)
        frame = (
            np.array([g.position_um for g in geoms]).min(axis=0) / pixel
            if source == "stage"
            else np.zeros(2)
        )
        positions, pairs = stitch_positions(
            lambda k: read_plane(tiles[k].path, plane), prior, tile_shape
        )

    shape = canvas_shape(positions, tile_shape)
    origin_um = tuple(float(v) for v in (positions.min(axis=0) + frame) * pixel)
    residuals = _residuals(positions, pairs)
    rejected = [p for p in pairs if not p.accepted]
    report = StitchReport(
        tiles=len(tiles),
        missing_sites=missing,
        positions_from=source,
        pixel_size_um=pixel,
        pairs=len(pairs),
        pairs_rejected=len(rejected),
        rejected=[f"sites {sites[p.i]}-{sites[p.j]}: {p.reason}" for p in rejected],
        median_pair_residual_px=float(np.median(residuals)) if residuals.size else None,
        max_pair_residual_px=float(residuals.max()) if residuals.size else None,
        shape=shape,
        origin_um=origin_um,
    )  # type: ignore[arg-type]

    write_well_zarr(
        out,
        (len(channels), *shape),
        list(channels),
        pixel,
        origin_um,
        lambda write: fuse(
            lambda k, c: read_plane(tiles[k].path, c),
            positions,
            tile_shape,
            len(channels),
            write,
            block=block,
        ),
        chunk=block,
        extra={"stitch": report.model_dump(mode="json")},
    )
    table = pl.DataFrame(
        {
            "site": sites,
            "path": [str(t.path) for t in tiles],
            "y_px": positions[:, 0],
            "x_px": positions[:, 1],
            "prior_y_px": prior[:, 0],
            "prior_x_px": prior[:, 1],
            "y_um": (positions[:, 0] + frame[0]) * pixel,
            "x_um": (positions[:, 1] + frame[1]) * pixel,
        },
        schema=POSITION_SCHEMA,
    )
    write_parquet_atomic(table, positions_out)
    if pairs_out is not None:
        write_parquet_atomic(pair_table(sites, positions, pairs), pairs_out)
    write_text_atomic(report_out, json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    return report
