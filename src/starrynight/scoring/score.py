"""Match table cells to truth cells and compute the gene-assignment and segmentation scores."""

from __future__ import annotations

import json
from pathlib import Path

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


class SiteCount(BaseModel):
    plate: str
    well: str
    site: int
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
        ])  # fmt: skip

    def write_json(self, path: Path) -> Path:
        write_text_atomic(Path(path), json.dumps(self.model_dump(), indent=2))
        return Path(path)


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> pl.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScoringError(f"{what}: missing column(s) {missing}")
    return frame.with_columns(
        pl.col("plate").cast(pl.String), pl.col("well").cast(pl.String), pl.col("site").cast(pl.Int64)
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
            return _require(_read_parquet(candidate), TRUTH_COLUMNS, str(candidate))
    raise ScoringError(f"{truth}: no truth cells here (looked for truth/cells.parquet, cells.parquet)")


def _greedy_pairs(a: np.ndarray, b: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        return pl.DataFrame(schema={"truth_row": pl.UInt32, "table_row": pl.UInt32, "distance": pl.Float64})
    return pl.concat(parts)


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def score_cells(truth: pl.DataFrame, table: pl.DataFrame, radius: float = 8.0) -> Score:
    """Score a per-cell table (plate, well, site, x, y, gene) against truth cells."""
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
    wrong = spotted.filter(pl.col("found_gene").is_not_null() & (pl.col("found_gene") != pl.col("gene"))).height

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
    return Score(
        radius=radius, truth_cells=truth.height, table_cells=table.height, matched=pairs.height,
        truth_unmatched=truth.height - pairs.height, table_unmatched=table.height - pairs.height,
        truth_with_spots=spotted.height, right_gene=right, wrong_gene=wrong,
        right_gene_fraction=_ratio(right, spotted.height), wrong_gene_rate=_ratio(wrong, spotted.height),
        nuclei_count_error=_ratio(table.height - truth.height, truth.height),
        mean_abs_site_count_error=float(np.mean(site_errors)) if site_errors else None,
        sites=sites,
    )  # fmt: skip


def score_tables(truth: Path, cells: Path, radius: float = 8.0) -> Score:
    """Score the per-cell parquet `cells` against the truth of a dataset (root or truth folder)."""
    return score_cells(read_truth_cells(truth), _read_parquet(Path(cells)), radius)
