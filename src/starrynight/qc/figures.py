"""The figures a screen is judged by, per well and overall, and their pass / warn / fail thresholds.

Per well (always keyed by plate and well): cells, the share of cells with a gene (a matched
barcode), the share of foci whose read matches a library barcode perfectly, and the alignment
score (the correlation of an SBS cycle's aligned nuclei with cycle 1's, averaged over the
well's sites, for its worst cycle: one failed cycle spoils every barcode). Overall: the worst well's
cells, the screen-wide shares, the worst well's alignment, and library coverage (share of the
library's guides seen in at least one cell). Each reads what the steps wrote (names from the
naming package) and is missing (None) when the step has not run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.qc.stitch_data import stitch_table, stitched_wells

WELL_KEYS = ["plate", "well"]
Status = Literal["pass", "warn", "fail", "n/a"]


class Threshold(BaseModel):
    """A figure passes at or above `warn`, warns between `fail` and `warn`, fails below `fail`."""

    model_config = ConfigDict(extra="forbid")

    warn: float
    fail: float

    def status(self, value: float | None) -> Status:
        if value is None:
            return "n/a"
        return "pass" if value >= self.warn else "warn" if value >= self.fail else "fail"

    def passes(self) -> str:
        return f">= {self.warn:g}"

    def fails(self) -> str:
        return f"< {self.fail:g}"


class Ceiling(BaseModel):
    """A figure where lower is better (a residual): passes at or below `warn`, warns up to
    `fail`, fails above `fail`."""

    model_config = ConfigDict(extra="forbid")

    warn: float
    fail: float

    def status(self, value: float | None) -> Status:
        if value is None:
            return "n/a"
        return "pass" if value <= self.warn else "warn" if value <= self.fail else "fail"

    def passes(self) -> str:
        return f"<= {self.warn:g}"

    def fails(self) -> str:
        return f"> {self.fail:g}"


Figure = Literal[
    "cells_per_well", "matched_share", "perfect_match_share", "alignment_score", "library_coverage"
]
#: figures of stitched screens only (not gated: they are known only once the wells are stitched)
StitchFigure = Literal[
    "registration_residual_cp_px", "registration_matched_nuclei", "overlap_pairs_accepted",
    "overlap_residual_px",
]  # fmt: skip


class QCParameters(BaseModel):
    """Thresholds of the headline figures, and the QC gates of a run."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    cells_per_well: Threshold = Field(
        Threshold(warn=100, fail=20), description="cells in the worst well"
    )
    matched_share: Threshold = Field(
        Threshold(warn=0.7, fail=0.4), description="share of cells with a gene"
    )
    perfect_match_share: Threshold = Field(
        Threshold(warn=0.6, fail=0.3),
        description="share of foci matching a library barcode exactly",
    )
    alignment_score: Threshold = Field(
        Threshold(warn=0.8, fail=0.5),
        description="worst well's worst cycle: mean correlation of its nuclei with cycle 1's",
    )
    library_coverage: Threshold = Field(
        Threshold(warn=0.95, fail=0.8),
        description="share of library guides seen in at least one cell",
    )
    registration_residual_cp_px: Ceiling = Field(
        Ceiling(warn=1.0, fail=2.0),
        description="stitched screens: worst well's median CP<->SBS nucleus residual (CP px)",
    )
    registration_matched_nuclei: Threshold = Field(
        Threshold(warn=100, fail=20),
        description="stitched screens: fewest nuclei the CP<->SBS registration matched in a well",
    )
    overlap_pairs_accepted: Threshold = Field(
        Threshold(warn=0.9, fail=0.7),
        description="stitched screens: lowest share of a well's tile overlaps accepted (either arm)",
    )
    overlap_residual_px: Ceiling = Field(
        Ceiling(warn=0.5, fail=1.0),
        description="stitched screens: worst well's median residual of accepted tile overlaps (px)",
    )
    gates: list[Figure] = Field(
        default_factory=list,  # type: ignore[valid-type]
        description="figures that stop the run after their step when they fail",
    )
    override: list[Figure] = Field(
        default_factory=list,  # type: ignore[valid-type]
        description="gated figures whose failure is accepted (the run goes on)",
    )


