"""Match table cells to truth cells and compute the gene-assignment and segmentation scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel
from scipy.spatial import cKDTree

from starrynight.config import write_text_atomic

SITE_KEYS = ("plate", "well", "site")
TRUTH_COLUMNS = (*SITE_KEYS, "nucleus_x", "nucleus_y", "gene", "has_spots")
TABLE_COLUMNS = (*SITE_KEYS, "x", "y", "gene")


class ScoringError(ValueError):
    """A truth or cell table is missing, unreadable or lacks a column."""


#: a stitched screen's table carries well coordinates; its truth is in well micrometres
WELL_TRUTH_COLUMNS = ("plate", "well", "y_um", "x_um", "gene", "has_spots", "in_cp", "in_sbs")
WELL_TABLE_COLUMNS = (
    "plate",
    "well",
    "tile",
    "well_y_um",
    "well_x_um",
    "well_y_px",
    "well_x_px",
    "gene",
)
WELL_KEYS = ("plate", "well")


class SiteCount(BaseModel):
    plate: str
    well: str
    site: int | None  # None: a whole stitched well
    truth: int
    found: int
    relative_error: float | None


class Score(BaseModel):
    """The comparison of one per-cell table with the truth; rates are fractions (0..1)."""

    radius: float
    truth_cells: int
    table_cells: int
    matched: int
    truth_unmatched: int
    table_unmatched: int
    truth_with_spots: int
    right_gene: int
    wrong_gene: int
    right_gene_fraction: float | None
    wrong_gene_rate: float | None
    nuclei_count_error: float | None
    mean_abs_site_count_error: float | None
    sites: list[SiteCount]
    #: truth cells claimed by table cells of two or more crops (a cell counted twice)
    duplicated_truth_cells: int | None = None
    #: truth cells claimed by two or more table cells of one crop (segmentation split a cell)
    split_truth_cells: int | None = None
    #: median table nucleus area / median truth nucleus area (CP px), when both are known
    nucleus_area_ratio: float | None = None

    def report(self) -> str:
        """A short human-readable summary."""

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.1f} %"

        return "\n".join([
            f"truth cells with spots: {self.truth_with_spots}",
            f"  right gene: {self.right_gene} ({pct(self.right_gene_fraction)})",
            f"  wrong gene: {self.wrong_gene} ({pct(self.wrong_gene_rate)})",
            f"nuclei: truth {self.truth_cells}, table {self.table_cells}, "
            f"count error {pct(self.nuclei_count_error)} overall, "
            f"{pct(self.mean_abs_site_count_error)} mean absolute per site",
            f"matched within {self.radius:g} px: {self.matched}; unmatched truth cells "
            f"{self.truth_unmatched}, unmatched table cells {self.table_unmatched}",
            *([f"truth cells found in two crops: {self.duplicated_truth_cells}; split within a crop: "
               f"{self.split_truth_cells}"] if self.duplicated_truth_cells is not None else []),
            *([f"median nucleus area: {pct(self.nucleus_area_ratio)} of truth"]
              if self.nucleus_area_ratio is not None else []),
        ])  # fmt: skip

    def write_json(self, path: Path) -> Path:
        write_text_atomic(Path(path), json.dumps(self.model_dump(), indent=2))
        return Path(path)


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> pl.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScoringError(f"{what}: missing column(s) {missing}")
    return frame.with_columns(
        pl.col("plate").cast(pl.String),
        pl.col("well").cast(pl.String),
        pl.col("site").cast(pl.Int64),
    )


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except FileNotFoundError:
        raise ScoringError(f"{path}: no such file") from None
    except Exception as err:  # noqa: BLE001 - polars raises several kinds for a bad file
        raise ScoringError(f"{path}: not a readable parquet table ({err})") from None


def read_truth_cells(truth: Path) -> pl.DataFrame:
    """The truth cells of a dataset root, its `truth/` folder, or a cells parquet."""
    truth = Path(truth)
    for candidate in (truth / "truth" / "cells.parquet", truth / "cells.parquet", truth):
        if candidate.is_file():
            frame = _read_parquet(candidate)
            if "site" not in frame.columns and "x_um" in frame.columns:  # a well-geometry dataset
                missing = [c for c in WELL_TRUTH_COLUMNS if c not in frame.columns]
                if missing:
                    raise ScoringError(f"{candidate}: missing column(s) {missing}")
                return frame
            return _require(frame, TRUTH_COLUMNS, str(candidate))
    raise ScoringError(
        f"{truth}: no truth cells here (looked for truth/cells.parquet, cells.parquet)"
    )


def _greedy_pairs(
    a: np.ndarray, b: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one pairs of points closer than `radius`, closest first."""
    empty = np.empty(0, np.int64)
    if len(a) == 0 or len(b) == 0:
        return empty, empty, np.empty(0)
    close = cKDTree(a).sparse_distance_matrix(cKDTree(b), radius, output_type="ndarray")
    close = close[np.argsort(close["v"], kind="stable")]
    used_a, used_b = np.zeros(len(a), bool), np.zeros(len(b), bool)
    keep = []
    for k, (i, j) in enumerate(zip(close["i"], close["j"], strict=True)):
        if not used_a[i] and not used_b[j]:
            used_a[i] = used_b[j] = True
            keep.append(k)
    chosen = close[keep]
    return chosen["i"].astype(np.int64), chosen["j"].astype(np.int64), chosen["v"]


