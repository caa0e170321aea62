"""Write a synthetic OPS screen (SPEC 8): images in the SPEC 4.1 layout, a barcode library and
the ground truth that lets the pipeline's result be scored.

Under `root`: `images/` (the images root), `workspace/barcodes.csv` (the library, where the seed
notebook reads it), an empty `scratch/`, and `truth/`:

- `cells.parquet`: one row per cell whose nucleus shows in the CP frame: plate, well, site,
  cell_id, nucleus_y/nucleus_x (centroid of its visible nucleus pixels, CP pixel coordinates),
  nucleus_area and cell_area (visible pixels), touches_border, barcode and gene (null for cells
  without one), n_spots (its SBS spots inside the CP frame), has_spots.
- `spots.parquet`: one row per SBS spot: cell_id, spot_id, y/x (CP coordinates), amplitude,
  barcode, in_cp_frame, in_all_sbs_frames (>= 3 px inside the frame in every cycle).
- `sites.parquet`: plate, well, site, n_cells, shift_dy/shift_dx (one per cycle): a feature at
  CP (y, x) shows in SBS cycle k at (y + shift_dy[k-1], x + shift_dx[k-1]).
- `phenotypes.parquet`: one row per targeting gene: its true effect (strength large, subtle or
  none; kind; factor), applied to every cell carrying one of its guides.
- `illumination_<arm>_<channel>.npy`: the multiplicative illumination field (max 1).
- `dataset.json`: the DatasetInfo facts, without paths, so the folder can move (written last:
  its presence means the dataset is complete);
  `generator.json`: the parameters, written first, so a re-run can tell its own folder.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import tifffile
from scipy import ndimage

from starrynight.algorithms.geometry.ome import ome_metadata
from starrynight.datasets import layout as lay
from starrynight.datasets.library import (
    BASE_LETTERS,
    NONTARGETING,
    barcode_strings,
    library_genes,
    make_barcodes,
)
from starrynight.datasets.models import DATASET_JSON, DatasetInfo, read_dataset_info
from starrynight.datasets.optics import expose, vignette
from starrynight.datasets.phenotypes import assign_phenotypes, cell_effects
from starrynight.datasets.presets import Preset, get_preset
from starrynight.datasets.scene import Scene, build_scene, render_spots

GENERATOR_VERSION = 2  # 2: genes carry true phenotypes
_UUID_NAMESPACE = uuid.UUID("5f1f6c2e-3f0a-4c59-9a55-6a0d3a7e2b11")

# Observed channel (rows C,A,T,G) per unit of true base (columns C,A,T,G): dye brightness on the
# diagonal, A<->C and G<->T spectral leakage of 25-35 %, a little everywhere else.
CROSSTALK = np.array([[1.00, 0.30, 0.02, 0.02],
                      [0.35, 0.90, 0.02, 0.02],
                      [0.02, 0.02, 1.10, 0.30],
                      [0.02, 0.02, 0.25, 0.80]])

_PLANE_OF_BASE = np.array([lay.BASES.index(b) for b in BASE_LETTERS])

# Expected photons per pixel at full brightness (peak) and of the background, per plane.
CP_PEAK = {"DAPI": 8000.0, "CellMask": 5000.0, "MitoTracker": 6000.0}
CP_BACKGROUND = {"DAPI": 150.0, "CellMask": 200.0, "MitoTracker": 120.0}
SBS_DAPI_PEAK, SBS_DAPI_BACKGROUND = 4000.0, 150.0
SPOT_PEAK, BASE_BACKGROUND, AUTOFLUORESCENCE = 4000.0, 300.0, 150.0
SPOT_DECAY = 0.92  # per cycle: signal lost to incomplete chemistry and bleaching
DAPI_DECAY = 0.97
PSF_SIGMA = 0.8


class DatasetExistsError(Exception):
    """The output folder holds something other than this very dataset."""


@dataclass(frozen=True)
class _Library:
    codes: np.ndarray  # (n, cycles) base index into BASE_LETTERS
    barcodes: list[str]
    genes: list[str]
    phenotypes: pl.DataFrame  # per targeting gene: its true effect


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _tiff_bytes(stack: np.ndarray, channels: tuple[str, ...], key: str, seed: int, pixel_size_um: float,
                position_um: tuple[float, float] | None = None) -> bytes:
    """A multi-plane OME-TIFF, planes in `channels` order, with the pixel size and (if given) the
    stage position in its OME-XML; the OME UUID derives from the file's key and the seed so that
    the bytes are reproducible."""
    buf = io.BytesIO()
    metadata = ome_metadata(list(channels), pixel_size_um, position_um)
    metadata.update(UUID=f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, f'{seed}/{key}')}", Creator="starrynight.datasets")
    tifffile.imwrite(buf, stack, ome=True, photometric="minisblack", software=False, metadata=metadata)
    return buf.getvalue()


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def _generator_params(preset: Preset, seed: int) -> dict:
    return {"generator": "starrynight.datasets", "version": GENERATOR_VERSION, "seed": seed,
            "preset": preset.model_dump(mode="json")}


def _claim(root: Path, params: dict) -> bool:
    """Refuse to write into a folder holding anything but this dataset; True if it is complete."""
    marker = root / "truth" / "generator.json"
    if root.exists() and any(root.iterdir()):
        if not marker.is_file() or json.loads(marker.read_text()) != params:
            raise DatasetExistsError(
                f"{root}: folder is not empty and does not hold a synthetic dataset with preset "
                f"{params['preset']['name']!r} and seed {params['seed']}; choose an empty --out folder")
        return (root / "truth" / DATASET_JSON).is_file()
    _write_atomic(marker, json.dumps(params, indent=2).encode())
    return False


def _shifts(rng: np.random.Generator, preset: Preset) -> np.ndarray:
    """(cycles, 2) SBS-minus-CP offsets (dy, dx): a site-wide stage offset plus per-cycle jitter."""
    m = preset.max_shift
    shifts = np.clip(rng.uniform(-0.6 * m, 0.6 * m, 2) + rng.uniform(-0.4 * m, 0.4 * m, (preset.cycles, 2)),
                     -m, m)
    return np.round(shifts) if preset.integer_shifts else np.round(shifts, 1)


def _sbs_images(rng: np.random.Generator, scene: Scene, preset: Preset, lib: _Library,
                cell_code: np.ndarray, shifts: np.ndarray, vignettes: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One (C,A,T,G,DAPI) stack per cycle: the CP field moved by that cycle's shift."""
    size = preset.image_size
    nuclei = ndimage.gaussian_filter(scene.nuclei, PSF_SIGMA)
    body = ndimage.gaussian_filter((scene.cell_labels > 0).astype(np.float32), 2.0)
    stacks = []
    for k, (dy, dx) in enumerate(shifts):
        nuc_k = scene.frame(ndimage.shift(nuclei, (dy, dx), order=1))
        body_k = scene.frame(ndimage.shift(body, (dy, dx), order=1))
        base = _PLANE_OF_BASE[lib.codes[cell_code[scene.spot_cell], k]]
        brightness = scene.spot_amplitude * SPOT_DECAY**k * rng.lognormal(0, 0.08, len(base))
        weights = CROSSTALK[:, base].T * brightness[:, None]
        yx = scene.spot_yx - scene.pad + np.array([dy, dx])
        spots = render_spots((size, size), yx, weights)
        planes = [expose(rng, (BASE_BACKGROUND + AUTOFLUORESCENCE * body_k + SPOT_PEAK * spots[c])
                         * vignettes[f"SBS_{ch}"]) for c, ch in enumerate(lay.BASES)]
        dapi = SBS_DAPI_BACKGROUND + SBS_DAPI_PEAK * DAPI_DECAY**k * nuc_k
        planes.append(expose(rng, dapi * vignettes["SBS_DAPI"]))
        stacks.append(np.stack(planes))
    return stacks


