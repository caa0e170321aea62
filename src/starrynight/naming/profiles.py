"""File names of the steps after the per-cell table: profiles and hits.

- profiles: `guide_profiles(ws)` (one row per guide per well, normalised to the plate's
  non-targeting controls, selected features), `gene_profiles(ws)` (one row per gene),
  `profiles_summary(ws)` (what went in and what was dropped, JSON);
- hits: `hits_table(ws)` (one row per gene, ranked by phenotypic activity).
"""

from __future__ import annotations

from pathlib import Path

from starrynight import naming

PROFILES = "profiles"
HITS = "hits"


def guide_profiles(workspace: Path) -> Path:
    return naming.step_dir(workspace, PROFILES) / "guide_profiles.parquet"


def gene_profiles(workspace: Path) -> Path:
    return naming.step_dir(workspace, PROFILES) / "gene_profiles.parquet"


def profiles_summary(workspace: Path) -> Path:
    return naming.step_dir(workspace, PROFILES) / "summary.json"


def hits_table(workspace: Path) -> Path:
    return naming.step_dir(workspace, HITS) / "hits.parquet"
