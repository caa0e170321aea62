"""A corrupt raw image fails its own unit with a message naming the file; the rest finishes (SPEC 9)."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

import pipecraft as pc
from starrynight import naming
from starrynight.config import DataConfig, read_parquet
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.cp_illum_apply import (
    CPIllumApplyGenCPipeModule,
    CPIllumApplyGenLoadDataModule,
    CPIllumApplyInvokeCPModule,
)
from starrynight.modules.cp_illum_calc import (
    CPIllumCalcGenCPipeModule,
    CPIllumCalcGenLoadDataModule,
    CPIllumCalcInvokeCPModule,
)
from starrynight.modules.direct import run_step_directly

CALC = (CPIllumCalcGenLoadDataModule, CPIllumCalcGenCPipeModule, CPIllumCalcInvokeCPModule)
APPLY = (CPIllumApplyGenLoadDataModule, CPIllumApplyGenCPipeModule, CPIllumApplyInvokeCPModule)


@pytest.mark.slow
def test_a_corrupt_image_fails_its_unit_naming_the_file_and_the_other_units_finish(tiny_screen, tmp_path):
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
