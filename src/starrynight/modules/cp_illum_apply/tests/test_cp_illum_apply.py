"""CP illumination apply + segmentation on the tiny screen, with real CellProfiler."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile

import pipecraft as pc
from starrynight import naming
from starrynight.config import DataConfig, read_parquet
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.cp_illum_apply import (
    CPIllumApplyGenCPipeModule,
    CPIllumApplyGenLoadDataModule,
    CPIllumApplyInvokeCPModule,
)
from starrynight.modules.cp_illum_apply.step import (
    CPIllumApplyParameters,
    channel_names,
    write_loaddata,
)
from starrynight.modules.cp_illum_calc import (
    CPIllumCalcGenCPipeModule,
    CPIllumCalcGenLoadDataModule,
    CPIllumCalcInvokeCPModule,
)
from starrynight.modules.direct import run_step_directly

CALC = (CPIllumCalcGenLoadDataModule, CPIllumCalcGenCPipeModule, CPIllumCalcInvokeCPModule)
APPLY = (CPIllumApplyGenLoadDataModule, CPIllumApplyGenCPipeModule, CPIllumApplyInvokeCPModule)
COUNT_TOLERANCE = 0.15


@pytest.fixture(scope="module")
def applied(tiny_screen, tmp_path_factory):
    """cp_illum_calc then cp_illum_apply, run once for the module on a private workspace."""
    data_config, experiment, info = tiny_screen
    workspace = tmp_path_factory.mktemp("apply") / "workspace"
    shutil.copytree(data_config.workspace_path, workspace)
    config = DataConfig(workspace_path=workspace, images_path=data_config.images_path,
                        scratch_path=workspace.parent / "scratch")  # fmt: skip
    run_step_directly(*step_modules(CALC, config, experiment))
    outputs = run_step_directly(*step_modules(APPLY, config, experiment))
    return config, experiment, info, outputs


def test_units_are_wells_or_site_chunks(tiny_screen):
    data_config, experiment, info = tiny_screen
    wells = [f"Plate1__{w}" for w in info.wells]
    assert [u.id for u in CPIllumApplyGenLoadDataModule.from_config(data_config, experiment).uow] == wells
    chunked = CPIllumApplyInvokeCPModule.from_config(data_config, experiment, sites_per_unit=1)
    ids = [u.id for u in chunked.uow]
    assert len(ids) == len(info.wells) * info.cp_sites_per_well
    assert ids[0] == "Plate1__A1__0000" and ids[-1] == f"Plate1__{info.wells[-1]}__0001"
    # the LoadData reads what cp_illum_calc published for the plate: ordering after it by path
    loaddata = CPIllumApplyGenLoadDataModule.from_config(data_config, experiment, sites_per_unit=1)
    illum_dir = naming.unit_dir(naming.outputs_dir(data_config.workspace_path, "cp_illum_calc"), "Plate1")
    assert list(map(Path, loaddata.pipeline.inputs["upstream"])) == [naming.unit_manifest(illum_dir)]


def test_bad_parameters_are_named(tiny_screen):
    with pytest.raises(ValueError, match="nuclei_diameter_min"):
        CPIllumApplyParameters(nuclei_diameter_min=40, nuclei_diameter_max=30)
    with pytest.raises(ValueError, match="declump_method"):
        CPIllumApplyParameters(declump_method="Magic")


def test_cli_names_a_bad_parameter_and_editing_one_changes_the_command(tiny_screen, tmp_path):
    data_config, experiment, _ = tiny_screen
    module = CPIllumApplyGenCPipeModule.from_config(data_config, experiment)
    before = list(module.pipeline.argv)
    module.spec.parameters.nuclei_diameter_max = 33
    assert before != list(module.pipeline.argv) and "33" in module.pipeline.argv
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "starrynight"), "illum", "apply", "cppipe",
         "--experiment", str(experiment.to_json(tmp_path / "experiment.json")),
         "--output", str(tmp_path / "x.cppipe"), "--nuclei-diameter-min", "40"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and "nuclei_diameter_min (40)" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.cppipe").exists()


def test_chunked_loaddata_rows_match_the_plan(tiny_workspace, publish_plans):
    data_config, experiment, info = tiny_workspace
    index = pl.read_parquet(naming.index_table(data_config.workspace_path))
    out_dir = naming.loaddata_dir(data_config.workspace_path, "cp_illum_apply")
    params = CPIllumApplyParameters(sites_per_unit=1)
    illum = publish_plans(data_config, experiment, index, cp_illum_calc=None)
    written = write_loaddata(index, experiment, params, data_config.images_path, out_dir, illum)
    assert [p.stem for p in written] == [u.id for u in CPIllumApplyGenLoadDataModule(
        data_config, experiment, params).uow]  # fmt: skip
    frames = [pl.read_csv(p) for p in written]
    assert all(f.height == 1 for f in frames)
    first = frames[0]
    assert first["Metadata_Site"].to_list() == [0] and first["Frame_OrigCellMask"].to_list() == [1]
    assert first["FileName_IllumDAPI"].to_list() == ["IllumDAPI.npy"]
    assert first["PathName_IllumDAPI"].str.ends_with("cp_illum_calc/outputs/Plate1").all()
    without_dapi = illum.filter(pl.col("name") != "DAPI")
    with pytest.raises(ValueError, match="the manifests of cp_illum_calc list no illum named \\['DAPI'\\]"):
        write_loaddata(index, experiment, params, data_config.images_path, out_dir, without_dapi)


def test_outputs_are_named_and_complete(applied):
    config, experiment, info, outputs = applied
    assert set(outputs) == {f"Plate1__{w}" for w in info.wells}
    for unit, folder in outputs.items():
        well = unit.split("__")[1]
        for site in range(info.cp_sites_per_well):
            for name in channel_names(experiment).values():
                assert (folder / naming.cp.corrected_image("Plate1", well, site, name)).stat().st_size > 0
        for table in (naming.cp.IMAGE, naming.cp.NUCLEI, naming.cp.CELLS, naming.cp.CYTOPLASM):
            assert (folder / naming.cp.measurement_table(table)).stat().st_size > 0
        nuclei = pl.read_csv(folder / naming.cp.measurement_table(naming.cp.NUCLEI))
        assert {"AreaShape_Area", "Intensity_MeanIntensity_CorrDAPI"} <= set(nuclei.columns)


def test_corrected_images_are_16_bit_raw_divided_by_illumination(applied):
    config, experiment, info, outputs = applied
    index = pl.read_parquet(naming.index_table(config.workspace_path)).filter(
        (pl.col("arm") == "CP") & pl.col("is_image") & (pl.col("well") == "A1") & (pl.col("site") == 1)
    )
    raw_file = config.images_path / index["key"][0]
    channels = index["channels"][0].to_list()
    illum_dir = naming.unit_dir(naming.outputs_dir(config.workspace_path, "cp_illum_calc"), "Plate1")
    for channel, name in channel_names(experiment).items():
        corrected = tifffile.imread(outputs["Plate1__A1"] / naming.cp.corrected_image("Plate1", "A1", 1, name))
        assert corrected.dtype == np.uint16
        raw = tifffile.imread(raw_file, key=channels.index(channel)).astype(np.float64)
        illum = np.load(illum_dir / naming.illum_function_name(f"Illum{name}"))
        assert illum.max() > 1.2  # a real vignette, so division is distinguishable from a copy
        np.testing.assert_allclose(corrected, raw / illum, atol=1.0, rtol=1e-3)


def test_nuclei_counts_per_site_match_the_truth(applied, capsys):
    config, experiment, info, outputs = applied
    truth = pl.read_parquet(info.truth_sites).select("plate", "well", "site", "n_cells")
    counts = pl.concat(
        pl.read_csv(folder / naming.cp.measurement_table(naming.cp.IMAGE)).select(
            pl.col("Metadata_Plate").alias("plate"), pl.col("Metadata_Well").alias("well"),
            pl.col("Metadata_Site").alias("site"), pl.col("Count_Nuclei").cast(pl.Int64),
            pl.col("Count_Cells").cast(pl.Int64),
        )  # fmt: skip
        for folder in outputs.values()
    )
    joined = counts.join(truth, on=["plate", "well", "site"], how="full", coalesce=True).with_columns(
        error=(pl.col("Count_Nuclei") - pl.col("n_cells")) / pl.col("n_cells")
    )
    with capsys.disabled():
        print("\ncp_illum_apply nuclei count error per site:", joined.select("well", "site", "error").rows())
    assert joined.height == len(info.wells) * info.cp_sites_per_well
    assert joined["error"].is_not_null().all()
    assert (joined["error"].abs() <= COUNT_TOLERANCE).all(), joined
    assert (joined["Count_Cells"] == joined["Count_Nuclei"]).all()  # one cell per nucleus


@pytest.mark.slow
def test_a_corrupt_image_fails_its_unit_naming_the_file_and_the_other_units_finish(tiny_screen, tmp_path):
    """SPEC 9: a corrupt raw image fails its own unit with a message naming the file; the rest finishes."""
    data_config, experiment, info = tiny_screen
    images, workspace = tmp_path / "images", tmp_path / "workspace"
    shutil.copytree(data_config.images_path, images)  # a private copy: the test damages one file
    shutil.copytree(data_config.workspace_path, workspace)
    config = DataConfig(workspace_path=workspace, images_path=images, scratch_path=tmp_path / "scratch")
    run_step_directly(*step_modules(CALC, config, experiment))

    bad_well, good_wells = info.wells[-1], info.wells[:-1]
    key = read_parquet(naming.index_table(workspace)).filter(
        (pl.col("arm") == "CP") & (pl.col("well") == bad_well)).sort("site")["key"][0]
    bad = images / key
    bad.write_bytes(bad.read_bytes()[:200])  # truncated mid-header, as an interrupted copy leaves it

    loaddata, cppipe, invoke = step_modules(APPLY, config, experiment)
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, keep_going=True))
    wd = tmp_path / "scratch" / "runs" / "apply"
    with pytest.raises(pc.RunFailedError, match=f"unit Plate1__{bad_well}"):
        backend.run(pc.Seq([pc.Parallel([loaddata.pipeline, cppipe.pipeline]), invoke.pipeline]), working_dir=wd)

    summary = json.loads((wd / "run_summary.json").read_text())
    (failed,) = [j for j in summary["jobs"] if j["status"] == "failed"]
    assert failed["unit"] == f"Plate1__{bad_well}"
    log = (wd / failed["log"]).read_text()
    assert f"{bad}: " in log, log[-3000:]  # the reader names the file whatever broke in it
    outputs = naming.outputs_dir(workspace, "cp_illum_apply")
    assert not naming.unit_dir(outputs, f"Plate1__{bad_well}").exists()
    for well in good_wells:
        assert (naming.unit_dir(outputs, f"Plate1__{well}") / naming.cp.measurement_table("Image")).stat().st_size > 0