STITCH_HEADLINE: tuple[str, ...] = get_args(StitchFigure)
HEADLINE: tuple[str, ...] = get_args(Figure) + STITCH_HEADLINE


def read_csvs(paths: list[Path]) -> pl.DataFrame:
    frames = [pl.read_csv(p, infer_schema_length=10000) for p in paths if p.stat().st_size > 0]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def keyed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.rename({"Metadata_Plate": "plate", "Metadata_Well": "well"}).with_columns(
        pl.col("plate").cast(pl.String), pl.col("well").cast(pl.String)
    )


def read_cells(workspace: Path) -> pl.DataFrame:
    path = naming.analysis.cell_table(workspace)
    return pl.read_parquet(path) if path.is_file() else pl.DataFrame()


def read_foci(workspace: Path) -> pl.DataFrame:
    sbs = naming.sbs
    return read_csvs(
        sorted(naming.outputs_dir(workspace, sbs.SBS_PREPROCESS).glob(f"*/{sbs.foci_table_file()}"))
    )


def read_alignment(workspace: Path) -> pl.DataFrame:
    """plate, well, site row and cycle -> score: correlation of the cycle's aligned nuclei with cycle 1's."""
    sbs = naming.sbs
    frame = read_csvs(
        sorted(
            naming.outputs_dir(workspace, sbs.SBS_ILLUM_APPLY).glob(f"*/{sbs.image_table_file()}")
        )
    )
    # Correlation_Correlation_<cycle-1 aligned nuclei>_<cycle-k aligned nuclei>: the last CycleNN is k
    cols = {
        c: int(re.findall(r"Cycle(\d+)", c)[-1])
        for c in frame.columns
        if c.startswith("Correlation_Correlation_Aligned")
    }
    if not cols or "Metadata_Plate" not in frame.columns:
        return pl.DataFrame(
            schema={"plate": pl.String, "well": pl.String, "cycle": pl.Int64, "score": pl.Float64}
        )
    frame = keyed(frame)
    return pl.concat([
        frame.select(*WELL_KEYS, pl.lit(k).cast(pl.Int64).alias("cycle"), pl.col(c).cast(pl.Float64).alias("score"))
        for c, k in cols.items()
    ])  # fmt: skip


def library_guides(workspace: Path, barcode_csv: Path | None = None) -> list[str]:
    """The barcodes of the screen's library (`barcode_csv`, else the saved experiment's barcode
    CSV), [] if unknown."""
    from starrynight.experiments.pcp_generic import PCPGenericExperiment

    exp = naming.experiment_json(workspace)
    if barcode_csv is not None:
        csv = barcode_csv
    elif exp.is_file():
        csv = PCPGenericExperiment.from_json(exp).barcode_csv_path
    else:
        return []
    if not Path(csv).is_file():
        return []
    return pl.read_csv(csv).get_column("sgRNA").cast(pl.String).to_list()


def per_well(cells: pl.DataFrame, foci: pl.DataFrame, alignment: pl.DataFrame) -> pl.DataFrame:
    """One row per plate and well with every per-well figure (null where its step has not run)."""
    parts = []
    if cells.height:
        parts.append(
            cells.group_by(WELL_KEYS).agg(
                pl.len().alias("cells"), pl.col("gene").is_not_null().mean().alias("matched_share")
            )
        )
    if foci.height and "Metadata_Plate" in foci.columns and naming.sbs.FOCI_SCORE in foci.columns:
        parts.append(
            keyed(foci)
            .group_by(WELL_KEYS)
            .agg(
                (pl.col(naming.sbs.FOCI_SCORE).cast(pl.Float64) >= 1.0)
                .mean()
                .alias("perfect_match_share")
            )
        )
    if alignment.height:
        per_cycle = alignment.group_by([*WELL_KEYS, "cycle"]).agg(pl.col("score").mean())
        parts.append(
            per_cycle.group_by(WELL_KEYS).agg(pl.col("score").min().alias("alignment_score"))
        )
    if not parts:
        return pl.DataFrame(schema={"plate": pl.String, "well": pl.String})
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, on=WELL_KEYS, how="full", coalesce=True)
    return out.sort(WELL_KEYS)


