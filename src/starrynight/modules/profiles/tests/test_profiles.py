"""Profiles from small synthetic per-cell tables: exact aggregation, per-plate normalisation to
the controls, feature selection, and profiles that pycytominer and copairs read as they are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from starrynight.modules.profiles.step import (
    ProfilesError,
    ProfilesParameters,
    aggregate_guides,
    build_profiles,
    feature_columns,
    write_profiles,
)

NO_SELECTION = ProfilesParameters(feature_selection=[])


def test_guides_are_aggregated_per_guide_per_well_with_exact_medians(make_cells) -> None:
    cells = make_cells(plates=("P1",), wells=("A1", "B2"), cells=5)
    guides = aggregate_guides(cells, "median")
    assert guides.height == 2 * (6 * 2 + 4)  # wells x (genes x 2 guides + 4 controls)
    assert (guides.get_column("Metadata_Cell_Count") == 5).all()
    one = cells.filter((pl.col("well") == "B2") & (pl.col("matched_barcode") == "G3_1"))
    row = guides.filter((pl.col("Metadata_Well") == "B2") & (pl.col("Metadata_Barcode") == "G3_1"))
    assert row.get_column("Cells_Intensity_F1").item() == pytest.approx(
        one.get_column("Cells_Intensity_F1").median()
    )
    assert (
        row.get_column("Metadata_Gene").item() == "G3"
        and row.get_column("Metadata_Plate").item() == "P1"
    )


def test_positions_and_cells_without_a_gene_never_enter_a_profile(make_cells) -> None:
    cells = make_cells(plates=("P1",), wells=("A1",))
    assert "Nuclei_Location_Center_X" not in feature_columns(cells)
    unmatched = cells.head(7).with_columns(pl.lit(None, pl.String).alias("gene"),
                                           pl.lit(None, pl.String).alias("matched_barcode"))  # fmt: skip
    guides, _genes, summary = build_profiles(pl.concat([cells, unmatched]), NO_SELECTION)
    assert summary["cells_without_gene"] == 7
    assert guides.get_column("Metadata_Cell_Count").sum() == cells.height
    assert not any("Location" in c for c in guides.columns)


def test_each_plate_is_normalised_to_its_own_controls(make_cells) -> None:
    """Plate 2 carries a +5 SD batch effect; after normalisation each plate's control profiles
    have mean 0 and SD 1, and a gene's effect is the same on both plates."""
    cells = make_cells(effects={"G0": 3.0, "G1": 0.0}, plate_offset=5.0, controls=6, cells=40)
    guides, genes, _ = build_profiles(cells, NO_SELECTION)
    feature = "Cells_Intensity_F0"
    for plate in ("P1", "P2"):
        controls = guides.filter(
            pl.col("Metadata_Control") & (pl.col("Metadata_Plate") == plate)
        ).get_column(feature)
        assert controls.mean() == pytest.approx(0.0, abs=1e-9)
        assert controls.std(ddof=0) == pytest.approx(1.0, rel=1e-6)
    g0 = (
        guides.filter(pl.col("Metadata_Gene") == "G0")
        .group_by("Metadata_Plate")
        .agg(pl.col(feature).mean())
    )
    values = dict(g0.iter_rows())
    assert values["P1"] > 5 and values["P2"] > 5  # 3 SD of cells is many SDs of guide medians
    assert abs(values["P1"] - values["P2"]) < 0.5 * values["P1"]  # the batch effect is gone
    gene_row = genes.filter(pl.col("Metadata_Gene") == "G0")
    assert gene_row.get_column("Metadata_Guide_Count").item() == 2
    assert (
        gene_row.get_column("Metadata_Profile_Count").item() == 2 * 2 * 2
    )  # guides x wells x plates


def test_feature_selection_drops_a_copied_feature(make_cells) -> None:
    cells = make_cells(plates=("P1",)).with_columns(
        pl.col("Cells_Intensity_F0").alias("Cytoplasm_Intensity_Copy")
    )
    guides, _, summary = build_profiles(cells, ProfilesParameters())
    copies = {"Cells_Intensity_F0", "Cytoplasm_Intensity_Copy"} & set(guides.columns)
    assert len(copies) == 1
    assert summary["features_measured"] == 7 and summary["features_selected"] < 7


def test_a_plate_without_controls_is_a_clear_error(make_cells) -> None:
    cells = make_cells()
    cells = cells.filter(~((pl.col("plate") == "P2") & (pl.col("gene") == "nontargeting")))
    with pytest.raises(
        ProfilesError, match="plate P2: no cells of the control gene 'nontargeting'"
    ):
        build_profiles(cells, NO_SELECTION)


def test_profiles_load_in_pycytominer_and_copairs(make_cells, tmp_path: Path) -> None:
    """The written parquet files go straight into pycytominer and copairs, no renaming."""
    import pandas as pd
    from copairs import map as copairs_map
    from pycytominer import aggregate, feature_select

    cells_path = tmp_path / "cells.parquet"
    make_cells(effects={"G0": 3.0, "G1": 0.0}).write_parquet(cells_path)
    out = {k: tmp_path / f"{k}.parquet" for k in ("guides", "genes")}
    write_profiles(
        cells_path, out["guides"], out["genes"], tmp_path / "summary.json", ProfilesParameters()
    )
    guides = pd.read_parquet(out["guides"])
    per_well = aggregate(guides, strata=["Metadata_Plate", "Metadata_Well"], features="infer")
    assert len(per_well) == 4 and any(c.startswith("Cells_") for c in per_well.columns)
    assert list(feature_select(guides, features="infer", operation="variance_threshold").columns)
    meta = guides[[c for c in guides.columns if c.startswith("Metadata_")]]
    feats = guides[[c for c in guides.columns if not c.startswith("Metadata_")]].to_numpy()
    ap = copairs_map.average_precision(meta, feats, pos_sameby=["Metadata_Gene"], pos_diffby=[],
                                       neg_sameby=[], neg_diffby=["Metadata_Gene"], progress_bar=False)  # fmt: skip
    g0 = ap[ap["Metadata_Gene"] == "G0"]["average_precision"]
    assert g0.mean() > 0.9
    genes = pd.read_parquet(out["genes"])
    assert set(genes["Metadata_Gene"]) == {"G0", "G1", "nontargeting"}
    assert json.loads((tmp_path / "summary.json").read_text())["guide_profiles"] == len(guides)


def test_cli_names_a_bad_parameter_in_one_line(make_cells, tmp_path: Path) -> None:
    cells_path = tmp_path / "cells.parquet"
    make_cells(plates=("P1",)).write_parquet(cells_path)
    argv = [sys.executable, "-m", "starrynight.cli", "profiles", "build", "--cells", str(cells_path),
            "--guides-out", str(tmp_path / "g.parquet"), "--genes-out", str(tmp_path / "n.parquet"),
            "--summary-out", str(tmp_path / "s.json")]  # fmt: skip
    bad = subprocess.run(
        [*argv, "--parameters", '{"aggregation": "mode"}'], capture_output=True, text=True
    )
    assert (
        bad.returncode != 0
        and "profiles.aggregation" in bad.stderr
        and "Traceback" not in bad.stderr
    )
    missing = subprocess.run(
        [*argv[:6], str(tmp_path / "none.parquet"), *argv[7:]], capture_output=True, text=True
    )
    assert (
        missing.returncode != 0
        and "no per-cell table" in missing.stderr
        and "Traceback" not in missing.stderr
    )
    ok = subprocess.run(argv, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert np.isfinite(
        pl.read_parquet(tmp_path / "g.parquet").select(pl.col("^Cells_.*$")).to_numpy()
    ).all()
