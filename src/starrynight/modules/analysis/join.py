"""Foci to cells: the second half of analysis, plain Python after CellProfiler.

CellProfiler segmented the CP image, measured the cells and the shift that registers CP onto
SBS cycle 1; sbs_preprocess called a barcode per focus in SBS (cycle-1) coordinates. Here each
focus is moved into CP coordinates, looked up in the site's Cells label image, and every cell
gets the barcode most of its foci support (votes weighted by quality x match score).

A cell never gets a gene the reads cannot settle: foci matching several library entries equally
well vote for "ambiguous", and a cell whose top candidates tie, or whose winner is ambiguous,
gets no gene and `ambiguous` true. Foci whose best match score is below `min_match_score` do
not vote (they count in `n_foci` only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import tifffile
from scipy import ndimage

from starrynight.modules.analysis.ownership import one_cell_per_nucleus
from starrynight.naming import analysis as names
from starrynight.naming import sbs as sbs_names

SITE_KEYS = ("plate", "well", "site")
_META = {"Metadata_Batch": "batch", "Metadata_Plate": "plate", "Metadata_Well": "well",
         "Metadata_Site": "site"}  # fmt: skip
_FOCI = {sbs_names.FOCI_X: "x", sbs_names.FOCI_Y: "y", sbs_names.FOCI_CALLED: "called",
         sbs_names.FOCI_QUALITY: "quality", sbs_names.FOCI_MATCHED: "matched",
         sbs_names.FOCI_GENE: "gene", sbs_names.FOCI_SCORE: "score",
         sbs_names.FOCI_NUM_BEST: "n_best"}  # fmt: skip
#: object-table columns that are bookkeeping, not phenotype features
_BOOKKEEPING = ("ImageNumber", "ObjectNumber", "Number_Object_Number")
BARCODE_COLUMNS = ("barcode", "matched_barcode", "gene", "match_score", "n_best_matches",
                   "ambiguous", "vote_fraction", "n_foci")  # fmt: skip
#: default lowest match score (fraction of cycles agreeing) a focus needs to vote
MIN_MATCH_SCORE = 0.66
_AMBIGUOUS = "\x00ambiguous"  # vote key of foci matching several library entries
#: per-cell table columns repeated under the metadata names pycytominer and CytoTable use
CYTOMINING_METADATA = {"batch": "Metadata_Batch", "plate": "Metadata_Plate", "well": "Metadata_Well",
                       "site": "Metadata_Site", "cell_id": "Metadata_ObjectNumber",
                       "matched_barcode": "Metadata_Barcode", "gene": "Metadata_Gene"}  # fmt: skip


class JoinError(ValueError):
    """An analysis or foci table is missing, or lacks a column the join needs."""


def read_csv(path: Path, columns: Iterable[str] = ()) -> pl.DataFrame:
    """A CellProfiler export, checked for the columns the join reads."""
    try:
        frame = pl.read_csv(path, infer_schema_length=10000)
    except FileNotFoundError:
        raise JoinError(f"{path}: no such file") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise JoinError(f"{path}: missing column(s) {missing}")
    return frame


def _site_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Metadata_* columns renamed to batch/plate/well/site, typed like the index."""
    present = {k: v for k, v in _META.items() if k in frame.columns}
    frame = frame.rename(present)
    return frame.with_columns(
        pl.col("plate").cast(pl.String), pl.col("well").cast(pl.String), pl.col("site").cast(pl.Int64),
        *([pl.col("batch").cast(pl.String)] if "batch" in frame.columns else []),
    )  # fmt: skip


def read_sites(image_csv: Path) -> pl.DataFrame:
    """ImageNumber, batch, plate, well, site and the registration shift (shift_x, shift_y)."""
    sx, sy = names.registration_shift_feature("X"), names.registration_shift_feature("Y")
    frame = read_csv(image_csv, ["ImageNumber", *_META, sx, sy])
    return _site_keys(frame.select("ImageNumber", *_META, sx, sy)).rename(
        {sx: "shift_x", sy: "shift_y"}
    )


