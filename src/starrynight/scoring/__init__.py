"""Score a per-cell table against the synthetic dataset's ground truth (SPEC 8).

Table cells are matched to truth cells by (plate, well, site) and nearest nucleus centroid
within a radius, one to one. The report gives the fraction of truth cells with spots that got
the right gene, the wrong-gene rate among them, nuclei count errors and unmatched cells.
"""

from starrynight.scoring.score import (
    Score,
    ScoringError,
    match_cells,
    read_truth_cells,
    score_cells,
    score_tables,
)

__all__ = ["Score", "ScoringError", "match_cells", "read_truth_cells", "score_cells", "score_tables"]
