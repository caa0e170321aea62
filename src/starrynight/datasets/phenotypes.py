"""True phenotypes of the synthetic screen: which genes change the cells they are knocked out in.

Most genes do nothing. A few have a large effect and a few a subtle one, each of one kind:

- `nucleus_size`: larger nuclei (both semi-axes scaled);
- `cell_size`: cell bodies reaching further beyond the nucleus (changed cell shape);
- `mito_dim`: dimmer mitochondria;
- `mito_clumped`: mitochondria collapsed into bright puncta around the nucleus, less network.

An effect is a multiplier on a parameter the scene draws per cell, so a cell of a no-effect
gene (or without a barcode) is drawn exactly as without phenotypes: the random streams are the
same. Non-targeting guides never have an effect. `phenotype_table` is what the truth records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

KINDS = ("nucleus_size", "cell_size", "mito_dim", "mito_clumped")
#: the multiplier (for mito_clumped: the clumping, 0 = none) of each kind, by strength
FACTORS: dict[str, dict[str, float]] = {
    "large": {"nucleus_size": 1.3, "cell_size": 1.6, "mito_dim": 0.45, "mito_clumped": 0.8},
    "subtle": {"nucleus_size": 1.1, "cell_size": 1.15, "mito_dim": 0.85, "mito_clumped": 0.25},
}
LARGE_FRACTION = 0.3
SUBTLE_FRACTION = 0.2
NONE = "none"


@dataclass(frozen=True)
class CellEffects:
    """Per-cell multipliers the scene applies; index i is the cell with label i + 1."""

    nucleus_scale: np.ndarray
    extent_scale: np.ndarray
    mito_level: np.ndarray
    mito_clumping: np.ndarray

    @classmethod
    def neutral(cls, n: int) -> CellEffects:
        return cls(np.ones(n), np.ones(n), np.ones(n), np.zeros(n))


def assign_phenotypes(seed: int, genes: list[str], nontargeting: str) -> pl.DataFrame:
    """One row per distinct targeting gene: `gene`, `strength` (large/subtle/none), `kind`
    (null for none) and `factor` (the multiplier, null for none). Deterministic in `seed`."""
    targeting = sorted({g for g in genes if g != nontargeting})
    rng = np.random.default_rng([seed, 4])
    order = rng.permutation(len(targeting))
    n_large = int(round(LARGE_FRACTION * len(targeting)))
    n_subtle = int(round(SUBTLE_FRACTION * len(targeting)))
    strength = np.full(len(targeting), NONE, dtype=object)
    strength[order[:n_large]] = "large"
    strength[order[n_large : n_large + n_subtle]] = "subtle"
    kinds = [KINDS[i % len(KINDS)] for i in rng.permutation(len(targeting))]
    rows = [
        {"gene": g, "strength": s, "kind": None if s == NONE else k,
         "factor": None if s == NONE else FACTORS[s][k]}
        for g, s, k in zip(targeting, strength, kinds, strict=True)
    ]  # fmt: skip
    schema = {"gene": pl.String, "strength": pl.String, "kind": pl.String, "factor": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def cell_effects(
    phenotypes: pl.DataFrame, library_genes: list[str], cell_code: np.ndarray
) -> CellEffects:
    """The multipliers of cells whose library index is `cell_code` (-1: no barcode, no effect)."""
    effects = CellEffects.neutral(len(cell_code))
    by_gene = {r["gene"]: r for r in phenotypes.iter_rows(named=True) if r["kind"] is not None}
    target = {"nucleus_size": effects.nucleus_scale, "cell_size": effects.extent_scale,
              "mito_dim": effects.mito_level, "mito_clumped": effects.mito_clumping}  # fmt: skip
    for i, code in enumerate(cell_code):
        row = by_gene.get(library_genes[code]) if code >= 0 else None
        if row is not None:
            target[row["kind"]][i] = row["factor"]
    return effects
