"""Scoring on constructed tables whose outcome is known exactly."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from starrynight.scoring import ScoringError, match_cells, score_cells, score_tables
from starrynight.scoring.cli import score_command


def _truth() -> pl.DataFrame:
    return pl.DataFrame({
        "plate": ["P1"] * 6, "well": ["A1"] * 6, "site": [0, 0, 0, 0, 1, 1],
        "cell_id": [1, 2, 3, 4, 1, 2],
        "nucleus_y": [10.0, 50.0, 90.0, 130.0, 10.0, 60.0],
        "nucleus_x": [10.0, 50.0, 90.0, 130.0, 10.0, 60.0],
        "gene": ["G1", "G2", "G1", None, "G3", "G2"],
        "has_spots": [True, True, True, False, True, True],
    })  # fmt: skip


def _table() -> pl.DataFrame:
    return pl.DataFrame({
        "plate": ["P1"] * 7, "well": ["A1"] * 7, "site": [0, 0, 0, 0, 0, 1, 2],
        "y": [11.0, 50.0, 110.0, 131.0, 200.0, 10.0, 10.0],
        "x": [10.0, 53.0, 90.0, 130.0, 200.0, 12.0, 10.0],
        "gene": ["G1", "G3", "G1", None, "G2", None, "G1"],
    })  # fmt: skip


def test_constructed_case_gives_exact_fractions() -> None:
    score = score_cells(_truth(), _table(), radius=8.0)
    assert (score.truth_cells, score.table_cells, score.matched) == (6, 7, 4)
    assert (score.truth_unmatched, score.table_unmatched) == (2, 3)
    assert score.truth_with_spots == 5
    assert (score.right_gene, score.wrong_gene) == (1, 1)
    assert score.right_gene_fraction == pytest.approx(0.2)
    assert score.wrong_gene_rate == pytest.approx(0.2)
    assert score.nuclei_count_error == pytest.approx(1 / 6)
    by_site = {s.site: (s.truth, s.found, s.relative_error) for s in score.sites}
    assert by_site == {0: (4, 5, 0.25), 1: (2, 1, -0.5), 2: (0, 1, None)}
    assert score.mean_abs_site_count_error == pytest.approx(0.375)
    assert "20.0 %" in score.report()


def test_a_larger_radius_matches_more_cells() -> None:
    score = score_cells(_truth(), _table(), radius=25.0)
    assert score.matched == 5  # the cell 20 px off now matches and carries the right gene
    assert score.right_gene == 2


def test_matching_is_one_to_one_and_closest_first() -> None:
    truth = pl.DataFrame({"plate": ["P"], "well": ["A1"], "site": [0], "nucleus_y": [0.0],
                          "nucleus_x": [0.0], "gene": ["G"], "has_spots": [True]})
    table = pl.DataFrame({"plate": ["P", "P"], "well": ["A1", "A1"], "site": [0, 0],
                          "y": [0.0, 0.0], "x": [3.0, 1.0], "gene": ["X", "G"]})
    pairs = match_cells(truth, table, 8.0)
    assert pairs.select("truth_row", "table_row").rows() == [(0, 1)]
    assert score_cells(truth, table).right_gene_fraction == 1.0


def test_cells_of_another_site_never_match() -> None:
    truth = _truth().filter(pl.col("site") == 0)
    table = _table().with_columns(pl.lit(5).alias("site"))
    score = score_cells(truth, table)
    assert score.matched == 0
    assert score.right_gene_fraction == 0.0


def test_cli_prints_report_and_writes_json(tmp_path) -> None:
    (tmp_path / "truth").mkdir()
    _truth().write_parquet(tmp_path / "truth" / "cells.parquet")
    _table().write_parquet(tmp_path / "cells.parquet")
    out = tmp_path / "score.json"
    result = CliRunner().invoke(score_command, ["--truth", str(tmp_path), "--cells",
                                                str(tmp_path / "cells.parquet"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "right gene: 1 (20.0 %)" in result.output
    assert json.loads(out.read_text())["wrong_gene"] == 1


def test_missing_column_is_a_clear_error(tmp_path) -> None:
    _truth().write_parquet(tmp_path / "cells_truth.parquet")
    _table().drop("gene").write_parquet(tmp_path / "cells.parquet")
    with pytest.raises(ScoringError, match=r"cell table: missing column\(s\) \['gene'\]"):
        score_tables(tmp_path / "cells_truth.parquet", tmp_path / "cells.parquet")
    result = CliRunner().invoke(score_command, ["--truth", str(tmp_path / "nowhere"),
                                                "--cells", str(tmp_path / "cells.parquet")])
    assert result.exit_code != 0
    assert "no truth cells here" in result.output
    assert "Traceback" not in result.output
