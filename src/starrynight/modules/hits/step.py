"""Hits: phenotypic activity of each gene against the non-targeting controls (copairs).

Each guide-well profile of a gene asks: are the gene's other profiles closer to me than the
control profiles of my plate are? Its average precision answers (positives: same gene;
negatives: controls on the same plate; cosine distance). A gene's mean average precision
(mAP) is tested against a permutation null (copairs), and the p-values are corrected for
the number of genes (Benjamini-Hochberg). A gene is a hit when its corrected p-value is
below `fdr`. The ranked table has one row per gene; a gene with a single profile cannot be
scored and keeps its row with null statistics (never a hit). Features that are not finite in
every profile are left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight.config import write_parquet_atomic

REFERENCE = "Metadata_Reference_Index"
HIT_COLUMNS = ("Metadata_Gene", "mean_average_precision", "p_value", "corrected_p_value", "hit",
               "n_profiles", "n_cells")  # fmt: skip


class HitsError(ValueError):
    """The profiles cannot be scored as configured."""


class HitsParameters(BaseModel):
    """How genes are tested for phenotypic activity."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    fdr: float = Field(0.1, gt=0, lt=1, description="false discovery rate a hit is called at")
    null_size: int = Field(10000, ge=100, description="permutations of the mAP null distribution")
    distance: str = Field("cosine", description="copairs distance between profiles")
    seed: int = Field(0, description="seed of the permutations")


def phenotypic_activity(guides: pl.DataFrame, params: HitsParameters) -> pl.DataFrame:
    """The ranked hit table (HIT_COLUMNS, most active first) of guide profiles."""
    from copairs import map as copairs_map
    from copairs.matching import assign_reference_index

    logging.getLogger("copairs").setLevel(logging.WARNING)
    needed = ["Metadata_Plate", "Metadata_Gene", "Metadata_Control", "Metadata_Cell_Count"]
    missing = [c for c in needed if c not in guides.columns]
    if missing:
        raise HitsError(f"guide profiles: missing column(s) {missing}")
    features = [c for c in guides.columns if not c.startswith("Metadata_")
                and guides.get_column(c).cast(pl.Float64).is_finite().fill_null(False).all()]  # fmt: skip
    if not features:
        raise HitsError("guide profiles: no feature is finite in every profile")
    if not guides.get_column("Metadata_Control").any():
        raise HitsError(
            "guide profiles: no control profiles (Metadata_Control) to test genes against"
        )
    meta = assign_reference_index(
        guides.select(needed).to_pandas(), "Metadata_Control", reference_col=REFERENCE
    )
    ap = copairs_map.average_precision(
        meta, guides.select(features).to_numpy(),
        pos_sameby=["Metadata_Gene", REFERENCE], pos_diffby=[],
        neg_sameby=["Metadata_Plate"], neg_diffby=["Metadata_Gene", REFERENCE],
        distance=params.distance, progress_bar=False,
    )  # fmt: skip
    ap = ap[~ap["Metadata_Control"]].dropna(subset=["average_precision"])
    if ap.empty:
        raise HitsError(
            "guide profiles: no gene has two profiles to compare (need >= 2 guide-well profiles per gene)"
        )
    scored = copairs_map.mean_average_precision(ap, sameby=["Metadata_Gene"], null_size=params.null_size,
                                                threshold=params.fdr, seed=params.seed, progress_bar=False)  # fmt: skip
    counts = (
        guides.filter(~pl.col("Metadata_Control"))
        .group_by("Metadata_Gene")
        .agg(pl.len().alias("n_profiles"), pl.col("Metadata_Cell_Count").sum().alias("n_cells"))
    )
    table = pl.from_pandas(
        scored[["Metadata_Gene", "mean_average_precision", "p_value", "corrected_p_value"]]
    )
    return (
        counts.join(table, on="Metadata_Gene", how="left")
        .with_columns((pl.col("corrected_p_value") < params.fdr).fill_null(False).alias("hit"))
        .sort(
            ["corrected_p_value", "mean_average_precision"],
            descending=[False, True],
            nulls_last=True,
        )
        .select(HIT_COLUMNS)
    )


def write_hits(guides_path: Path, out: Path, params: HitsParameters) -> pl.DataFrame:
    """`phenotypic_activity` of the guide profiles at `guides_path`, written atomically."""
    if not Path(guides_path).is_file():
        raise HitsError(f"{guides_path}: no guide profiles (run profiles first)")
    table = phenotypic_activity(pl.read_parquet(guides_path), params)
    write_parquet_atomic(table, Path(out))
    return table
