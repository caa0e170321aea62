"""sbs_preprocess LoadData, upstream folders and pipeline, without running CellProfiler."""

from __future__ import annotations

import polars as pl
import pytest

from starrynight import naming
from starrynight.modules.sbs_preprocess import SBSPreprocessInvokeCPModule
from starrynight.modules.sbs_preprocess.step import (
    SBSPreprocessParameters,
    build_cppipe,
    write_loaddata,
)
from starrynight.naming import sbs as names


def test_aligned_images_are_found_in_the_illum_apply_unit_of_their_site(tiny_screen, tmp_path):
    data_config, experiment, info = tiny_screen
    index = pl.read_parquet(naming.index_table(data_config.workspace_path))
    params = SBSPreprocessParameters(sites_per_unit=0, illum_apply_sites_per_unit=1)  # wells read site units
    written = write_loaddata(index, experiment, params, info.images_path,
                             naming.loaddata_dir(tmp_path, names.SBS_PREPROCESS))  # fmt: skip
    assert [p.stem for p in written] == ["Plate1__A1", "Plate1__A2"]
    frame = pl.read_csv(written[1])
    assert frame["Metadata_Site"].to_list() == [0, 1]
    apply_root = naming.outputs_dir(tmp_path, names.SBS_ILLUM_APPLY)
    for row in frame.iter_rows(named=True):
        folder = str(naming.unit_dir(apply_root, names.site_unit_id("Plate1", "A2", row["Metadata_Site"], 1)))
        for cycle in experiment.sbs.cycles:
            assert row[f"PathName_Cycle{cycle:02d}_G"] == folder
            assert row[f"FileName_Cycle{cycle:02d}_G"] == f"Plate1_A2_Site{row['Metadata_Site']}_Cycle{cycle:02d}_G.tiff"


def test_invoke_waits_for_the_illum_apply_units_holding_its_sites(tiny_screen):
    data_config, experiment, _ = tiny_screen
    params = SBSPreprocessParameters(sites_per_unit=0, illum_apply_sites_per_unit=1)
    fanout = SBSPreprocessInvokeCPModule(data_config, experiment, params).pipeline
    apply_root = naming.outputs_dir(data_config.workspace_path, names.SBS_ILLUM_APPLY)
    by_unit = {u.id: [str(p) for p in u.inputs["aligned"]] for u in fanout.units}
    assert by_unit["Plate1__A1"] == [str(apply_root / "Plate1__A1__0000"), str(apply_root / "Plate1__A1__0001")]


def test_pipeline_reads_the_experiment_library_and_exports_foci(tiny_screen, tmp_path):
    _, experiment, _ = tiny_screen
    pipeline = build_cppipe(experiment, SBSPreprocessParameters(save_compensated=True))
    by_name = {m.name: m for m in pipeline.modules}
    assert by_name["StarryNightCallBarcodes"].settings["Barcode library CSV"] == str(experiment.barcode_csv_path)
    assert by_name["StarryNightCallBarcodes"].settings["Number of cycles"] == 3
    assert sum(m.name == "EnhanceOrSuppressFeatures" for m in pipeline.modules) == 12
    assert sum(m.name == "SaveImages" for m in pipeline.modules) == 12
    assert pipeline.write(tmp_path / "p.cppipe").read_text().count("StarryNightCallBarcodes:[") == 1


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="sites_per_unit"):
        SBSPreprocessParameters(sites_per_unit=-1)
    with pytest.raises(ValueError, match="foci_threshold_method"):
        SBSPreprocessParameters(foci_threshold_method="Magic")
