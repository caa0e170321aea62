"""sbs_preprocess LoadData, upstream folders and pipeline, without running CellProfiler."""

from __future__ import annotations

import polars as pl
import pytest

from starrynight import naming
from starrynight.modules.sbs_preprocess.step import (
    SBSPreprocessParameters,
    build_cppipe,
    write_loaddata,
)
from starrynight.naming import sbs as names


def test_aligned_images_are_read_where_illum_apply_published_them(tiny_workspace, publish_plans):
    from starrynight.modules.sbs_illum_apply.step import SBSIllumApplyParameters

    data_config, experiment, info = tiny_workspace
    ws = data_config.workspace_path
    index = pl.read_parquet(naming.index_table(ws))
    upstream = publish_plans(data_config, experiment, index, sbs_illum_calc=None,
                             sbs_illum_apply=SBSIllumApplyParameters(sites_per_unit=1))  # fmt: skip
    params = SBSPreprocessParameters(sites_per_unit=0)  # wells read site units
    written = write_loaddata(index, experiment, params, info.images_path,
                             naming.loaddata_dir(ws, names.SBS_PREPROCESS), upstream)  # fmt: skip
    assert [p.stem for p in written] == ["Plate1__A1", "Plate1__A2"]
    frame = pl.read_csv(written[1])
    assert frame["Metadata_Site"].to_list() == [0, 1]
    apply_root = naming.outputs_dir(ws, names.SBS_ILLUM_APPLY)
    for row in frame.iter_rows(named=True):
        folder = str(apply_root / f"Plate1__A2__{row['Metadata_Site']:04d}")
        for cycle in experiment.sbs.cycles:
            assert row[f"PathName_Cycle{cycle:02d}_G"] == folder
            assert row[f"FileName_Cycle{cycle:02d}_G"] == f"Plate1_A2_Site{row['Metadata_Site']}_Cycle{cycle:02d}_G.tiff"
    from starrynight.modules.loaddata import write_unit_sources

    sources = pl.read_parquet(write_unit_sources(written, index, info.images_path, upstream)[1])
    assert sources.height == 2 * 4 * len(experiment.sbs.cycles)  # every aligned base image, with its producer
    assert sources["producer"].is_not_null().all()


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
