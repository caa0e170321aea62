"""Stitch one well of a screen whose arms image different fields, register, crop, publish.

Inputs are what earlier steps published (their manifests): the corrected CP channels
(cp_illum_apply) and the cycle-aligned SBS nuclear images (sbs_illum_apply); the raw files'
OME-XML (from the index; a local path or a URL, read through fsspec) gives each site's stage
position and pixel size, which corrected images do not carry. SBS cycles are aligned to cycle 1
per site upstream, so cycle 1's stitch places every cycle, and the foci sbs_preprocess found per
site are mapped through cycle 1's positions and the registration (analysis join). The crops (CP channels + SBS cycle-1 nuclei,
both on the CP pixel grid) are the analysis step's units of image sets. For the QC report the
unit also publishes small previews, tile boxes, crop cores and residuals (`qc.py`).

Anything that does not fit stops the unit with a message naming the well: no corrected image
for a site, too few matched nuclei, a registration residual above the limit.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import tifffile

from starrynight import manifest
from starrynight.algorithms.geometry.acquisition import AcquisitionLayout, GeometryError
from starrynight.algorithms.geometry.crop import crop_grid, crop_images, crop_table
from starrynight.algorithms.geometry.io import WellImage
from starrynight.algorithms.geometry.ome import ome_metadata, read_ome_geometry_at
from starrynight.algorithms.geometry.register import register_wells
from starrynight.algorithms.geometry.well import TileFile, stitch_well
from starrynight.config import AnyPath, write_bytes_atomic, write_parquet_atomic, write_text_atomic
from starrynight.experiments.protocol import Experiment
from starrynight.modules.cp_illum_apply.step import STEP as CP_ILLUM_APPLY
from starrynight.modules.stitch.qc import publish_stitch_qc
from starrynight.modules.stitch.step import StitchParameters, crops_per_side
from starrynight.naming import geometry as geo_names
from starrynight.naming import sbs as sbs_names
from starrynight.naming import stitch as names


class StitchError(ValueError):
    """A well cannot be stitched or registered as the data stand; the message names it."""


def _raw_sites(
    index: pl.DataFrame, arm: str, plate: str, well: str, cycle: int | None
) -> dict[int, str]:
    """site -> index key of the raw file of one arm of a well (one cycle for SBS)."""
    rows = index.filter(
        pl.col("is_image")
        & (pl.col("arm") == arm)
        & (pl.col("plate") == plate)
        & (pl.col("well") == well)
    )
    if cycle is not None:
        rows = rows.filter(pl.col("cycle").cast(pl.Int64) == cycle)
    rows = rows.select(pl.col("site").cast(pl.Int64), "key").unique("site").sort("site")
    return dict(
        zip(rows.get_column("site").to_list(), rows.get_column("key").to_list(), strict=True)
    )


def _site_stacks(
    published: pl.DataFrame,
    channels: Sequence[str],
    raw: dict[int, str],
    images_root: AnyPath,
    where: str,
    tmp: Path,
) -> list[TileFile]:
    """One multi-channel OME-TIFF per site: the published planes, with the raw file's geometry."""
    tiles = []
    for site, key in raw.items():
        rows = published.filter(pl.col("site") == site)
        planes = []
        for channel in channels:
            hit = rows.filter(pl.col("name") == channel).get_column("path").to_list()
            if len(hit) != 1:
                raise StitchError(
                    f"{where} site {site}: {len(hit)} published {channel} image(s), expected 1"
                )
            planes.append(tifffile.imread(hit[0]))
        try:
            geometry = read_ome_geometry_at(images_root / key)
        except (ValueError, OSError) as error:
            raise StitchError(
                f"{where} site {site}: raw image {images_root / key}: {error}"
            ) from None
        path = tmp / f"{where.replace('/', '_').replace(' ', '_')}_site{site}.ome.tiff"
        tifffile.imwrite(path, np.stack(planes).astype(np.uint16), ome=True, photometric="minisblack",
                         metadata=ome_metadata(list(channels), geometry.pixel_size_um, geometry.position_um))  # fmt: skip
        tiles.append(TileFile(site=site, path=path))
    return tiles


