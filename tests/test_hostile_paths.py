"""File names are data, never code (SPEC 9): a screen stored under a folder whose name is
full of shell syntax runs through index, experiment and a real CellProfiler step via
Snakemake, and nothing in that name is executed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pipecraft as pc
from starrynight.config import DataConfig
from starrynight.datasets import generate_dataset
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.cp_illum_calc import (
    CPIllumCalcGenCPipeModule,
    CPIllumCalcGenLoadDataModule,
    CPIllumCalcInvokeCPModule,
)
from starrynight.modules.index import GenIndexModule

HOSTILE = "screen $(touch INJECTED1) `touch INJECTED2`; touch INJECTED3 & 'q' \"dq\" $HOME é"


@pytest.mark.slow
def test_a_screen_under_a_hostile_folder_name_runs_and_nothing_is_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative `touch` would land here
    info = generate_dataset(tmp_path / HOSTILE, "tiny", seed=0)
    data_config = DataConfig(workspace_path=info.workspace_path, images_path=info.images_path,
                             scratch_path=info.scratch_path)
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    runs = Path(data_config.scratch_path) / "runs"
    backend.run(GenIndexModule.from_config(data_config).pipeline, working_dir=runs / "index")
    experiment = PCPGenericExperiment.from_index(Path(data_config.workspace_path) / "index.yaml", {
        "nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "barcode_csv_path": str(info.barcode_csv), "image_overlap_percentage": 10})  # fmt: skip

    loaddata, cppipe, invoke = step_modules(
        (CPIllumCalcGenLoadDataModule, CPIllumCalcGenCPipeModule, CPIllumCalcInvokeCPModule), data_config, experiment)
    handle = backend.run(pc.Seq([pc.Parallel([loaddata.pipeline, cppipe.pipeline]), invoke.pipeline]),
                         working_dir=runs / "cp_illum_calc")
    assert handle.status == "succeeded"
    (unit,) = invoke.uow
    assert len(list(invoke.unit_output_dir(unit).glob("*.npy"))) == len(experiment.cp.channels)
    for root, dirs, files in os.walk(tmp_path):
        assert not [n for n in dirs + files if n.startswith("INJECTED")], root
    assert not list(Path(os.environ.get("HOME", "/nonexistent")).glob("INJECTED*"))