def match_cells(truth: pl.DataFrame, table: pl.DataFrame, radius: float) -> pl.DataFrame:
    """Pairs (truth_row, table_row, distance) of cells of the same site within `radius` px."""
    truth = truth.with_row_index("truth_row")
    table = table.with_row_index("table_row")
    tables = table.partition_by(list(SITE_KEYS), as_dict=True)
    parts = []
    for key, site_truth in truth.partition_by(list(SITE_KEYS), as_dict=True).items():
        site_table = tables.get(key)
        if site_table is None:
            continue
        i, j, d = _greedy_pairs(
            site_truth.select("nucleus_y", "nucleus_x").to_numpy().astype(float),
            site_table.select("y", "x").to_numpy().astype(float), radius,
        )  # fmt: skip
        parts.append(pl.DataFrame({
            "truth_row": site_truth.get_column("truth_row").to_numpy()[i],
            "table_row": site_table.get_column("table_row").to_numpy()[j],
            "distance": d,
        }, schema={"truth_row": pl.UInt32, "table_row": pl.UInt32, "distance": pl.Float64}))  # fmt: skip
    if not parts:
        return pl.DataFrame(
            schema={"truth_row": pl.UInt32, "table_row": pl.UInt32, "distance": pl.Float64}
        )
    return pl.concat(parts)


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def _table_pixel_size(table: pl.DataFrame) -> float:
    """µm per CP pixel of a table with well coordinates in both units (affine within a well)."""
    well = table.filter(
        (pl.col("plate") == table.get_column("plate")[0])
        & (pl.col("well") == table.get_column("well")[0])
    )
    um, px = well.get_column("well_x_um").to_numpy(), well.get_column("well_x_px").to_numpy()
    if len(um) < 2 or np.ptp(px) == 0:
        raise ScoringError("cell table: too few cells in a well to relate well_x_um to well_x_px")
    return float(np.ptp(um) / np.ptp(px))


def _claimed_twice(
    truth_yx: np.ndarray, table_yx: np.ndarray, tiles: np.ndarray, radius: float
) -> tuple[int, int]:
    """Truth cells that are the nearest truth cell, within `radius`, of table cells of two or
    more crops (counted twice by the tiling), and of two or more cells of one crop (split).
    Every truth cell competes, so a cell cut by the imaged area's edge is not taken for a
    neighbour's duplicate."""
    if len(truth_yx) == 0 or len(table_yx) == 0:
        return 0, 0
    dist, nearest = cKDTree(truth_yx).query(table_yx, distance_upper_bound=radius)
    claims = pl.DataFrame({"truth": nearest, "tile": tiles}).filter(pl.Series(np.isfinite(dist)))
    per_truth = claims.group_by("truth").agg(
        pl.col("tile").n_unique().alias("tiles"), pl.len().alias("cells")
    )
    twice = per_truth.filter(pl.col("tiles") > 1).height
    split = per_truth.filter((pl.col("tiles") == 1) & (pl.col("cells") > 1)).height
    return twice, split