def _layout(arm: object) -> AcquisitionLayout | None:
    rows = getattr(arm, "rows", None)
    if not rows:
        return None
    return AcquisitionLayout(rows=rows, order=arm.order, overlap_percentage=arm.overlap_percentage)  # type: ignore[attr-defined]


def _write_plane(path: Path, plane: np.ndarray) -> None:
    buf = io.BytesIO()
    tifffile.imwrite(buf, plane.astype(np.uint16), photometric="minisblack")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue())


def stitch_unit(
    experiment: Experiment, params: StitchParameters, index: pl.DataFrame, images_root: AnyPath,
    upstream: pl.DataFrame, plate: str, well: str, out: Path,
) -> pl.DataFrame:  # fmt: skip
    """Stitch, register and crop one well into `out`; write its manifest last and return its rows."""
    where = f"{plate}/{well}"
    geometry = experiment.geometry  # type: ignore[attr-defined]
    cp_channels, nuclear = list(experiment.cp.channels), experiment.cp.nuclear_channel
    sbs_nuclear, cycle = experiment.sbs.nuclear_channel, experiment.sbs.cycles[0]
    in_well = (pl.col("plate") == plate) & (pl.col("well") == well)
    cp_published = manifest.select(upstream, CP_ILLUM_APPLY, "image", cp_channels).filter(in_well)
    sbs_published = manifest.select(
        upstream, sbs_names.SBS_ILLUM_APPLY, "image", [sbs_nuclear]
    ).filter(in_well & (pl.col("cycle") == cycle))
    out.mkdir(parents=True, exist_ok=True)
    cp_dir, sbs_dir = names.cp_stitch_dir(out), names.sbs_stitch_dir(out)
    try:
        with tempfile.TemporaryDirectory(dir=out, prefix=".tiles-") as tmp:
            cp_tiles = _site_stacks(cp_published, cp_channels, _raw_sites(index, "CP", plate, well, None),
                                    images_root, f"{where} CP", Path(tmp))  # fmt: skip
            sbs_tiles = _site_stacks(sbs_published, [sbs_nuclear], _raw_sites(index, "SBS", plate, well, cycle),
                                     images_root, f"{where} SBS cycle {cycle}", Path(tmp))  # fmt: skip
            reports = {}
            for arm, tiles, channels, channel, folder in (
                ("cp", cp_tiles, cp_channels, nuclear, cp_dir), ("sbs", sbs_tiles, [sbs_nuclear], sbs_nuclear, sbs_dir)
            ):  # fmt: skip
                arm_geometry = getattr(geometry, arm)
                reports[arm] = stitch_well(
                    tiles, channels, channel, geo_names.stitched_well(folder), geo_names.positions_table(folder),
                    geo_names.stitch_report(folder), pairs_out=geo_names.pairs_table(folder), layout=_layout(arm_geometry),
                    expected_sites=arm_geometry.sites_per_well,
                )  # fmt: skip
    except GeometryError as error:
        raise StitchError(f"{where}: {error}") from None
    cp, sbs = (
        WellImage(geo_names.stitched_well(cp_dir)),
        WellImage(geo_names.stitched_well(sbs_dir)),
    )
    try:
        registration = register_wells(cp, sbs, nuclear, sbs_nuclear, params.search_um)
    except ValueError as error:
        raise StitchError(f"{where}: SBS to CP registration failed: {error}") from None
    write_text_atomic(
        geo_names.registration_file(names.registration_dir(out)),
        registration.model_dump_json(indent=2),
    )
    if (
        registration.matched < params.min_matched_nuclei
        or registration.median_residual_cp_px > params.max_residual_cp_px
    ):
        raise StitchError(
            f"{where}: SBS to CP registration is not trustworthy: {registration.matched} nuclei matched "
            f"(need {params.min_matched_nuclei}), median residual {registration.median_residual_cp_px:.2f} CP px "
            f"(limit {params.max_residual_cp_px}); see {geo_names.registration_file(out)}"
        )
    frame = {"cp_origin_um": list(cp.origin_um), "cp_pixel_size_um": cp.pixel_size_um,
             "cp_shape": list(cp.shape), "sbs_pixel_size_um": sbs.pixel_size_um,
             "cp_tile_shape": list(tifffile.imread(cp_published.get_column("path")[0]).shape),
             "sbs_tile_shape": list(tifffile.imread(sbs_published.get_column("path")[0]).shape),
             "missing_sites": {arm: r.missing_sites for arm, r in reports.items()}}  # fmt: skip
    write_text_atomic(out / names.frame_file(), json.dumps(frame, indent=2))
    crops = crop_grid(cp.shape, crops_per_side(experiment, params), params.margin)
    rows = []
    for crop in crops:
        stacks = crop_images(cp, [sbs], registration.transform, crop)
        for k, channel in enumerate(cp_channels):
            rows.append(
                {
                    "name": channel,
                    "tile": crop.id,
                    "cycle": None,
                    "path": names.crop_image(crop.id, channel),
                }
            )
            _write_plane(out / rows[-1]["path"], stacks["CP"][k])
        sbs_file = names.crop_image(crop.id, f"SBS_c{cycle}_{sbs_nuclear}")
        rows.append({"name": sbs_nuclear, "tile": crop.id, "cycle": cycle, "path": sbs_file})
        _write_plane(out / sbs_file, stacks["SBS_c1"][0])
    write_parquet_atomic(crop_table(crops, cp), geo_names.crops_table(out))
    *previews, qc_summary = publish_stitch_qc(
        out, {"CP": (cp, nuclear), "SBS": (sbs, sbs_nuclear)}, {"CP": reports["cp"], "SBS": reports["sbs"]},
        {"CP": pl.read_parquet(geo_names.positions_table(cp_dir)), "SBS": pl.read_parquet(geo_names.positions_table(sbs_dir))},
        {"CP": tuple(frame["cp_tile_shape"]), "SBS": tuple(frame["sbs_tile_shape"])}, crops, registration,
    )  # fmt: skip
    tables = {names.CROPS: geo_names.crops_table(out), names.SBS_POSITIONS: geo_names.positions_table(sbs_dir),
              names.REGISTRATION: geo_names.registration_file(out), names.FRAME: out / names.frame_file(),
              names.CP_POSITIONS: geo_names.positions_table(cp_dir), names.CP_PAIRS: geo_names.pairs_table(cp_dir),
              names.SBS_PAIRS: geo_names.pairs_table(sbs_dir), names.STITCH_QC: qc_summary}  # fmt: skip
    images = pl.DataFrame(
        rows, schema={"name": pl.String, "tile": pl.String, "cycle": pl.Int64, "path": pl.String}
    )
    listed = pl.concat([
        images.with_columns(kind=pl.lit(names.CROP_KIND)),
        pl.DataFrame({"name": list(tables), "path": [str(p.relative_to(out)) for p in tables.values()]})
        .with_columns(kind=pl.lit(names.TABLE_KIND)),
        pl.DataFrame({"name": ["CP", "SBS"], "path": [str(p.relative_to(out)) for p in previews]})
        .with_columns(kind=pl.lit(names.PREVIEW_KIND)),
    ], how="diagonal_relaxed")  # fmt: skip
    producer = _producer(pl.concat([cp_published, sbs_published]))
    published = listed.with_columns(
        step=pl.lit(names.STITCH), plate=pl.lit(plate), well=pl.lit(well),
        site=pl.lit(None, pl.Int64), producer=pl.lit(producer),
    )  # fmt: skip
    published, missing = manifest.with_sizes(
        published.select([c for c in manifest.SCHEMA if c != "bytes"]), out
    )
    if missing:
        raise StitchError(f"{where}: stitch outputs missing or empty: {missing[:3]}")
    manifest.write_manifest(published, out)
    return published


def _producer(upstream: pl.DataFrame) -> str:
    """A digest of what made the unit: the upstream producers of the files it read."""
    import hashlib

    keys = upstream.select("path", "producer").sort("path").write_csv()
    return hashlib.sha256(keys.encode()).hexdigest()
