"""Synthetic screens with real geometry: a well is one continuous field of cells, and each arm
tiles it with its own grid (CP at 20X, SBS at 10X with about twice the pixel size).

Coordinates. The well frame is in micrometres, y down, x right, origin at the top-left corner of
the rendered field. A tile's position is the well position of its top-left pixel corner; pixel
(i, j) of a tile at P with pixel size s covers [P + (i, j) s, P + (i + 1, j + 1) s).

Per tile the microscope lands a few pixels off its commanded position (stage jitter); the OME-XML
records the commanded position in stage coordinates (a plate-wide origin plus the layout), as
stages report where they were sent. Every SBS cycle is one re-mounting of the plate: a small
offset for all its tiles. Truth (under `truth/`) is in well coordinates:

- `cells.parquet`: plate, well, cell_id, y_um/x_um (nucleus centroid), nucleus_area and
  cell_area (CP pixels), barcode, gene, n_spots, has_spots, in_cp (centroid inside a CP tile that
  was written), nucleus_in_cp (every nucleus pixel inside one: the nucleus is whole in the
  imaged area, not cut by its edge or a missing tile), in_sbs (inside a cycle-1 SBS tile).
- `spots.parquet`: plate, well, cell_id, spot_id, y_um/x_um, amplitude, barcode.
- `tiles.parquet`: arm, cycle (null for CP), plate, well, site, present, y_um/x_um (true),
  recorded_y_um/recorded_x_um (OME stage position, null when not written), nominal_y_um/x_um
  (layout only, relative to the first row's leftmost slot), pixel_size_um, width, height.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from scipy import ndimage

from starrynight.algorithms.geometry.acquisition import AcquisitionLayout, layout_positions
from starrynight.datasets import layout as lay
from starrynight.datasets.generate import (
    _PLANE_OF_BASE,
    AUTOFLUORESCENCE,
    BASE_BACKGROUND,
    CP_BACKGROUND,
    CP_PEAK,
    CROSSTALK,
    DAPI_DECAY,
    PSF_SIGMA,
    SBS_DAPI_BACKGROUND,
    SBS_DAPI_PEAK,
    SPOT_DECAY,
    SPOT_PEAK,
    _Library,
    _tiff_bytes,
    _write_atomic,
    dataset_info,
    finish_dataset,
    library_and_vignettes,
)
from starrynight.datasets.models import DatasetInfo
from starrynight.datasets.optics import expose
from starrynight.datasets.presets import Preset
from starrynight.datasets.scene import Scene, build_scene, render_spots

STAGE_ORIGIN_UM = (
    12_000.0,
    8_000.0,
)  # stage (y, x) of the well frame's origin, per well step below
WELL_PITCH_UM = 39_000.0  # 6-well plate centre-to-centre distance
TILE_REPEATABILITY = 0.3  # pixels: per-tile, per-cycle stage scatter around the cycle offset


def cell_barcodes(rng: np.random.Generator, n: int, p: Preset) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (label i + 1 at index i): its library index (-1: no barcode) and its wanted spot
    count. The one place where a cell's genotype is drawn: per-gene phenotype effects hook here."""
    has_code = rng.random(n) >= p.no_barcode_fraction
    code = np.where(has_code, rng.integers(0, p.library_size, n), -1)
    spots = np.where(has_code, rng.integers(p.spots_per_cell[0], p.spots_per_cell[1] + 1, n), 0)
    return code, spots


def sample_tile(image: np.ndarray, origin_px: np.ndarray, scale: float, size: int) -> np.ndarray:
    """The `size` square tile whose top-left corner is at `origin_px` (canvas pixels) with pixels
    `scale` canvas pixels wide, by linear interpolation at the tile's pixel centres."""
    offset = np.asarray(origin_px, float) + 0.5 * scale - 0.5
    return ndimage.affine_transform(
        image,
        [scale, scale],
        offset=offset,
        output_shape=(size, size),
        order=1,
        mode="constant",
        cval=0.0,
    )