def frame_offset(
    truth_yx: np.ndarray, table_yx: np.ndarray, radius: float, search: float = 200.0
) -> np.ndarray:
    """The translation from the table's well frame to the truth's (µm). Where a well's origin
    lies is a convention (the stage's, or the first tile's), so only this one shift per well is
    fitted: a vote over nearby point differences, refined by the median of the matched pairs."""
    from starrynight.algorithms.geometry.register import coarse_translation

    guess = truth_yx.mean(axis=0) - table_yx.mean(axis=0)
    try:
        shift = coarse_translation(table_yx, truth_yx, guess, search)
    except ValueError as error:
        raise ScoringError(
            f"cannot relate the table's well frame to the truth's: {error}"
        ) from None
    i, j, _ = _greedy_pairs(truth_yx, table_yx + shift, radius)
    return shift + (np.median(truth_yx[i] - (table_yx[j] + shift), axis=0) if len(i) else 0.0)


def _score(
    radius: float, truth: pl.DataFrame, table: pl.DataFrame, pairs: pl.DataFrame,
    spotted: pl.DataFrame, right: int, wrong: int, count_errors: list[float], **rest: Any,
) -> Score:  # fmt: skip
    """The score's counts and ratios, the same for site and well geometry; `rest` holds what
    only one of them measures."""
    return Score(
        radius=radius, truth_cells=truth.height, table_cells=table.height, matched=pairs.height,
        truth_unmatched=truth.height - pairs.height, table_unmatched=table.height - pairs.height,
        truth_with_spots=spotted.height, right_gene=right, wrong_gene=wrong,
        right_gene_fraction=_ratio(right, spotted.height), wrong_gene_rate=_ratio(wrong, spotted.height),
        nuclei_count_error=_ratio(table.height - truth.height, truth.height),
        mean_abs_site_count_error=float(np.mean(count_errors)) if count_errors else None, **rest,
    )  # fmt: skip


def score_well_cells(truth: pl.DataFrame, table: pl.DataFrame, radius: float = 8.0) -> Score:
    """Score a stitched screen's per-cell table (well coordinates) against well truth.

    Truth cells count when their nucleus was imaged whole in CP (`nucleus_in_cp`; the pipeline
    leaves out nuclei the imaged area's edge cuts; truth without that column: the centroid,
    `in_cp`); the gene rates count those with spots that SBS imaged too (`in_sbs`). `radius` is in CP pixels. The table's well
    frame is moved onto the truth's by one translation per well (`frame_offset`)."""
    missing = [c for c in WELL_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ScoringError(f"cell table: missing column(s) {missing}")
    pixel = _table_pixel_size(table)
    every = truth.partition_by(list(WELL_KEYS), as_dict=True)  # border cells too, for `_twice`
    imaged = "nucleus_in_cp" if "nucleus_in_cp" in truth.columns else "in_cp"
    truth = truth.filter(pl.col(imaged)).with_row_index("truth_row")
    table = table.with_row_index("table_row")
    tables = table.partition_by(list(WELL_KEYS), as_dict=True)
    parts, twice, split = [], 0, 0
    for key, well_truth in truth.partition_by(list(WELL_KEYS), as_dict=True).items():
        well_table = tables.get(key)
        if well_table is None:
            continue
        a = well_truth.select("y_um", "x_um").to_numpy()
        b = well_table.select("well_y_um", "well_x_um").to_numpy()
        b = b + frame_offset(a, b, radius * pixel)
        i, j, d = _greedy_pairs(a, b, radius * pixel)
        counted = _claimed_twice(every[key].select("y_um", "x_um").to_numpy(), b,
                                 well_table.get_column("tile").to_numpy(), radius * pixel)  # fmt: skip
        twice, split = twice + counted[0], split + counted[1]
        parts.append(pl.DataFrame({"truth_row": well_truth.get_column("truth_row").to_numpy()[i],
                                   "table_row": well_table.get_column("table_row").to_numpy()[j]},
                                  schema={"truth_row": pl.UInt32, "table_row": pl.UInt32}))  # fmt: skip
    pairs = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(schema={"truth_row": pl.UInt32, "table_row": pl.UInt32})
    )
    joined = truth.join(pairs, on="truth_row", how="left").join(
        table.select("table_row", pl.col("gene").alias("found_gene")), on="table_row", how="left"
    )
    spotted = joined.filter(pl.col("has_spots") & pl.col("in_sbs"))
    right = spotted.filter(pl.col("found_gene") == pl.col("gene")).height
    wrong = spotted.filter(
        pl.col("found_gene").is_not_null() & (pl.col("found_gene") != pl.col("gene"))
    ).height
    counts = (
        truth.group_by(WELL_KEYS).len("truth")
        .join(table.group_by(WELL_KEYS).len("found"), on=list(WELL_KEYS), how="full", coalesce=True)
        .with_columns(pl.col("truth", "found").fill_null(0).cast(pl.Int64)).sort(WELL_KEYS)
    )  # fmt: skip
    wells = [SiteCount(**row, site=None, relative_error=_ratio(row["found"] - row["truth"], row["truth"]))
             for row in counts.iter_rows(named=True)]  # fmt: skip
    errors = [abs(w.relative_error) for w in wells if w.relative_error is not None]
    return _score(radius, truth, table, pairs, spotted, right, wrong, errors, sites=wells,
                  duplicated_truth_cells=twice, split_truth_cells=split,
                  nucleus_area_ratio=_area_ratio(table, truth))  # fmt: skip