def read_foci(paths: Sequence[Path]) -> pl.DataFrame:
    """The foci of several sbs_preprocess units: site keys, x/y (SBS px) and the barcode call."""
    needed = ["Metadata_Plate", "Metadata_Well", "Metadata_Site", *_FOCI]
    parts = [
        _site_keys(read_csv(p, needed).select(*needed).rename(_FOCI)).with_columns(
            pl.col("called", "matched", "gene").cast(pl.String),
            pl.col("x", "y", "quality", "score").cast(pl.Float64),
            pl.col("n_best").cast(pl.Int64),
        )
        for p in paths
    ]
    schema = {"plate": pl.String, "well": pl.String, "site": pl.Int64, "x": pl.Float64,
              "y": pl.Float64, "called": pl.String, "quality": pl.Float64, "matched": pl.String,
              "gene": pl.String, "score": pl.Float64, "n_best": pl.Int64}  # fmt: skip
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def cells_at(labels: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The label under each point (nearest pixel); 0 outside the image or on background."""
    col, row = np.rint(x).astype(np.int64), np.rint(y).astype(np.int64)
    inside = (row >= 0) & (row < labels.shape[0]) & (col >= 0) & (col < labels.shape[1])
    out = np.zeros(len(x), np.int64)
    out[inside] = labels[row[inside], col[inside]]
    return out


def reach_labels(labels: np.ndarray, reach: float) -> np.ndarray:
    """Labels grown into the background by up to `reach` px (each pixel takes its nearest cell),
    so a focus just outside a segmented cell outline still counts for that cell."""
    if reach <= 0 or not labels.any():
        return labels
    distance, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return np.where(distance <= reach, labels[iy, ix], 0)


def assign_site_foci(foci: pl.DataFrame, labels: np.ndarray, shift_x: float, shift_y: float) -> pl.DataFrame:
    """Foci of one site with `cell_id` (0: in no cell) and their CP coordinates.

    Align's shift of the CP image: a feature at SBS x is at CP x + shift.
    """
    x_cp = foci.get_column("x").to_numpy() + shift_x
    y_cp = foci.get_column("y").to_numpy() + shift_y
    return foci.with_columns(
        pl.Series("x_cp", x_cp), pl.Series("y_cp", y_cp),
        pl.Series("cell_id", cells_at(labels, x_cp, y_cp)),
    )  # fmt: skip


def vote_barcodes(foci: pl.DataFrame, min_match_score: float = MIN_MATCH_SCORE) -> pl.DataFrame:
    """One row per cell (SITE_KEYS + cell_id) with the barcode its foci support most.

    Votes go to the matched library barcode (reads one error apart still support the same
    guide), each weighted by quality x match score; foci matching several library entries
    equally well vote together for "ambiguous". `barcode` is the best read of the winner,
    `vote_fraction` the winner's share of all votes, `n_foci` every focus in the cell,
    `n_best_matches` how many library entries the winner's reads match equally well.
    A cell whose winner is ambiguous, or whose two top candidates have equal votes, gets no
    matched barcode and no gene, and `ambiguous` true.
    """
    keys = [*SITE_KEYS, "cell_id"]
    inside = foci.filter(pl.col("cell_id") > 0)
    counts = inside.group_by(keys).len("n_foci")
    several = pl.col("n_best").fill_null(1) > 1
    voting = inside.filter(
        (pl.col("matched").is_not_null() & (pl.col("matched") != "") | several)
        & (pl.col("score").fill_null(0) >= min_match_score)
    ).with_columns(
        pl.when(several).then(pl.lit(_AMBIGUOUS)).otherwise(pl.col("matched")).alias("matched"),
        (pl.col("quality").fill_null(0) * pl.col("score").fill_null(0)).alias("weight"),
    )
    per_barcode = (
        voting.sort("quality", descending=True, nulls_last=True)
        .group_by([*keys, "matched"])
        .agg(
            pl.col("weight").sum().alias("votes"), pl.len().alias("support"),
            pl.col("called").first().alias("barcode"), pl.col("gene").first(),
            pl.col("score").max().alias("match_score"),
            pl.col("n_best").fill_null(1).max().alias("n_best_matches"),
        )
        .with_columns(pl.col("votes").sum().over(keys).alias("all_votes"))
        .sort(["votes", "support", "matched"], descending=[True, True, False])
    )  # fmt: skip
    ranked = per_barcode.group_by(keys, maintain_order=True).agg(
        pl.all().first(), pl.col("votes").get(1, null_on_oob=True).alias("runner_up")
    )
    tie = (pl.col("runner_up") == pl.col("votes")).fill_null(False)
    ambiguous = (pl.col("matched") == _AMBIGUOUS) | tie
    winners = ranked.select(
        *keys, "barcode",
        pl.when(ambiguous).then(None).otherwise(pl.col("matched")).alias("matched_barcode"),
        pl.when(ambiguous).then(None).otherwise(pl.col("gene")).alias("gene"),
        "match_score",
        pl.when(tie & (pl.col("matched") != _AMBIGUOUS)).then(2).otherwise(pl.col("n_best_matches"))
        .alias("n_best_matches"),
        ambiguous.alias("ambiguous"),
        pl.when(pl.col("all_votes") > 0).then(pl.col("votes") / pl.col("all_votes"))
        .alias("vote_fraction"),
    )  # fmt: skip
    return counts.join(winners, on=keys, how="left").select(*keys, *BARCODE_COLUMNS)


def _object_features(frame: pl.DataFrame, objects: str, id_column: str) -> pl.DataFrame:
    """An object table keyed by (ImageNumber, `id_column`), features prefixed with the object name."""
    features = [c for c in frame.columns if c not in _BOOKKEEPING and not c.startswith(("Parent_", "Children_", "Metadata_"))]
    return frame.select(
        "ImageNumber", pl.col(id_column).alias("cell_id"),
        *[pl.col(c).alias(f"{objects}_{c}") for c in features],
    )  # fmt: skip


def cell_features(unit_dir: Path) -> pl.DataFrame:
    """Every cell of an analysis unit: site keys, cell_id, nucleus position x/y, all features."""
    sites = read_sites(unit_dir / names.image_table_file())
    cells = read_csv(unit_dir / names.object_table_file(names.CELLS),
                     ["ImageNumber", "ObjectNumber", f"Parent_{names.NUCLEI}"])  # fmt: skip
    nuclei = read_csv(unit_dir / names.object_table_file(names.NUCLEI),
                      ["ImageNumber", "ObjectNumber", "Location_Center_X", "Location_Center_Y"])  # fmt: skip
    cyto = read_csv(unit_dir / names.object_table_file(names.CYTOPLASM),
                    ["ImageNumber", f"Parent_{names.CELLS}"])  # fmt: skip
    table = (
        cells.select("ImageNumber", pl.col("ObjectNumber").alias("cell_id"),
                     pl.col(f"Parent_{names.NUCLEI}").alias("nucleus"))
        .join(_object_features(cells, names.CELLS, "ObjectNumber"), on=["ImageNumber", "cell_id"])
        .join(_object_features(nuclei, names.NUCLEI, "ObjectNumber").rename({"cell_id": "nucleus"}),
              on=["ImageNumber", "nucleus"], how="left")
        .join(_object_features(cyto, names.CYTOPLASM, f"Parent_{names.CELLS}"),
              on=["ImageNumber", "cell_id"], how="left")
    )  # fmt: skip
    table = table.with_columns(
        pl.col(f"{names.NUCLEI}_Location_Center_X").alias("x"),
        pl.col(f"{names.NUCLEI}_Location_Center_Y").alias("y"),
    )
    meta = [c for c in ("batch", *SITE_KEYS) if c in sites.columns]
    features = [c for c in table.columns if c not in ("ImageNumber", "cell_id", "nucleus", "x", "y")]
    return (
        sites.select("ImageNumber", *meta)
        .join(table, on="ImageNumber")
        .select(*meta, pl.col("cell_id").cast(pl.Int64), "x", "y", *features)
        .sort([*SITE_KEYS, "cell_id"])
    )


def join_unit(
    unit_dir: Path,
    foci_tables: Sequence[Path],
    focus_reach: float = 0.0,
    min_match_score: float = MIN_MATCH_SCORE,
) -> pl.DataFrame:
    """The cells of one analysis unit with features and the barcode voted by their foci."""
    sites = read_sites(unit_dir / names.image_table_file())
    cells = cell_features(unit_dir)
    foci = read_foci(foci_tables)
    assigned = []
    for row in sites.iter_rows(named=True):
        site_foci = foci.filter(
            (pl.col("plate") == row["plate"]) & (pl.col("well") == row["well"])
            & (pl.col("site") == row["site"])
        )  # fmt: skip
        label_file = unit_dir / names.cell_labels_file(row["plate"], row["well"], row["site"])
        if not label_file.is_file():
            raise JoinError(f"{label_file}: cell label image missing")
        labels = reach_labels(tifffile.imread(label_file), focus_reach)
        assigned.append(assign_site_foci(site_foci, labels, row["shift_x"], row["shift_y"]))
    votes = vote_barcodes(pl.concat(assigned), min_match_score) if assigned else None
    if votes is None or votes.height == 0:
        return cells.with_columns(
            pl.lit(None, pl.String).alias("barcode"), pl.lit(None, pl.String).alias("matched_barcode"),
            pl.lit(None, pl.String).alias("gene"), pl.lit(None, pl.Float64).alias("match_score"),
            pl.lit(None, pl.Int64).alias("n_best_matches"), pl.lit(None, pl.Boolean).alias("ambiguous"),
            pl.lit(None, pl.Float64).alias("vote_fraction"), pl.lit(0, pl.UInt32).alias("n_foci"),
        )  # fmt: skip
    keys = [*SITE_KEYS, "cell_id"]
    return cells.join(votes, on=keys, how="left").with_columns(pl.col("n_foci").fill_null(0))


def write_unit_cells(
    cp_dir: Path,
    foci_manifests: Sequence[Path],
    out_dir: Path,
    focus_reach: float = 0.0,
    min_match_score: float = MIN_MATCH_SCORE,
    stitch_manifest: Path | None = None,
) -> Path:
    """`join_unit` on an analysis unit folder and the foci tables the given sbs_preprocess
    manifests list, written atomically; with the well's `stitch_manifest`, the unit holds that
    well's crops (`tiles.join_tile_unit`)."""
    from starrynight import manifest
    from starrynight.config import write_parquet_atomic

    foci: list[Path] = []
    if foci_manifests:
        published = manifest.select(manifest.read_manifests(foci_manifests), sbs_names.SBS_PREPROCESS, "table",
                                    [sbs_names.FOCI_OBJECTS])  # fmt: skip
        foci = [Path(p) for p in published.get_column("path").to_list()]
    path = Path(out_dir) / names.unit_cells_file()
    if stitch_manifest is not None:
        from starrynight.modules.analysis.tiles import join_tile_unit

        cells = join_tile_unit(Path(cp_dir), foci, Path(stitch_manifest), focus_reach, min_match_score)
    else:
        cells = join_unit(Path(cp_dir), foci, focus_reach, min_match_score)
    write_parquet_atomic(cells, path)
    return path


def with_cytomining_metadata(table: pl.DataFrame) -> pl.DataFrame:
    """`table` plus a `Metadata_*` copy of each key column it has (see CYTOMINING_METADATA)."""
    return table.with_columns(pl.col(k).alias(v) for k, v in CYTOMINING_METADATA.items() if k in table.columns)


def write_cell_table(unit_dirs: Sequence[Path], output: Path) -> pl.DataFrame:
    """Concatenate the units' cells into the run's per-cell table (parquet, atomic)."""
    from starrynight.config import write_parquet_atomic

    parts = []
    for unit_dir in unit_dirs:
        path = Path(unit_dir) / names.unit_cells_file()
        if not path.is_file():
            raise JoinError(f"{path}: unit cell table missing")
        parts.append(pl.read_parquet(path))
    if not parts:
        raise JoinError("no unit folders given: nothing to put in the cell table")
    table = pl.concat(parts, how="diagonal_relaxed")
    stitched = "tile" in table.columns
    if stitched:  # units hold crops of a well, so copies of a nucleus meet only here
        table, _ = one_cell_per_nucleus(table)
    keys = [*SITE_KEYS, *(["tile"] if stitched else []), "cell_id"]  # a crop numbers its own cells
    table = with_cytomining_metadata(table.sort(keys))
    write_parquet_atomic(table, Path(output))
    return table
