"""Profiles: the per-cell table aggregated per guide per well, normalised to the plate's
non-targeting controls, feature-selected, then aggregated per gene (pycytominer).

Only cells with a gene (a matched barcode) enter a profile; the summary counts the others.
Positional measurements (locations, bounding boxes, object numbers) are not phenotypes and
never become features. Columns follow the pycytominer / CytoTable conventions: metadata
`Metadata_Plate`, `Metadata_Well`, `Metadata_Barcode`, `Metadata_Gene`, `Metadata_Control`
(true for the control gene), `Metadata_Cell_Count`; features `<Compartment>_<measurement>`.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight.config import write_parquet_atomic, write_text_atomic
from starrynight.modules.analysis.join import with_cytomining_metadata

COMPARTMENTS = ("Cells", "Nuclei", "Cytoplasm")
#: measurements that say where an object is, not what it looks like
POSITIONAL = re.compile(
    r"Location_|_Center_|BoundingBox|Parent_|Children_|ObjectNumber|Number_Object"
)
GUIDE_KEYS = ("Metadata_Plate", "Metadata_Well", "Metadata_Barcode", "Metadata_Gene")
GENE_KEYS = ("Metadata_Gene",)
CELL_COUNT = "Metadata_Cell_Count"
CONTROL = "Metadata_Control"
FEATURE_SELECTIONS = (
    "variance_threshold",
    "correlation_threshold",
    "drop_na_columns",
    "drop_outliers",
)


class ProfilesError(ValueError):
    """The per-cell table cannot be profiled as configured."""


class ProfilesParameters(BaseModel):
    """How cells become guide and gene profiles."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    control_gene: str = Field("nontargeting", description="gene symbol of the non-targeting guides")
    aggregation: Literal["median", "mean"] = Field(
        "median", description="cells -> guide, guides -> gene"
    )
    normalization: Literal["standardize", "robustize", "mad_robustize"] = Field(
        "standardize", description="pycytominer method, fitted on each plate's control profiles"
    )
    feature_selection: list[Literal[FEATURE_SELECTIONS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["variance_threshold", "correlation_threshold", "drop_na_columns"],
        description="pycytominer feature_select operations, in order",
    )
    correlation_threshold: float = Field(
        0.9, gt=0, le=1, description="drop one of two features correlated above this"
    )


def _pycytominer():  # -> the pycytominer module
    """pycytominer, imported without its warning about a pandas option that pandas 3 retired
    (harmless: the option it sets is pandas 3's only behaviour)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The 'mode.copy_on_write' option is deprecated")
        import pycytominer
    return pycytominer


def feature_columns(cells: pl.DataFrame) -> list[str]:
    """The numeric phenotype measurements of a per-cell table."""
    numeric = {n for n, t in cells.schema.items() if t.is_numeric()}
    return [c for c in cells.columns
            if c.startswith(tuple(f"{p}_" for p in COMPARTMENTS)) and c in numeric and not POSITIONAL.search(c)]  # fmt: skip


def aggregate_guides(cells: pl.DataFrame, operation: str) -> pl.DataFrame:
    """One profile per guide per well: the `operation` of each feature over its cells."""
    aggregate = _pycytominer().aggregate

    cells = with_cytomining_metadata(cells).filter(pl.col("Metadata_Gene").is_not_null())
    features = feature_columns(cells)
    if not features:
        raise ProfilesError(
            "per-cell table: no Cells_/Nuclei_/Cytoplasm_ measurement columns to profile"
        )
    keys = list(GUIDE_KEYS)
    frame = cells.select(*keys, *[pl.col(f).cast(pl.Float64) for f in features])
    profiles = pl.from_pandas(
        aggregate(frame.to_pandas(), strata=keys, features=features, operation=operation)
    )
    counts = frame.group_by(keys).agg(pl.len().cast(pl.Int64).alias(CELL_COUNT))
    return profiles.join(counts, on=keys).select(*keys, CELL_COUNT, *features).sort(keys)


def normalize_per_plate(profiles: pl.DataFrame, control_gene: str, method: str) -> pl.DataFrame:
    """Each plate's profiles scaled by its control profiles (pycytominer `normalize`)."""
    normalize = _pycytominer().normalize

    meta = [c for c in profiles.columns if c.startswith("Metadata_")]
    features = [c for c in profiles.columns if c not in meta]
    parts = []
    for (plate,), group in profiles.group_by(["Metadata_Plate"], maintain_order=True):
        if not (group.get_column("Metadata_Gene") == control_gene).any():
            raise ProfilesError(
                f"plate {plate}: no cells of the control gene {control_gene!r} "
                "(profiles.control_gene); cannot normalise to controls"
            )
        query = f"Metadata_Gene == {control_gene!r}"
        normed = normalize(group.to_pandas(), features=features, meta_features=meta, samples=query,
                           method=method, output_file=None)  # fmt: skip
        parts.append(pl.from_pandas(normed))
    return pl.concat(parts).select(profiles.columns)


def select_features(
    profiles: pl.DataFrame, operations: list[str], correlation_threshold: float
) -> pl.DataFrame:
    """The profiles with only the features pycytominer `feature_select` keeps."""
    feature_select = _pycytominer().feature_select

    if not operations:
        return profiles
    meta = [c for c in profiles.columns if c.startswith("Metadata_")]
    features = [c for c in profiles.columns if c not in meta]
    kept = feature_select(profiles.to_pandas(), features=features, operation=list(operations),
                          corr_threshold=correlation_threshold, output_file=None)  # fmt: skip
    return profiles.select(*meta, *[c for c in features if c in kept.columns])


def aggregate_genes(guides: pl.DataFrame, operation: str) -> pl.DataFrame:
    """One profile per gene over all its guide-well profiles, with guide, well and cell counts."""
    aggregate = _pycytominer().aggregate

    meta = [c for c in guides.columns if c.startswith("Metadata_")]
    features = [c for c in guides.columns if c not in meta]
    keys = list(GENE_KEYS)
    profiles = pl.from_pandas(aggregate(guides.select(*keys, *features).to_pandas(), strata=keys,
                                        features=features, operation=operation))  # fmt: skip
    counts = guides.group_by(keys).agg(
        pl.col("Metadata_Barcode").n_unique().alias("Metadata_Guide_Count"),
        pl.len().alias("Metadata_Profile_Count"), pl.col(CELL_COUNT).sum(), pl.col(CONTROL).first(),
    )  # fmt: skip
    return profiles.join(counts, on=keys).select(*keys, *counts.columns[1:], *features).sort(keys)


def build_profiles(
    cells: pl.DataFrame, params: ProfilesParameters
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(guide profiles, gene profiles, summary) of a per-cell table."""
    cells = with_cytomining_metadata(cells)
    raw = aggregate_guides(cells, params.aggregation)
    normed = normalize_per_plate(raw, params.control_gene, params.normalization)
    guides = select_features(normed, params.feature_selection, params.correlation_threshold)
    guides = guides.with_columns((pl.col("Metadata_Gene") == params.control_gene).alias(CONTROL))
    features = [c for c in guides.columns if not c.startswith("Metadata_")]
    guides = guides.select(*GUIDE_KEYS, CELL_COUNT, CONTROL, *features)
    genes = aggregate_genes(guides, params.aggregation)
    n_features = len(raw.columns) - len(GUIDE_KEYS) - 1
    summary = {
        "cells": cells.height,
        "cells_without_gene": cells.filter(pl.col("Metadata_Gene").is_null()).height,
        "guide_profiles": guides.height, "gene_profiles": genes.height,
        "control_profiles": int(guides.get_column(CONTROL).sum()),
        "features_measured": n_features, "features_selected": len(features),
        "parameters": params.model_dump(),
    }  # fmt: skip
    return guides, genes, summary


def write_profiles(
    cells_path: Path,
    guides_out: Path,
    genes_out: Path,
    summary_out: Path,
    params: ProfilesParameters,
) -> dict:
    """`build_profiles` on the per-cell table at `cells_path`, every output written atomically."""
    if not Path(cells_path).is_file():
        raise ProfilesError(f"{cells_path}: no per-cell table (run analysis first)")
    guides, genes, summary = build_profiles(pl.read_parquet(cells_path), params)
    write_parquet_atomic(guides, Path(guides_out))
    write_parquet_atomic(genes, Path(genes_out))
    write_text_atomic(Path(summary_out), json.dumps(summary, indent=2))
    return summary
