"""Foci to cells on the crops of a stitched well (the analysis join of a `stitch` screen).

sbs_preprocess found foci per SBS site, in that site's (cycle-1 aligned) pixels. Each focus
goes to well coordinates through cycle 1's stitched tile positions, then into CP well pixels
through the SBS -> CP registration, then into every crop whose outer box holds it. SBS sites
overlap: a focus is kept only from the site whose tile centre is nearest to it (the same seam
rule as the fused image), so no read votes twice.

Crops overlap by their margins, so a cell near a core edge is segmented in two crops; the
crop whose core holds its nucleus centroid keeps it (see `ownership`), so no cell appears twice.
Each kept cell carries its crop id and well coordinates (CP px and µm).

A nucleus cut by the edge of the imaged area (the well's outer tiles, a round well's corners, a
missing tile) is measured only in part, like an object touching an image's border; such cells
are left out (`cut_nuclei`). The fused well is 0 in every channel where no tile imaged it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import tifffile
from scipy import ndimage

from starrynight import manifest
from starrynight.algorithms.geometry.register import Registration
from starrynight.modules.analysis.join import (
    SITE_KEYS,
    JoinError,
    assign_site_foci,
    cell_features,
    reach_labels,
    read_csv,
    read_foci,
    read_sites,
    vote_barcodes,
)
from starrynight.modules.analysis.ownership import owned_with_well_coordinates
from starrynight.naming import analysis as names
from starrynight.naming import stitch as stitch_names

#: largest shift (CP px) CellProfiler's Align may measure between a CP crop and its SBS crop,
#: which the stitch step already registered; more means the registration is off there
MAX_CROP_SHIFT_PX = 3.0
WELL_COLUMNS = ("tile", "well_y_px", "well_x_px", "well_y_um", "well_x_um")


def _stitch_tables(stitch_manifest: Path) -> dict[str, Path]:
    rows = manifest.select(
        manifest.read_manifests([stitch_manifest]), stitch_names.STITCH, stitch_names.TABLE_KIND
    )
    return {r["name"]: Path(r["path"]) for r in rows.iter_rows(named=True)}


def foci_in_cp_well(
    foci: pl.DataFrame, positions: pl.DataFrame, frame: dict, registration: Registration
) -> pl.DataFrame:
    """The foci (SBS site px) with `y_well`/`x_well` in CP well pixels (pixel centres at
    integers, as CellProfiler reports locations), each kept only from its nearest SBS tile."""
    sbs_px = frame["sbs_pixel_size_um"]
    tiles = positions.select("site", "y_um", "x_um")
    missing = sorted(
        set(foci.get_column("site").unique().to_list()) - set(tiles.get_column("site").to_list())
    )
    if missing:
        raise JoinError(f"foci of SBS site(s) {missing[:5]} have no stitched tile position")
    joined = foci.join(tiles, on="site", how="left")
    sbs_um = np.stack([
        joined.get_column("y_um").to_numpy() + (joined.get_column("y").to_numpy() + 0.5) * sbs_px,
        joined.get_column("x_um").to_numpy() + (joined.get_column("x").to_numpy() + 0.5) * sbs_px,
    ], axis=1)  # fmt: skip
    height, width = frame["sbs_tile_shape"]
    centres = tiles.select("y_um", "x_um").to_numpy() + np.array([height, width]) * sbs_px / 2
    nearest = np.argmin(((sbs_um[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
    own = tiles.get_column("site").to_numpy()[nearest] == joined.get_column("site").to_numpy()
    cp_um = registration.transform.apply(sbs_um)
    cp_px = (cp_um - np.array(frame["cp_origin_um"])) / frame["cp_pixel_size_um"] - 0.5
    return (
        joined.with_columns(pl.Series("y_well", cp_px[:, 0]), pl.Series("x_well", cp_px[:, 1]))
        .filter(pl.Series(own))
        .drop("y_um", "x_um")
    )


def cut_nuclei(
    nuclei: np.ndarray, imaged: np.ndarray, well_edges: tuple[bool, bool, bool, bool]
) -> np.ndarray:
    """Labels of the nuclei of a crop next to (8-neighbourhood) a pixel no tile imaged, or on a
    side of the crop where the well ends (`well_edges`: top, bottom, left, right)."""
    near = ndimage.binary_dilation(~imaged, np.ones((3, 3), bool))
    top, bottom, left, right = well_edges
    near[0, :] |= top
    near[-1, :] |= bottom
    near[:, 0] |= left
    near[:, -1] |= right
    return np.unique(nuclei[near & (nuclei > 0)])


def _imaged(planes: Sequence[Path]) -> np.ndarray:
    """Pixels of a crop that some CP tile imaged: not 0 in every CP channel."""
    return np.any([tifffile.imread(p) > 0 for p in planes], axis=0)


def cut_cells(
    unit_dir: Path, stitch_manifest: Path, sites: pl.DataFrame, crops: pl.DataFrame
) -> pl.DataFrame:
    """plate, well, site, cell_id of the cells whose nucleus the imaged area's edge cuts."""
    images = manifest.select(
        manifest.read_manifests([stitch_manifest]), stitch_names.STITCH, stitch_names.CROP_KIND
    )
    planes = images.filter(pl.col("cycle").is_null()).group_by("tile").agg("path")
    planes = {r["tile"]: [Path(p) for p in r["path"]] for r in planes.iter_rows(named=True)}
    height, width = crops.get_column("core_y1_px").max(), crops.get_column("core_x1_px").max()
    by_tile = {r["crop"]: r for r in crops.iter_rows(named=True)}
    parents = read_csv(
        unit_dir / names.object_table_file(names.CELLS),
        ["ImageNumber", "ObjectNumber", f"Parent_{names.NUCLEI}"],
    )
    rows = []
    for row in sites.iter_rows(named=True):
        crop = by_tile[row["tile"]]
        labels_file = unit_dir / names.cell_labels_file(
            row["plate"], row["well"], row["site"], names.NUCLEI
        )
        if not labels_file.is_file():
            raise JoinError(f"{labels_file}: nucleus label image missing")
        edges = (
            crop["outer_y0_px"] == 0,
            crop["outer_y1_px"] == height,
            crop["outer_x0_px"] == 0,
            crop["outer_x1_px"] == width,
        )
        cut = cut_nuclei(tifffile.imread(labels_file), _imaged(planes[row["tile"]]), edges)
        cells = parents.filter(
            (pl.col("ImageNumber") == row["ImageNumber"])
            & pl.col(f"Parent_{names.NUCLEI}").is_in(cut.tolist())
        )
        rows.append(
            cells.select(
                plate=pl.lit(row["plate"]),
                well=pl.lit(row["well"]),
                site=pl.lit(row["site"], pl.Int64),
                cell_id=pl.col("ObjectNumber").cast(pl.Int64),
            )
        )
    return (
        pl.concat(rows)
        if rows
        else pl.DataFrame(
            schema={"plate": pl.String, "well": pl.String, "site": pl.Int64, "cell_id": pl.Int64}
        )
    )


