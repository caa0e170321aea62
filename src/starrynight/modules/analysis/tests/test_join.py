"""Foci to cells on constructed label images and tables (no CellProfiler needed)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import tifffile
from click.testing import CliRunner

from starrynight import naming
from starrynight.manifest import Product, Publication, expected_files, with_sizes, write_manifest
from starrynight.modules.analysis.cli import analysis_group
from starrynight.modules.analysis.join import (
    JoinError,
    assign_site_foci,
    cells_at,
    join_unit,
    reach_labels,
    vote_barcodes,
)
from starrynight.naming import analysis as names
from starrynight.naming import sbs as sbs_names


def _labels() -> np.ndarray:
    """Cell 1 top-left, cell 2 top-right, cell 3 the bottom half of a 20x20 field."""
    labels = np.zeros((20, 20), np.int32)
    labels[:10, :10], labels[:10, 10:], labels[10:, :] = 1, 2, 3
    labels[19, 19] = 0
    return labels


def _foci(xs: list[float], ys: list[float], **columns) -> pl.DataFrame:
    n = len(xs)
    base = {"plate": ["P1"] * n, "well": ["A1"] * n, "site": [0] * n, "x": xs, "y": ys,
            "called": ["AC"] * n, "quality": [1.0] * n, "matched": ["AC"] * n, "gene": ["G1"] * n,
            "score": [1.0] * n, "n_best": [1] * n}  # fmt: skip
    return pl.DataFrame({**base, **columns})


def test_cells_at_reads_the_nearest_pixel_and_zero_outside() -> None:
    hits = cells_at(_labels(), np.array([4.4, 10.6, 3.0, -1.0, 19.2, 25.0]),
                    np.array([4.0, 3.0, 15.0, 5.0, 19.4, 1.0]))  # fmt: skip
    assert hits.tolist() == [1, 2, 3, 0, 0, 0]


def test_the_registration_shift_moves_foci_into_the_right_cell() -> None:
    # CP = SBS + shift: (8.6, 4) -> (10.6, 3) is in cell 2 (cell 1 without the shift);
    # (3, 10.2) -> (5, 9.2) is in cell 1 (cell 3 without it); the last lands outside.
    foci = _foci([8.6, 3.0, -4.0], [4.0, 10.2, 2.0])
    assigned = assign_site_foci(foci, _labels(), shift_x=2.0, shift_y=-1.0)
    assert assigned.get_column("cell_id").to_list() == [2, 1, 0]
    assert assigned.get_column("x_cp").to_list() == pytest.approx([10.6, 5.0, -2.0])
    unshifted = assign_site_foci(foci, _labels(), shift_x=0.0, shift_y=0.0)
    assert unshifted.get_column("cell_id").to_list() == [1, 3, 0]


def test_reach_grows_cells_into_the_background_only() -> None:
    labels = np.zeros((10, 10), np.int32)
    labels[2:4, 2:4], labels[2:4, 7:9] = 1, 2
    grown = reach_labels(labels, 2.0)
    assert grown[2, 5] == 1 and grown[2, 6] == 2  # the gap splits between the nearest cells
    assert grown[3, 0] == 1 and grown[9, 9] == 0  # 2 px reach, not further
    assert (grown[labels > 0] == labels[labels > 0]).all()
    assert reach_labels(labels, 0.0) is labels


def test_vote_weighs_quality_and_match_score() -> None:
    foci = _foci(
        [0, 0, 0, 0, 0], [0, 0, 0, 0, 0],
        cell_id=[1, 1, 1, 2, 0],
        called=["AC", "GT", "GA", "AA", "CC"],
        quality=[0.9, 0.5, 0.6, 0.8, 1.0],
        matched=["AC", "GT", "GT", "AC", "CC"],
        gene=["G1", "G2", "G2", "G1", "G3"],
        score=[1.0, 1.0, 0.5, 0.5, 1.0],
    )  # fmt: skip
    votes = vote_barcodes(foci, min_match_score=0.5).sort("cell_id")
    # cell 1: AC has 0.9, GT has 0.5 + 0.6 * 0.5 = 0.8 -> AC wins with 0.9 / 1.7
    one, two = votes.rows(named=True)
    assert (one["matched_barcode"], one["gene"], one["barcode"], one["n_foci"]) == ("AC", "G1", "AC", 3)
    assert one["vote_fraction"] == pytest.approx(0.9 / 1.7)
    # cell 2: one read with an error still names its library barcode and gene
    assert (two["barcode"], two["matched_barcode"], two["gene"]) == ("AA", "AC", "G1")
    assert two["match_score"] == 0.5 and two["n_foci"] == 1
    assert 0 not in votes.get_column("cell_id").to_list()


def _write_unit(unit_dir, foci_dir, site: int = 0) -> None:
    unit_dir.mkdir(parents=True)
    foci_dir.mkdir(parents=True, exist_ok=True)
    sx, sy = names.registration_shift_feature("X"), names.registration_shift_feature("Y")
    pl.DataFrame({"ImageNumber": [1], "Metadata_Batch": ["B1"], "Metadata_Plate": ["P1"],
                  "Metadata_Well": ["A1"], "Metadata_Site": [site], sx: [2], sy: [-1]}
                 ).write_csv(unit_dir / names.image_table_file())  # fmt: skip
    ids = [1, 2, 3]
    pl.DataFrame({"ImageNumber": [1] * 3, "ObjectNumber": ids, "Parent_Nuclei": ids,
                  "Children_Cytoplasm_Count": [1] * 3, "AreaShape_Area": [100, 100, 199]}
                 ).write_csv(unit_dir / names.object_table_file(names.CELLS))  # fmt: skip
    pl.DataFrame({"ImageNumber": [1] * 3, "ObjectNumber": ids, "Location_Center_X": [4.5, 14.5, 9.5],
                  "Location_Center_Y": [4.5, 4.5, 14.5], "AreaShape_Area": [20, 21, 22]}
                 ).write_csv(unit_dir / names.object_table_file(names.NUCLEI))  # fmt: skip
    pl.DataFrame({"ImageNumber": [1] * 3, "ObjectNumber": ids, "Parent_Cells": ids, "Parent_Nuclei": ids,
                  "AreaShape_Area": [80, 79, 177]}
                 ).write_csv(unit_dir / names.object_table_file(names.CYTOPLASM))  # fmt: skip
    tifffile.imwrite(unit_dir / names.cell_labels_file("P1", "A1", site), _labels())
    pl.DataFrame({"ImageNumber": [1, 1, 1], "ObjectNumber": [1, 2, 3], "Metadata_Plate": ["P1"] * 3,
                  "Metadata_Well": ["A1"] * 3, "Metadata_Site": [site, site, site],
                  sbs_names.FOCI_X: [8.6, 8.0, 30.0], sbs_names.FOCI_Y: [4.0, 3.0, 3.0],
                  sbs_names.FOCI_CALLED: ["GT", "GT", "AC"], sbs_names.FOCI_QUALITY: [0.9, 0.8, 1.0],
                  sbs_names.FOCI_MATCHED: ["GT", "GT", "AC"], sbs_names.FOCI_GENE: ["G2", "G2", "G1"],
                  sbs_names.FOCI_SCORE: [1.0, 1.0, 1.0], sbs_names.FOCI_NUM_BEST: [1, 1, 1]}
                 ).write_csv(foci_dir / sbs_names.foci_table_file())  # fmt: skip
    publication = Publication(step=sbs_names.SBS_PREPROCESS, products=[
        Product(kind="table", name=sbs_names.FOCI_OBJECTS, file=sbs_names.foci_table_file())])  # fmt: skip
    rows = expected_files(publication, pl.DataFrame({"Metadata_Plate": ["P1"]}), producer="test")
    write_manifest(with_sizes(rows, foci_dir)[0], foci_dir)


def test_join_unit_gives_features_position_and_gene(tmp_path) -> None:
    _write_unit(tmp_path / "unit", tmp_path / "foci")
    cells = join_unit(tmp_path / "unit", [tmp_path / "foci" / sbs_names.foci_table_file()])
    assert cells.columns[:7] == ["batch", "plate", "well", "site", "cell_id", "x", "y"]
    for column in ("Cells_AreaShape_Area", "Nuclei_AreaShape_Area", "Cytoplasm_AreaShape_Area",
                   *("barcode", "matched_barcode", "gene", "match_score", "n_foci")):  # fmt: skip
        assert column in cells.columns
    assert not any(c.startswith(("Cells_Parent", "Cells_Children", "Cells_ObjectNumber")) for c in cells.columns)
    rows = {r["cell_id"]: r for r in cells.iter_rows(named=True)}
    assert rows[2]["gene"] == "G2" and rows[2]["n_foci"] == 2
    assert rows[2]["x"] == 14.5 and rows[2]["Cytoplasm_AreaShape_Area"] == 79
    assert rows[1]["gene"] is None and rows[1]["n_foci"] == 0  # the third focus is outside the field
    assert rows[3]["Nuclei_AreaShape_Area"] == 22


def test_table_concatenates_units_and_cli_reports_errors(tmp_path) -> None:
    runner = CliRunner()
    outs = []
    for site in (0, 1):
        unit, foci, out = tmp_path / f"unit{site}", tmp_path / f"foci{site}", tmp_path / "joined" / f"u{site}"
        _write_unit(unit, foci, site)
        args = ["join", "--cp-dir", str(unit), "--out-dir", str(out)]
        result = runner.invoke(analysis_group, args + ([str(naming.unit_manifest(foci))] if site == 1 else []))
        assert result.exit_code == 0, result.output
        outs.append(str(out))
    table_path = tmp_path / "cells.parquet"
    result = runner.invoke(analysis_group, ["table", "--output", str(table_path), *reversed(outs)])
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(table_path)
    assert table.get_column("site").to_list() == [0, 0, 0, 1, 1, 1]
    assert table.filter(pl.col("site") == 1, pl.col("cell_id") == 2).get_column("gene").item() == "G2"
    assert table.filter(pl.col("site") == 0).get_column("n_foci").sum() == 0  # no foci given

    missing = runner.invoke(analysis_group, ["table", "--output", str(tmp_path / "x.parquet"),
                                             str(tmp_path / "nowhere")])  # fmt: skip
    assert missing.exit_code != 0 and "unit cell table missing" in missing.output
    assert "Traceback" not in missing.output
    (tmp_path / "unit0" / names.cell_labels_file("P1", "A1", 0)).unlink()
    with pytest.raises(JoinError, match="cell label image missing"):
        join_unit(tmp_path / "unit0", [])


def test_a_cell_whose_reads_match_several_library_entries_gets_no_gene() -> None:
    foci = _foci(
        [0] * 6, [0] * 6,
        cell_id=[1, 1, 2, 2, 3, 4],
        matched=["", "", "AC", "GT", "AC", "AC"],
        gene=["", "", "G1", "G2", "G1", "G1"],
        quality=[0.9, 0.9, 0.7, 0.7, 0.9, 0.9],
        n_best=[3, 3, 1, 1, 1, 1],
        score=[1.0, 1.0, 1.0, 1.0, 1.0, 1 / 3],
    )  # fmt: skip
    rows = {r["cell_id"]: r for r in vote_barcodes(foci).iter_rows(named=True)}
    # cell 1: both foci equal three library barcodes: ambiguous, no gene, the count is kept
    assert (rows[1]["gene"], rows[1]["matched_barcode"], rows[1]["ambiguous"]) == (None, None, True)
    assert rows[1]["n_best_matches"] == 3
    # cell 2: two genes with equal votes: not settled by name order
    assert (rows[2]["gene"], rows[2]["ambiguous"]) == (None, True)
    # cell 3: one clear read
    assert (rows[3]["gene"], rows[3]["ambiguous"], rows[3]["n_best_matches"]) == ("G1", False, 1)
    # cell 4: a read agreeing at 1 of 3 cycles is too far to name a gene (default minimum)
    assert rows[4]["gene"] is None and rows[4]["n_foci"] == 1
    assert vote_barcodes(foci, min_match_score=0.3).filter(pl.col("cell_id") == 4)["gene"].item() == "G1"
