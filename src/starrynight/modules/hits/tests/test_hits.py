"""Hits from small synthetic screens with known effects: strong genes are called, null genes are
not, the table is ranked, and the hit score against truth counts both."""

from __future__ import annotations

import polars as pl
import pytest

from starrynight.modules.hits.step import HitsError, HitsParameters, phenotypic_activity, write_hits
from starrynight.modules.profiles.step import ProfilesParameters, build_profiles
from starrynight.scoring.hits import score_hits

EFFECTS = {"BIG1": 2.0, "BIG2": 1.5, **{f"NULL{i}": 0.0 for i in range(8)}}
FAST = HitsParameters(null_size=2000)


@pytest.fixture
def guides(make_cells):
    cells = make_cells(seed=3, effects=EFFECTS, controls=6, cells=15, plate_offset=2.0)
    return build_profiles(cells, ProfilesParameters())[0]


def test_genes_with_an_effect_are_hits_and_null_genes_are_not(guides) -> None:
    hits = phenotypic_activity(guides, FAST)
    assert hits.columns[:5] == [
        "Metadata_Gene",
        "mean_average_precision",
        "p_value",
        "corrected_p_value",
        "hit",
    ]
    assert set(hits.get_column("Metadata_Gene")) == set(
        EFFECTS
    )  # controls are the reference, not scored
    called = set(hits.filter("hit").get_column("Metadata_Gene"))
    assert {"BIG1", "BIG2"} <= called
    assert len(called - {"BIG1", "BIG2"}) <= 1
    assert hits.get_column("Metadata_Gene").head(2).sort().to_list() == [
        "BIG1",
        "BIG2",
    ]  # ranked first
    assert hits.get_column("corrected_p_value").is_sorted()
    assert (hits.get_column("n_profiles") == 2 * 2 * 2).all()  # guides x wells x plates


def test_a_gene_with_one_profile_keeps_its_row_unscored(guides) -> None:
    lone = (
        guides.filter(pl.col("Metadata_Gene") == "NULL0")
        .head(1)
        .with_columns(pl.lit("LONE").alias("Metadata_Gene"))
    )
    hits = phenotypic_activity(pl.concat([guides, lone]), FAST)
    row = hits.filter(pl.col("Metadata_Gene") == "LONE")
    assert row.height == 1 and row.get_column("mean_average_precision").item() is None
    assert (
        not row.get_column("hit").item()
        and hits.get_column("Metadata_Gene").tail(1).item() == "LONE"
    )


def test_a_stricter_fdr_calls_no_more_hits(guides) -> None:
    loose = (
        phenotypic_activity(guides, HitsParameters(null_size=2000, fdr=0.25))
        .get_column("hit")
        .sum()
    )
    strict = (
        phenotypic_activity(guides, HitsParameters(null_size=2000, fdr=0.001))
        .get_column("hit")
        .sum()
    )
    assert strict <= loose


def test_profiles_without_controls_are_a_clear_error(guides, tmp_path) -> None:
    with pytest.raises(HitsError, match="no control profiles"):
        phenotypic_activity(guides.filter(~pl.col("Metadata_Control")), FAST)
    with pytest.raises(HitsError, match="no guide profiles"):
        write_hits(tmp_path / "missing.parquet", tmp_path / "hits.parquet", FAST)


def test_hit_score_counts_recall_per_strength_and_false_calls() -> None:
    hits = pl.DataFrame(
        {"Metadata_Gene": ["A", "B", "C", "D", "E"], "hit": [True, False, True, True, False]}
    )
    truth = pl.DataFrame({"gene": ["A", "B", "C", "D", "E", "F"],
                          "strength": ["large", "large", "subtle", "none", "none", "none"]})  # fmt: skip
    score = score_hits(hits, truth)
    assert score.recall == {"large": 0.5, "subtle": 1.0}
    assert score.false_call_rate == 0.5  # D of D, E (F has no row: missing, not a non-hit)
    assert score.missing == ["F"]
    assert "large effect: 1 of 2 genes called (50 %)" in score.report()


def test_hit_files_are_scored_from_a_dataset_root(tmp_path) -> None:
    from starrynight.scoring import ScoringError
    from starrynight.scoring.hits import score_hit_files

    hits = tmp_path / "hits.parquet"
    pl.DataFrame({"Metadata_Gene": ["A", "B"], "hit": [True, False]}).write_parquet(hits)
    with pytest.raises(ScoringError, match="no true phenotypes here"):
        score_hit_files(hits, tmp_path)
    (tmp_path / "truth").mkdir()
    pl.DataFrame({"gene": ["A", "B"], "strength": ["large", "none"]}).write_parquet(
        tmp_path / "truth" / "phenotypes.parquet"
    )
    score = score_hit_files(hits, tmp_path)
    assert score.recall["large"] == 1.0 and score.false_call_rate == 0.0