def join_tile_unit(
    unit_dir: Path, foci_tables: Sequence[Path], stitch_manifest: Path, focus_reach: float, min_match_score: float,
) -> pl.DataFrame:  # fmt: skip
    """The cells of one stitched well's crops that their crop owns, with features, barcode and
    well coordinates."""
    tables = _stitch_tables(stitch_manifest)
    crops = (
        pl.read_parquet(tables[stitch_names.CROPS])
        .with_row_index("rank")
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    frame = json.loads(tables[stitch_names.FRAME].read_text())
    registration = Registration.model_validate_json(tables[stitch_names.REGISTRATION].read_text())
    positions = pl.read_parquet(tables[stitch_names.SBS_POSITIONS])
    image_csv = unit_dir / names.image_table_file()
    sites = read_sites(image_csv).join(
        read_csv(image_csv, ["ImageNumber", "Metadata_Tile"]).select("ImageNumber", pl.col("Metadata_Tile").cast(pl.String).alias("tile")),
        on="ImageNumber",
    )  # fmt: skip
    far = sites.filter(
        (pl.col("shift_x").abs() > MAX_CROP_SHIFT_PX)
        | (pl.col("shift_y").abs() > MAX_CROP_SHIFT_PX)
    )
    if far.height:
        row = far.row(0, named=True)
        raise JoinError(
            f"{row['plate']}/{row['well']} crop {row['tile']}: CellProfiler measured a CP/SBS shift of "
            f"({row['shift_x']}, {row['shift_y']}) px on crops the stitch step registered (limit "
            f"{MAX_CROP_SHIFT_PX} px); the well's registration does not hold there"
        )
    foci = foci_in_cp_well(read_foci(foci_tables), positions, frame, registration)
    by_tile = {r["crop"]: r for r in crops.iter_rows(named=True)}
    assigned = []
    for row in sites.iter_rows(named=True):
        crop = by_tile[row["tile"]]
        if crop["rank"] != row["site"]:
            raise JoinError(
                f"{image_csv}: crop {row['tile']} has rank {crop['rank']}, LoadData gave {row['site']}"
            )
        y0, x0 = crop["outer_y0_px"], crop["outer_x0_px"]
        local = foci.filter(
            (pl.col("plate") == row["plate"]) & (pl.col("well") == row["well"])
        ).with_columns(
            x=pl.col("x_well") - x0, y=pl.col("y_well") - y0, site=pl.lit(row["site"], pl.Int64)
        )
        labels_file = unit_dir / names.cell_labels_file(row["plate"], row["well"], row["site"])
        if not labels_file.is_file():
            raise JoinError(f"{labels_file}: cell label image missing")
        labels = reach_labels(tifffile.imread(labels_file), focus_reach)
        local = local.filter((pl.col("x") > -1) & (pl.col("y") > -1)
                             & (pl.col("x") < labels.shape[1]) & (pl.col("y") < labels.shape[0]))  # fmt: skip
        assigned.append(
            assign_site_foci(local.drop("x_well", "y_well"), labels, row["shift_x"], row["shift_y"])
        )
    keys = [*SITE_KEYS, "cell_id"]
    cells = cell_features(unit_dir).join(
        cut_cells(unit_dir, stitch_manifest, sites, crops), on=keys, how="anti"
    )
    votes = vote_barcodes(pl.concat(assigned), min_match_score)
    cells = cells.join(votes, on=keys, how="left").with_columns(pl.col("n_foci").fill_null(0))
    return owned_with_well_coordinates(cells, crops, frame)