def _cp_image(rng: np.random.Generator, scene: Scene, vignettes: dict[str, np.ndarray]) -> np.ndarray:
    signals = {"DAPI": scene.nuclei, "CellMask": scene.cellmask, "MitoTracker": scene.mito}
    gain = rng.uniform(0.9, 1.1)  # site-to-site lamp and focus variation
    return np.stack([
        expose(rng, (CP_BACKGROUND[ch] + gain * CP_PEAK[ch]
                     * scene.frame(ndimage.gaussian_filter(signals[ch], PSF_SIGMA))) * vignettes[f"CP_{ch}"])
        for ch in lay.CP_CHANNELS])


def _truth_tables(scene: Scene, size: int, cell_code: np.ndarray, lib: _Library,
                  shifts: np.ndarray, keys: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-cell and per-spot truth of one site, in CP frame coordinates."""
    nuc = scene.frame(scene.nucleus_labels)
    n = int(scene.nucleus_labels.max()) + 1
    yy, xx = np.indices(nuc.shape)
    area = np.bincount(nuc.ravel(), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = np.bincount(nuc.ravel(), yy.ravel(), n) / area
        cx = np.bincount(nuc.ravel(), xx.ravel(), n) / area
    cell_area = np.bincount(scene.frame(scene.cell_labels).ravel(), minlength=n)
    border = np.zeros(n, bool)
    border[np.concatenate([nuc[0], nuc[-1], nuc[:, 0], nuc[:, -1]])] = True

    yx = scene.spot_yx - scene.pad
    in_cp = ((yx >= 0) & (yx <= size - 1)).all(axis=1)
    moved = yx[:, None, :] + shifts[None, :, :]
    in_sbs = ((moved >= 3) & (moved <= size - 4)).all(axis=(1, 2))
    n_spots = np.bincount(scene.spot_cell[in_cp], minlength=n)

    ids = np.flatnonzero(area)
    ids = ids[ids > 0]
    code = cell_code[ids]
    cells = pl.DataFrame({
        **{k: [v] * len(ids) for k, v in keys.items()},
        "cell_id": ids.astype(np.int32), "nucleus_y": cy[ids], "nucleus_x": cx[ids],
        "nucleus_area": area[ids].astype(np.int32), "cell_area": cell_area[ids].astype(np.int32),
        "touches_border": border[ids],
        "barcode": [lib.barcodes[c] if c >= 0 else None for c in code],
        "gene": [lib.genes[c] if c >= 0 else None for c in code],
        "n_spots": n_spots[ids].astype(np.int32), "has_spots": n_spots[ids] > 0,
    }, schema_overrides={"barcode": pl.String, "gene": pl.String})
    spots = pl.DataFrame({
        **{k: [v] * len(yx) for k, v in keys.items()},
        "cell_id": scene.spot_cell, "spot_id": np.arange(len(yx), dtype=np.int32),
        "y": yx[:, 0], "x": yx[:, 1], "amplitude": scene.spot_amplitude,
        "barcode": [lib.barcodes[c] for c in cell_code[scene.spot_cell]],
        "in_cp_frame": in_cp, "in_all_sbs_frames": in_sbs,
    }, schema_overrides={"barcode": pl.String})
    return cells, spots


def _extras(info: DatasetInfo, library_csv: bytes) -> None:
    """The non-image files real acquisitions leave beside the images."""
    _write_atomic(info.batch_path / "Barcodes.csv", library_csv)
    for p, plate in enumerate(info.plates):
        plate_dir = info.batch_path / "images" / plate
        _write_atomic(plate_dir / ".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(2042))
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Acquisition plate="{plate}" '
               f'objective="{info.cp_magnification}" channels="{",".join(info.cp_channels)}" '
               f'started="{lay.acquisition_timestamp(p)}"/>\n')
        _write_atomic(plate_dir / lay.cp_folder(plate, p) / "metadata.xml", xml.encode())


def _write_site(plates_dir: Path, p: Preset, seed: int, lib: _Library, vignettes: dict[str, np.ndarray],
                plate: tuple[int, str], well: tuple[int, str], site: int,
                names: tuple[list[str], list[str]]) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Render and write one site's CP image and SBS cycles; return its truth."""
    (pi, plate_name), (wi, well_name) = plate, well
    rng = np.random.default_rng([seed, 3, pi, wi, site])
    scene, cell_code, shifts = _site_scene(rng, p, lib)
    file_index = wi * p.sites_per_well + site
    folders = [lay.cp_folder(plate_name, pi)] + [lay.sbs_folder(k + 1) for k in range(p.cycles)]
    stacks = [_cp_image(rng, scene, vignettes), *_sbs_images(rng, scene, p, lib, cell_code, shifts, vignettes)]
    for n, (folder, stack) in enumerate(zip(folders, stacks, strict=True)):
        channels, arm_names = (lay.CP_CHANNELS, names[0]) if n == 0 else (lay.SBS_CHANNELS, names[1])
        key = f"{plate_name}/{folder}/{arm_names[file_index]}"
        # same field, same pixel size: both arms' files say so (the folder labels differ)
        _write_atomic(plates_dir / key, _tiff_bytes(stack, channels, key, seed, p.cp_pixel_size_um))
    keys = {"plate": plate_name, "well": well_name, "site": site}
    cells, spots = _truth_tables(scene, p.image_size, cell_code, lib, shifts, keys)
    row = {**keys, "n_cells": cells.height, "shift_dy": shifts[:, 0].tolist(),
           "shift_dx": shifts[:, 1].tolist()}
    return cells, spots, row


def generate_dataset(root: Path, preset: str | Preset = "tiny", seed: int = 0,
                     progress: Callable[[int, int], None] | None = None) -> DatasetInfo:
    """Generate the synthetic screen under `root` (or return it if it is already complete).

    `progress(done_sites, total_sites)` is called after every site.
    """
    p = get_preset(preset)
    root = Path(root)
    params = _generator_params(p, seed)
    if _claim(root, params):
        return read_dataset_info(root)
    if p.geometry == "well":
        from starrynight.datasets.well import generate_wells

        return generate_wells(root, p, seed, progress)
    layout = lay.Layout(plates=p.plates, wells=p.wells, cp_sites=p.sites_per_well,
                        sbs_sites=p.sites_per_well, cycles=p.cycles)
    lib, vignettes = library_and_vignettes(p, seed)
    names = (lay.acquisition_names(layout.well_names, p.sites_per_well, lay.CP_CHANNELS),
             lay.acquisition_names(layout.well_names, p.sites_per_well, lay.SBS_CHANNELS))

    sites = [(plate, well, site) for plate in enumerate(layout.plate_names)
             for well in enumerate(layout.well_names) for site in range(p.sites_per_well)]
    plates_dir = root / "images" / layout.batch_dir / "images"
    truth = []
    for done, (plate, well, site) in enumerate(sites, start=1):
        truth.append(_write_site(plates_dir, p, seed, lib, vignettes, plate, well, site, names))
        if progress is not None:
            progress(done, len(sites))
    cells = pl.concat([t[0] for t in truth])

    info = dataset_info(root, p, seed, layout, cells.height)
    sites_table = pl.DataFrame([t[2] for t in truth], schema={
        "plate": pl.String, "well": pl.String, "site": pl.Int64, "n_cells": pl.Int64,
        "shift_dy": pl.List(pl.Float64), "shift_dx": pl.List(pl.Float64)})
    return finish_dataset(info, lib, vignettes, {
        info.truth_cells: cells, info.truth_spots: pl.concat([t[1] for t in truth]), info.truth_sites: sites_table})


def dataset_info(root: Path, p: Preset, seed: int, layout: lay.Layout, n_cells: int) -> DatasetInfo:
    """The facts of a generated dataset. Same-field presets write one pixel size for both arms."""
    well = p.geometry == "well"
    return DatasetInfo(
        root=root, preset=p.name, seed=seed, dataset=layout.dataset, source=layout.source,
        batch=layout.batch, plates=layout.plate_names, wells=layout.well_names,
        cp_sites_per_well=p.cp_sites, sbs_sites_per_well=p.sbs_sites, cycles=p.cycles,
        cp_channels=list(lay.CP_CHANNELS), sbs_channels=list(lay.SBS_CHANNELS),
        cp_magnification=lay.CP_MAGNIFICATION, sbs_magnification=lay.SBS_MAGNIFICATION,
        image_height=p.image_size, image_width=p.image_size, crosstalk=CROSSTALK.tolist(),
        library_size=p.library_size, n_cells=n_cells, geometry=p.geometry, cp_pixel_size_um=p.cp_pixel_size_um,
        sbs_pixel_size_um=p.sbs_pixel_size_um if well else p.cp_pixel_size_um,
        overlap_percentage=p.overlap_percentage if well else None, stage_positions=well and p.stage_positions)


def library_and_vignettes(p: Preset, seed: int) -> tuple[_Library, dict[str, np.ndarray]]:
    """The barcode library and one illumination field per arm and channel."""
    codes = make_barcodes(np.random.default_rng([seed, 1]), p.library_size, p.cycles, p.min_hamming)
    genes = library_genes(p.library_size, p.nontargeting, p.guides_per_gene)
    lib = _Library(codes, barcode_strings(codes), genes, assign_phenotypes(seed, genes, NONTARGETING))
    vig_rng = np.random.default_rng([seed, 2])
    vignettes = {f"{arm}_{ch}": vignette(vig_rng, p.image_size)
                 for arm, chans in (("CP", lay.CP_CHANNELS), ("SBS", lay.SBS_CHANNELS)) for ch in chans}
    return lib, vignettes


def finish_dataset(info: DatasetInfo, lib: _Library, vignettes: dict[str, np.ndarray],
                   truth: dict[Path, pl.DataFrame]) -> DatasetInfo:
    """Write the library, the extras, the illumination truth and the truth tables; `dataset.json`
    last, so that its presence means the dataset is complete."""
    library_csv = pl.DataFrame({"sgRNA": lib.barcodes, "gene_symbol": lib.genes}).write_csv().encode()
    _write_atomic(info.barcode_csv, library_csv)
    _extras(info, library_csv)
    info.scratch_path.mkdir(parents=True, exist_ok=True)
    for name, image in vignettes.items():
        buf = io.BytesIO()
        np.save(buf, image)
        arm, channel = name.split("_", 1)
        _write_atomic(info.illumination(arm, channel), buf.getvalue())
    for path, table in truth.items():
        _write_atomic(path, _parquet_bytes(table))
    _write_atomic(info.truth_phenotypes, _parquet_bytes(lib.phenotypes))
    _write_atomic(info.truth_path / DATASET_JSON, info.facts_json().encode())
    return info


def _site_scene(rng: np.random.Generator, p: Preset, lib: _Library) -> tuple[Scene, np.ndarray, np.ndarray]:
    """The field of one site, each cell's library index (-1: no barcode) and the SBS shifts;
    each cell drawn with its gene's phenotype."""
    pad = int(np.ceil(p.max_shift)) + 24
    canvas_ratio = ((p.image_size + 2 * pad) / p.image_size) ** 2
    n = int(round(p.cells_per_site * canvas_ratio * rng.uniform(0.85, 1.15)))
    has_code = rng.random(n) >= p.no_barcode_fraction
    cell_code = np.where(has_code, rng.integers(0, p.library_size, n), -1)
    spot_counts = np.where(has_code, rng.integers(p.spots_per_cell[0], p.spots_per_cell[1] + 1, n), 0)
    effects = cell_effects(lib.phenotypes, lib.genes, cell_code)
    scene = build_scene(rng, p.image_size, pad, n, p.touching_fraction, spot_counts, effects)
    # label i+1 <-> cell i; index 0 is the background
    return scene, np.concatenate([[-1], cell_code]), _shifts(rng, p)