def _tile_positions(
    rng: np.random.Generator,
    rows: tuple[int, ...],
    p: Preset,
    pixel_um: float,
    origin_um: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Nominal (layout, relative) and true (well frame) top-left of each tile, micrometres."""
    layout = AcquisitionLayout(rows=rows, overlap_percentage=p.overlap_percentage)
    nominal = layout_positions(layout, (p.image_size, p.image_size)) * pixel_um
    jitter = rng.uniform(-p.stage_jitter, p.stage_jitter, nominal.shape) * pixel_um
    return nominal, origin_um + nominal + jitter


def _extent_um(rows: tuple[int, ...], p: Preset, pixel_um: float) -> np.ndarray:
    layout = AcquisitionLayout(rows=rows, overlap_percentage=p.overlap_percentage)
    return (
        layout_positions(layout, (p.image_size, p.image_size)).max(axis=0) + p.image_size
    ) * pixel_um


class _Well:
    """One well: its field of cells (CP-pixel canvas) and both arms' tiles."""

    def __init__(self, p: Preset, seed: int, plate: int, well: int) -> None:
        self.p = p
        rng = np.random.default_rng([seed, 4, plate, well])
        cp_um, sbs_um = p.cp_pixel_size_um, p.sbs_pixel_size_um
        margin_um = 2 * (p.stage_jitter + p.max_shift + 2) * sbs_um
        extent = (
            np.maximum(_extent_um(p.cp_rows, p, cp_um), _extent_um(p.sbs_rows, p, sbs_um))
            + 2 * margin_um
        )
        size = int(np.ceil(extent.max() / cp_um))
        # both grids centred on the well; the commanded position of a tile is origin + nominal
        self.cp_origin = (extent - _extent_um(p.cp_rows, p, cp_um)) / 2
        self.sbs_origin = (extent - _extent_um(p.sbs_rows, p, sbs_um)) / 2
        self.cp_nominal, self.cp_true = _tile_positions(rng, p.cp_rows, p, cp_um, self.cp_origin)
        self.sbs_nominal, sbs_first = _tile_positions(rng, p.sbs_rows, p, sbs_um, self.sbs_origin)
        offsets = rng.uniform(-p.max_shift, p.max_shift, (p.cycles, 2)) * sbs_um
        offsets[0] = 0.0
        scatter = (
            rng.uniform(-TILE_REPEATABILITY, TILE_REPEATABILITY, (p.cycles, *sbs_first.shape))
            * sbs_um
        )
        scatter[0] = 0.0
        self.sbs_true = sbs_first[None] + offsets[:, None, :] + scatter  # (cycles, sites, 2)
        self.stage_origin = np.array(STAGE_ORIGIN_UM) + np.array([0.0, well * WELL_PITCH_UM])

        pad = 4
        tile_area = p.image_size**2
        n = int(round(p.cells_per_site * (size + 2 * pad) ** 2 / tile_area * rng.uniform(0.9, 1.1)))
        code, spot_counts = cell_barcodes(rng, n, p)
        self.scene: Scene = build_scene(rng, size, pad, n, p.touching_fraction, spot_counts)
        self.cell_code = np.concatenate([[-1], code])  # by label
        self.rng = rng

    def recorded(self, arm: str) -> np.ndarray:
        """The stage positions the microscope reports: where it sent each tile."""
        if arm == "CP":
            return self.stage_origin + self.cp_origin + self.cp_nominal
        return self.stage_origin + self.sbs_origin + self.sbs_nominal


def _cp_tiles(w: _Well, vignettes: dict[str, np.ndarray]) -> list[np.ndarray]:
    p, scene = w.p, w.scene
    signals = {"DAPI": scene.nuclei, "CellMask": scene.cellmask, "MitoTracker": scene.mito}
    blurred = {ch: ndimage.gaussian_filter(sig, PSF_SIGMA) for ch, sig in signals.items()}
    out = []
    for origin_um in w.cp_true:
        gain = w.rng.uniform(0.9, 1.1)
        origin = origin_um / p.cp_pixel_size_um
        out.append(
            np.stack(
                [
                    expose(
                        w.rng,
                        (
                            CP_BACKGROUND[ch]
                            + gain
                            * CP_PEAK[ch]
                            * sample_tile(blurred[ch], origin, 1.0, p.image_size)
                        )
                        * vignettes[f"CP_{ch}"],
                    )
                    for ch in lay.CP_CHANNELS
                ]
            )
        )
    return out


def _sbs_tiles(w: _Well, lib: _Library, vignettes: dict[str, np.ndarray]) -> list[list[np.ndarray]]:
    """Per cycle, per site: the (C, A, T, G, DAPI) stack."""
    p, scene = w.p, w.scene
    scale = p.sbs_pixel_size_um / p.cp_pixel_size_um
    sigma = float(np.hypot(PSF_SIGMA * scale, 0.4 * scale))  # optics at 10X plus pixel averaging
    nuclei = ndimage.gaussian_filter(scene.nuclei, sigma)
    body = ndimage.gaussian_filter((scene.cell_labels > 0).astype(np.float32), 2.0 * scale)
    cycles = []
    for k in range(p.cycles):
        stacks = []
        for origin_um in w.sbs_true[k]:
            origin = origin_um / p.cp_pixel_size_um
            yx = (scene.spot_yx + 0.5 - origin) / scale - 0.5
            inside = ((yx > -5) & (yx < p.image_size + 5)).all(axis=1)
            base = _PLANE_OF_BASE[lib.codes[w.cell_code[scene.spot_cell[inside]], k]]
            brightness = (
                scene.spot_amplitude[inside] * SPOT_DECAY**k * w.rng.lognormal(0, 0.08, len(base))
            )
            spots = render_spots(
                (p.image_size, p.image_size), yx[inside], CROSSTALK[:, base].T * brightness[:, None]
            )
            body_k = sample_tile(body, origin, scale, p.image_size)
            planes = [
                expose(
                    w.rng,
                    (BASE_BACKGROUND + AUTOFLUORESCENCE * body_k + SPOT_PEAK * spots[c])
                    * vignettes[f"SBS_{ch}"],
                )
                for c, ch in enumerate(lay.BASES)
            ]
            dapi = SBS_DAPI_BACKGROUND + SBS_DAPI_PEAK * DAPI_DECAY**k * sample_tile(
                nuclei, origin, scale, p.image_size
            )
            planes.append(expose(w.rng, dapi * vignettes["SBS_DAPI"]))
            stacks.append(np.stack(planes))
        cycles.append(stacks)
    return cycles


def _inside_any(yx_um: np.ndarray, tiles_um: np.ndarray, tile_um: float) -> np.ndarray:
    if len(tiles_um) == 0:
        return np.zeros(len(yx_um), bool)
    rel = yx_um[:, None, :] - tiles_um[None, :, :]
    return ((rel >= 0) & (rel < tile_um)).all(axis=2).any(axis=1)


def _imaged(shape: tuple[int, int], tiles_um: np.ndarray, pixel_um: float, size: int) -> np.ndarray:
    """Canvas pixels whose centre lies inside one of the tiles (top-left corners `tiles_um`)."""
    mask = np.zeros(shape, bool)
    for y0, x0 in np.ceil(tiles_um / pixel_um - 0.5).astype(int):
        mask[max(y0, 0) : max(y0 + size, 0), max(x0, 0) : max(x0 + size, 0)] = True
    return mask


def _cell_truth(
    w: _Well, lib: _Library, keys: dict, present: np.ndarray
) -> tuple[pl.DataFrame, pl.DataFrame]:
    p, scene = w.p, w.scene
    cp_um = p.cp_pixel_size_um
    labels = scene.nucleus_labels
    n = int(labels.max()) + 1
    area = np.bincount(labels.ravel(), minlength=n)
    yy, xx = np.indices(labels.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(labels.ravel(), yy.ravel(), n) / area
        cx = np.bincount(labels.ravel(), xx.ravel(), n) / area
    ids = np.flatnonzero(area)
    ids = ids[ids > 0]
    yx_um = (np.column_stack([cy[ids], cx[ids]]) + 0.5) * cp_um
    n_spots = np.bincount(scene.spot_cell, minlength=n)
    imaged = _imaged(labels.shape, w.cp_true[present], cp_um, p.image_size)
    cut = np.bincount(labels[~imaged], minlength=n)  # nucleus pixels no CP tile imaged
    code = w.cell_code[ids]
    cells = pl.DataFrame(
        {
            **{k: [v] * len(ids) for k, v in keys.items()},
            "cell_id": ids.astype(np.int32),
            "y_um": yx_um[:, 0],
            "x_um": yx_um[:, 1],
            "nucleus_area": area[ids].astype(np.int32),
            "cell_area": np.bincount(scene.cell_labels.ravel(), minlength=n)[ids].astype(np.int32),
            "barcode": [lib.barcodes[c] if c >= 0 else None for c in code],
            "gene": [lib.genes[c] if c >= 0 else None for c in code],
            "n_spots": n_spots[ids].astype(np.int32),
            "has_spots": n_spots[ids] > 0,
            "in_cp": _inside_any(yx_um, w.cp_true[present], p.image_size * cp_um),
            "nucleus_in_cp": cut[ids] == 0,
            "in_sbs": _inside_any(yx_um, w.sbs_true[0], p.image_size * p.sbs_pixel_size_um),
        },
        schema_overrides={"barcode": pl.String, "gene": pl.String},
    )
    spot_um = (scene.spot_yx + 0.5) * cp_um
    spots = pl.DataFrame(
        {
            **{k: [v] * len(spot_um) for k, v in keys.items()},
            "cell_id": scene.spot_cell,
            "spot_id": np.arange(len(spot_um), dtype=np.int32),
            "y_um": spot_um[:, 0],
            "x_um": spot_um[:, 1],
            "amplitude": scene.spot_amplitude,
            "barcode": [lib.barcodes[c] for c in w.cell_code[scene.spot_cell]],
        },
        schema_overrides={"barcode": pl.String},
    )
    return cells, spots


def _tile_rows(w: _Well, keys: dict, present: np.ndarray) -> list[dict]:
    p = w.p
    rows = []
    arms = [("CP", None, w.cp_true, w.cp_nominal, p.cp_pixel_size_um, present)]
    arms += [
        (
            "SBS",
            k + 1,
            w.sbs_true[k],
            w.sbs_nominal,
            p.sbs_pixel_size_um,
            np.ones(len(w.sbs_nominal), bool),
        )
        for k in range(p.cycles)
    ]
    for arm, cycle, true, nominal, pixel, ok in arms:
        recorded = w.recorded(arm)
        for site, (t, r, m) in enumerate(zip(true, recorded, nominal, strict=True)):
            rows.append(
                {
                    "arm": arm,
                    "cycle": cycle,
                    **keys,
                    "site": site,
                    "present": bool(ok[site]),
                    "y_um": t[0],
                    "x_um": t[1],
                    "recorded_y_um": r[0] if p.stage_positions else None,
                    "recorded_x_um": r[1] if p.stage_positions else None,
                    "nominal_y_um": m[0],
                    "nominal_x_um": m[1],
                    "pixel_size_um": pixel,
                    "width": p.image_size,
                    "height": p.image_size,
                }
            )
    return rows


TILE_SCHEMA = {
    "arm": pl.String,
    "cycle": pl.Int64,
    "plate": pl.String,
    "well": pl.String,
    "site": pl.Int64,
    "present": pl.Boolean,
    "y_um": pl.Float64,
    "x_um": pl.Float64,
    "recorded_y_um": pl.Float64,
    "recorded_x_um": pl.Float64,
    "nominal_y_um": pl.Float64,
    "nominal_x_um": pl.Float64,
    "pixel_size_um": pl.Float64,
    "width": pl.Int64,
    "height": pl.Int64,
}


def generate_wells(
    root: Path, p: Preset, seed: int, progress: Callable[[int, int], None] | None = None
) -> DatasetInfo:
    """Write a well-geometry screen under `root` (claimed by the caller) and its truth."""
    layout = lay.Layout(
        plates=p.plates, wells=p.wells, cp_sites=p.cp_sites, sbs_sites=p.sbs_sites, cycles=p.cycles
    )
    lib, vignettes = library_and_vignettes(p, seed)
    cp_names = lay.acquisition_names(layout.well_names, p.cp_sites, lay.CP_CHANNELS)
    sbs_names = lay.acquisition_names(layout.well_names, p.sbs_sites, lay.SBS_CHANNELS)
    plates_dir = root / "images" / layout.batch_dir / "images"
    cells, spots, tiles = [], [], []
    wells = [
        (pi, plate, wi, well)
        for pi, plate in enumerate(layout.plate_names)
        for wi, well in enumerate(layout.well_names)
    ]
    for done, (pi, plate, wi, well) in enumerate(wells, start=1):
        w = _Well(p, seed, pi, wi)
        keys = {"plate": plate, "well": well}
        present = np.ones(p.cp_sites, bool)
        if pi == 0 and wi == 0:
            present[list(p.missing_cp_sites)] = False
        writes = [
            (
                lay.cp_folder(plate, pi),
                cp_names,
                lay.CP_CHANNELS,
                p.cp_pixel_size_um,
                "CP",
                _cp_tiles(w, vignettes),
                present,
            )
        ]
        for k, stacks in enumerate(_sbs_tiles(w, lib, vignettes)):
            writes.append(
                (
                    lay.sbs_folder(k + 1),
                    sbs_names,
                    lay.SBS_CHANNELS,
                    p.sbs_pixel_size_um,
                    "SBS",
                    stacks,
                    np.ones(p.sbs_sites, bool),
                )
            )
        for folder, names, channels, pixel, arm, stacks, ok in writes:
            recorded = w.recorded(arm)
            for site, stack in enumerate(stacks):
                if not ok[site]:
                    continue
                key = f"{plate}/{folder}/{names[wi * len(stacks) + site]}"
                position = tuple(recorded[site]) if p.stage_positions else None
                _write_atomic(
                    plates_dir / key, _tiff_bytes(stack, channels, key, seed, pixel, position)
                )
        c, s = _cell_truth(w, lib, keys, present)
        cells.append(c)
        spots.append(s)
        tiles += _tile_rows(w, keys, present)
        if progress is not None:
            progress(done, len(wells))
    cells_table = pl.concat(cells)
    info = dataset_info(root, p, seed, layout, cells_table.height)
    return finish_dataset(
        info,
        lib,
        vignettes,
        {
            info.truth_cells: cells_table,
            info.truth_spots: pl.concat(spots),
            info.truth_tiles: pl.DataFrame(tiles, schema=TILE_SCHEMA),
        },
    )
