"""Score a hit table against the synthetic screen's true phenotypes.

Recall per effect strength (the share of truly affected genes called hits) and the false-call
rate among genes without an effect. Every gene of the truth must be in the hit table: a gene
missing there (no profiles) is reported as missing, never counted as a non-hit.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import BaseModel

from starrynight.scoring.score import ScoringError

PHENOTYPES = "phenotypes.parquet"


class HitScore(BaseModel):
    """Hit calling vs truth; rates are fractions (0..1), None when a group is empty."""

    genes: dict[str, int]  # strength -> genes in the truth
    called: dict[str, int]  # strength -> of those, called hits
    recall: dict[str, float | None]  # large / subtle: called share
    false_call_rate: float | None  # share of no-effect genes called
    missing: list[str]  # truth genes absent from the hit table

    def report(self) -> str:
        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.0f} %"

        lines = [f"{s} effect: {self.called.get(s, 0)} of {self.genes.get(s, 0)} genes called "
                 f"({pct(self.recall.get(s))})" for s in ("large", "subtle")]  # fmt: skip
        lines.append(
            f"no effect: {self.called.get('none', 0)} of {self.genes.get('none', 0)} genes called "
            f"({pct(self.false_call_rate)})"
        )
        if self.missing:
            lines.append(f"not in the hit table: {', '.join(self.missing)}")
        return "\n".join(lines)


def score_hits(hits: pl.DataFrame, phenotypes: pl.DataFrame) -> HitScore:
    """Compare `hits` (Metadata_Gene, hit) with the truth (gene, strength)."""
    for frame, cols, what in (
        (hits, ("Metadata_Gene", "hit"), "hit table"),
        (phenotypes, ("gene", "strength"), "truth"),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ScoringError(f"{what}: missing column(s) {missing}")
    joined = phenotypes.join(
        hits.select(pl.col("Metadata_Gene").alias("gene"), "hit"), on="gene", how="left"
    )
    absent = joined.filter(pl.col("hit").is_null()).get_column("gene").to_list()
    known = joined.filter(pl.col("hit").is_not_null())
    genes = dict(known.group_by("strength").len().iter_rows())
    called = dict(known.group_by("strength").agg(pl.col("hit").sum()).iter_rows())

    def share(strength: str) -> float | None:
        return called.get(strength, 0) / genes[strength] if genes.get(strength) else None

    return HitScore(genes=genes, called={k: int(v) for k, v in called.items()},
                    recall={s: share(s) for s in ("large", "subtle")}, false_call_rate=share("none"),
                    missing=sorted(absent))  # fmt: skip


def score_hit_files(hits_path: Path, truth: Path) -> HitScore:
    """Score the hit table at `hits_path` against the phenotypes of a dataset root, its `truth/`
    folder, or a phenotypes parquet."""
    if not Path(hits_path).is_file():
        raise ScoringError(f"{hits_path}: no such file")
    truth = Path(truth)
    for candidate in (truth / "truth" / PHENOTYPES, truth / PHENOTYPES, truth):
        if candidate.is_file():
            return score_hits(pl.read_parquet(hits_path), pl.read_parquet(candidate))
    raise ScoringError(
        f"{truth}: no true phenotypes here (looked for truth/{PHENOTYPES}, {PHENOTYPES})"
    )
