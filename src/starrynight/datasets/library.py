"""The barcode library: sgRNA barcodes over ACGT, one base per SBS cycle, with a minimum
pairwise Hamming distance so that every barcode is called unambiguously."""

from __future__ import annotations

import numpy as np

BASE_LETTERS = "ACGT"

# Gene symbols of a small made-up screen (real human genes, two guides each).
GENES: tuple[str, ...] = (
    "TP53", "MYC", "KRAS", "EGFR", "PTEN", "RB1", "CDK4", "MTOR", "ATM", "BRCA1", "NF1", "SMAD4",
    "VHL", "APC", "CTNNB1", "PIK3CA", "AKT1", "BRAF", "NRAS", "MDM2", "CDKN2A", "STK11", "KEAP1",
    "ARID1A", "TSC1", "TSC2", "PLK1", "AURKB", "RAN", "POLR2A", "RPL3", "PSMA1", "SF3B1", "EIF3A",
)
NONTARGETING = "nontargeting"


_ENUMERATE_UP_TO = 8  # longer words are drawn at random instead of enumerated


def _candidates(rng: np.random.Generator, n: int, length: int, parity: bool) -> np.ndarray:
    """Candidate words in random order; with `parity` the last base is the sum of the others mod 4,
    so any two candidates differ in at least two positions."""
    free_len = length - 1 if parity else length
    if free_len <= _ENUMERATE_UP_TO:
        free = np.indices((4,) * free_len).reshape(free_len, -1).T
        free = free[rng.permutation(len(free))]
    else:
        free = rng.integers(0, 4, size=(max(50 * n, 1000), free_len))
    if parity:
        free = np.concatenate([free, free.sum(axis=1, keepdims=True) % 4], axis=1)
    return free.astype(np.int8)


def make_barcodes(rng: np.random.Generator, n: int, length: int, min_distance: int = 2) -> np.ndarray:
    """`n` distinct barcodes (rows of base indices 0..3) with pairwise Hamming >= `min_distance`."""
    pool = _candidates(rng, n, length, parity=min_distance >= 2)
    chosen: list[np.ndarray] = []
    for word in pool:
        if len(chosen) == n:
            break
        if not chosen or (np.asarray(chosen) != word).sum(axis=1).min() >= max(min_distance, 1):
            chosen.append(word)
    if len(chosen) < n:
        raise ValueError(f"library_size: only {len(chosen)} barcodes of length {length} with Hamming "
                         f"distance >= {min_distance} were found, {n} requested")
    return np.asarray(chosen, dtype=np.int8)


def barcode_strings(codes: np.ndarray) -> list[str]:
    return ["".join(BASE_LETTERS[b] for b in row) for row in codes]


def library_genes(n: int, nontargeting: int, guides_per_gene: int = 2) -> list[str]:
    """Gene symbol per barcode: targeting genes with `guides_per_gene` guides each (consecutive
    barcodes), then the non-targeting controls."""
    targeting = n - nontargeting
    g = guides_per_gene
    genes = [GENES[i // g] if i // g < len(GENES) else f"GENE{i // g + 1}" for i in range(targeting)]
    return genes + [NONTARGETING] * nontargeting