def _area_ratio(table: pl.DataFrame, truth: pl.DataFrame) -> float | None:
    """Median segmented nucleus area over the median truth nucleus area, when both are known."""
    area = "Nuclei_AreaShape_Area"
    if (
        area not in table.columns
        or "nucleus_area" not in truth.columns
        or not (table.height and truth.height)
    ):
        return None
    return _ratio(
        float(table.get_column(area).median()), float(truth.get_column("nucleus_area").median())
    )


def score_cells(truth: pl.DataFrame, table: pl.DataFrame, radius: float = 8.0) -> Score:
    """Score a per-cell table (plate, well, site, x, y, gene) against truth cells; a well-geometry
    truth (well micrometres) is scored on the table's well coordinates (`score_well_cells`)."""
    if "site" not in truth.columns and "x_um" in truth.columns:
        return score_well_cells(truth, table, radius)
    truth = _require(truth, TRUTH_COLUMNS, "truth cells")
    table = _require(table, TABLE_COLUMNS, "cell table")
    pairs = match_cells(truth, table, radius)
    joined = (
        truth.with_row_index("truth_row")
        .join(pairs, on="truth_row", how="left")
        .join(table.with_row_index("table_row").select("table_row", pl.col("gene").alias("found_gene")),
              on="table_row", how="left")
    )  # fmt: skip
    spotted = joined.filter(pl.col("has_spots"))
    right = spotted.filter(pl.col("found_gene") == pl.col("gene")).height
    wrong = spotted.filter(
        pl.col("found_gene").is_not_null() & (pl.col("found_gene") != pl.col("gene"))
    ).height

    truth_counts = truth.group_by(SITE_KEYS).len("truth")
    table_counts = table.group_by(SITE_KEYS).len("found")
    counts = (
        truth_counts.join(table_counts, on=list(SITE_KEYS), how="full", coalesce=True)
        .with_columns(pl.col("truth", "found").fill_null(0).cast(pl.Int64))
        .sort(SITE_KEYS)
    )
    sites = [
        SiteCount(**row, relative_error=_ratio(row["found"] - row["truth"], row["truth"]))
        for row in counts.iter_rows(named=True)
    ]
    site_errors = [abs(s.relative_error) for s in sites if s.relative_error is not None]
    return _score(
        radius,
        truth,
        table,
        pairs,
        spotted,
        right,
        wrong,
        site_errors,
        sites=sites,
        nucleus_area_ratio=_area_ratio(table, truth),
    )


def score_tables(truth: Path, cells: Path, radius: float = 8.0) -> Score:
    """Score the per-cell parquet `cells` against the truth of a dataset (root or truth folder)."""
    return score_cells(read_truth_cells(truth), _read_parquet(Path(cells)), radius)
