"""A CP channel_map renaming every channel: every CP and analysis step plans, writes its
LoadData and .cppipe, and the steps agree on the names (the experiment's names, not the
microscope's, are the keys everywhere after the index)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import pipecraft as pc
from starrynight import naming
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.base import get_module
from starrynight.modules.cellprofiler_step import _load, publish_plan, step_modules
from starrynight.modules.direct import run_step_directly

#: microscope name (the tiny dataset's) -> the user's name; every CP channel renamed, with
#: characters CellProfiler image names cannot hold
RENAMED = {"DAPI": "Hoechst 33342", "CellMask": "WGA-AF488", "MitoTracker": "Mito"}
STEPS = ("cp_illum_calc", "cp_illum_apply", "cp_segcheck", "analysis")


def _trio(step: str) -> tuple:
    return tuple(get_module(f"{step}_{stage}") for stage in ("loaddata", "cppipe", "invoke"))


@pytest.fixture
def renamed(tiny_workspace):
    data_config, _, info = tiny_workspace
    ws = data_config.workspace_path
    experiment = PCPGenericExperiment.from_index(ws / "index.yaml", {
        "nuclear_channel": "Hoechst 33342", "cell_channel": "WGA-AF488", "mito_channel": "Mito",
        "barcode_csv_path": str(ws / "barcodes.csv"), "image_overlap_percentage": 10,
        "cp": {"channel_map": RENAMED}, "sbs": {"nuclear_channel": "DAPI"},
    })  # fmt: skip
    assert experiment.cp.channels == list(RENAMED.values())
    return data_config, experiment, info


def test_every_cp_and_analysis_step_writes_consistent_loaddata_and_cppipe(renamed) -> None:
    from starrynight.cellprofiler.validation import validate_pipeline

    data_config, experiment, _ = renamed
    ws = data_config.workspace_path
    index = pl.read_parquet(naming.index_table(ws))
    raw_channels = index.filter(pl.col("arm") == "CP")["channels"][0].to_list()
    # step -> (the earlier step whose files it reads, their LoadData column prefix)
    producer = {"cp_illum_apply": ("cp_illum_calc", "FileName_Illum"),
                "cp_segcheck": ("cp_illum_apply", "FileName_Corr"),
                "analysis": ("cp_illum_apply", "FileName_Corr")}  # fmt: skip
    published = pl.DataFrame()
    for step in ("sbs_illum_calc", "sbs_illum_apply"):  # analysis also reads the SBS nuclei
        loaddata = _trio(step)[0](data_config, experiment)
        published = pl.concat([published, publish_plan(loaddata, index, published)], how="diagonal_relaxed")
    for step in STEPS:
        trio = _trio(step)
        params = trio[0].Parameters()
        modules = step_modules(trio, data_config, experiment, params)
        for module in modules:  # plans (units, upstream)
            assert module.pipeline is not None
        cp_step = trio[0].cp_step
        csvs = _load(cp_step.loaddata_writer)(index, experiment, params, data_config.images_path,
                                              naming.loaddata_dir(ws, step), published)  # fmt: skip
        published = pl.concat([published, publish_plan(modules[0], index, published)], how="diagonal_relaxed")
        frame = pl.read_csv(csvs[0])
        path = _load(cp_step.cppipe_builder)(experiment, params).write(naming.cppipe_path(ws, step))
        validate_pipeline(path, csvs[0])  # every image a module uses is loaded or made before it

        # raw planes: the renamed image reads the plane of the microscope channel it renames
        for raw, name in RENAMED.items():
            column = f"Frame_Orig{name.replace(' ', '_').replace('-', '_')}"
            if step in ("cp_illum_calc", "cp_illum_apply"):
                assert set(frame[column]) == {raw_channels.index(raw)}, (step, column)
            else:
                assert column not in frame.columns
        # files of an earlier step: named as that step writes them
        if step in producer:
            earlier, prefix = producer[step]
            read = [f"{row[c.replace('FileName_', 'PathName_', 1)]}/{row[c]}"
                    for row in frame.iter_rows(named=True) for c in frame.columns if c.startswith(prefix)]  # fmt: skip
            assert read, step
            theirs = set(published.filter(pl.col("step") == earlier)["path"])
            assert all(f in theirs for f in read), (step, read)
    segmented = pl.read_csv(naming.unit_csv(naming.loaddata_dir(ws, "cp_segcheck"), "Plate1__A1"))
    assert "FileName_CorrHoechst_33342" in segmented.columns and "FileName_CorrWGA_AF488" in segmented.columns


def _job_env() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}


@pytest.mark.slow
def test_illum_apply_runs_on_renamed_channels(renamed) -> None:
    """cp_illum_calc, then one unit of cp_illum_apply, with real CellProfiler."""
    data_config, experiment, _ = renamed
    run_step_directly(*step_modules(_trio("cp_illum_calc"), data_config, experiment))
    params = _trio("cp_illum_apply")[0].Parameters(sites_per_unit=1)
    loaddata, cppipe, invoke = step_modules(_trio("cp_illum_apply"), data_config, experiment, params)
    for node in (loaddata.pipeline, cppipe.pipeline):
        subprocess.run([str(a) for a in node.argv], check=True, env=_job_env())
    fanout = invoke.pipeline
    unit = fanout.units[0]
    out = Path(fanout.outputs["out"][0].path.replace("{unit}", unit.id))
    subprocess.run(pc.job_argv(fanout, unit.id), check=True, env=_job_env())

    for name in ("Hoechst_33342", "WGA_AF488", "Mito"):
        assert (out / naming.cp.corrected_image("Plate1", "A1", 0, name)).stat().st_size > 0
    image = pl.read_csv(out / naming.cp.measurement_table(naming.cp.IMAGE))
    assert image["Count_Nuclei"][0] > 5
    nuclei = pl.read_csv(out / naming.cp.measurement_table(naming.cp.NUCLEI))
    assert "Intensity_MeanIntensity_CorrHoechst_33342" in nuclei.columns