def cells_per_guide(cells: pl.DataFrame, library: list[str]) -> pl.DataFrame:
    """Every library guide (and any matched guide outside it) with its number of cells."""
    seen = (cells.filter(pl.col("matched_barcode").is_not_null()).group_by("matched_barcode").len("cells")
            if cells.height and "matched_barcode" in cells.columns else pl.DataFrame(
                schema={"matched_barcode": pl.String, "cells": pl.UInt32}))  # fmt: skip
    guides = pl.DataFrame(
        {"matched_barcode": library}, schema={"matched_barcode": pl.String}
    ).unique(maintain_order=True)
    return (guides.join(seen, on="matched_barcode", how="full", coalesce=True)
            .with_columns(pl.col("cells").fill_null(0)).rename({"matched_barcode": "guide"}))  # fmt: skip


def skew_ratio(counts: pl.Series) -> float | None:
    """90th over 10th percentile of cells per guide (None when the 10th is 0: skew unbounded)."""
    if counts.len() == 0:
        return None
    p10, p90 = counts.quantile(0.1, "nearest"), counts.quantile(0.9, "nearest")
    return None if not p10 else float(p90) / float(p10)


def _column(frame: pl.DataFrame, name: str) -> pl.Series | None:
    return (
        frame.get_column(name).drop_nulls()
        if name in frame.columns and frame.get_column(name).drop_nulls().len()
        else None
    )


def headline(workspace: Path) -> dict[str, float | None]:
    """The headline figures of the workspace (None: not measured yet)."""
    cells, foci, alignment = read_cells(workspace), read_foci(workspace), read_alignment(workspace)
    wells = per_well(cells, foci, alignment)
    counts = _column(wells, "cells")
    align = _column(wells, "alignment_score")
    perfect = None
    if foci.height and naming.sbs.FOCI_SCORE in foci.columns:
        perfect = float(
            (foci.get_column(naming.sbs.FOCI_SCORE).cast(pl.Float64) >= 1.0).mean() or 0.0
        )
    library = library_guides(workspace)
    coverage = None
    if library and cells.height and "matched_barcode" in cells.columns:
        coverage = float(cells_per_guide(cells, library).filter(pl.col("guide").is_in(library))
                         .select((pl.col("cells") > 0).mean()).item())  # fmt: skip
    return {
        **stitch_headline(stitch_table(stitched_wells(workspace))),
        "cells_per_well": None if counts is None else float(counts.min()),
        "matched_share": float(cells.get_column("gene").is_not_null().mean())
        if "gene" in cells.columns
        else None,
        "perfect_match_share": perfect,
        "alignment_score": None if align is None else float(align.min()),
        "library_coverage": coverage,
    }


def stitch_headline(wells: pl.DataFrame) -> dict[str, float | None]:
    """The stitch figures over a table of `stitch_table` (None without stitched wells)."""

    def worst(columns: list[str], how: str) -> float | None:
        values = (
            pl.concat([wells.get_column(c) for c in columns]).drop_nulls() if wells.height else None
        )
        return None if values is None or values.is_empty() else float(getattr(values, how)())

    return {
        "registration_residual_cp_px": worst(["registration_residual_cp_px"], "max"),
        "registration_matched_nuclei": worst(["matched_nuclei"], "min"),
        "overlap_pairs_accepted": worst(["cp_pairs_accepted", "sbs_pairs_accepted"], "min"),
        "overlap_residual_px": worst(["cp_pair_residual_px", "sbs_pair_residual_px"], "max"),
    }


def judge(
    values: dict[str, float | None], params: QCParameters
) -> list[tuple[str, float | None, Threshold | Ceiling, Status]]:
    """(figure, value, threshold, status) per headline figure."""
    return [(name, values.get(name), getattr(params, name), getattr(params, name).status(values.get(name)))
            for name in HEADLINE]  # fmt: skip
