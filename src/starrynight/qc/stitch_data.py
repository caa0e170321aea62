"""What the stitch step published about each well, read for the QC report (never recomputed).

Each stitched well's manifest lists its QC summary (`stitch_qc`: tile boxes, crop cores,
pair and registration figures), its previews (kind `preview`, one per arm) and its tile-pair
tables (`cp_pairs`, `sbs_pairs`). A well whose stitch did not finish has no manifest and is
absent here; the report lists it as not stitched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from starrynight import manifest, naming
from starrynight.naming import stitch as names

ARMS = ("CP", "SBS")
PAIR_TABLES = {"CP": names.CP_PAIRS, "SBS": names.SBS_PAIRS}


@dataclass(frozen=True)
class StitchedWell:
    """One stitched well: its QC summary, preview files and tile-pair tables (by arm)."""

    plate: str
    well: str
    summary: dict
    previews: dict[str, Path] = field(default_factory=dict)
    pairs: dict[str, pl.DataFrame] = field(default_factory=dict)


def stitched_wells(workspace: Path) -> list[StitchedWell]:
    """Every finished stitch unit that published its QC summary, by plate and well."""
    root = naming.outputs_dir(Path(workspace), names.STITCH)
    units = sorted(root.iterdir()) if root.is_dir() else []
    found = [naming.unit_manifest(u) for u in units if naming.unit_manifest(u).is_file()]
    if not found:
        return []
    rows = manifest.read_manifests(found)
    out = []
    for _, unit_rows in rows.group_by("unit", maintain_order=True):
        files = {(r["kind"], r["name"]): Path(r["path"]) for r in unit_rows.iter_rows(named=True)}
        qc = files.get((names.TABLE_KIND, names.STITCH_QC))
        if qc is None:  # stitched before the step published QC data
            continue
        first = unit_rows.row(0, named=True)
        out.append(StitchedWell(
            plate=str(first["plate"]), well=str(first["well"]), summary=json.loads(qc.read_text()),
            previews={arm: files[(names.PREVIEW_KIND, arm)] for arm in ARMS if (names.PREVIEW_KIND, arm) in files},
            pairs={arm: pl.read_parquet(files[(names.TABLE_KIND, t)]) for arm, t in PAIR_TABLES.items()
                   if (names.TABLE_KIND, t) in files},
        ))  # fmt: skip
    return sorted(out, key=lambda w: (w.plate, w.well))


def _accepted_share(pairs: pl.DataFrame | None) -> float | None:
    return None if pairs is None or pairs.is_empty() else float(pairs.get_column("accepted").mean())


def _median_accepted_residual(pairs: pl.DataFrame | None) -> float | None:
    if pairs is None:
        return None
    accepted = pairs.filter(pl.col("accepted")).get_column("residual_px")
    return None if accepted.is_empty() else float(accepted.median())


def stitch_table(wells: list[StitchedWell]) -> pl.DataFrame:
    """One row per stitched well: tiles, missing sites, tile pairs and their residuals per arm,
    and the CP<->SBS registration."""
    rows = []
    for w in wells:
        row: dict = {"plate": w.plate, "well": w.well}
        for arm in ARMS:
            info, pairs, key = w.summary["arms"][arm], w.pairs.get(arm), arm.lower()
            row.update({
                f"{key}_tiles": info["tiles"], f"{key}_missing_sites": len(info["missing_sites"]),
                f"{key}_pairs": 0 if pairs is None else pairs.height,
                f"{key}_pairs_rejected": 0 if pairs is None else int((~pairs.get_column("accepted")).sum()),
                f"{key}_pairs_accepted": _accepted_share(pairs),
                f"{key}_pair_residual_px": _median_accepted_residual(pairs),
            })  # fmt: skip
        reg = w.summary["registration"]
        row.update({
            "matched_nuclei": reg["matched_nuclei"], "registration_residual_cp_px": reg["median_residual_cp_px"],
            "registration_rms_cp_px": reg["rms_residual_cp_px"], "rotation_deg": reg["rotation_deg"],
            "scale": reg["scale"],
        })  # fmt: skip
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
