"""SBS illumination apply: LoadData (every cycle reads its own files), units, pipeline.

The CellProfiler run itself (alignment vs the generator's shifts) is tested in the chained
SBS test of sbs_preprocess, which needs these outputs anyway.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from starrynight import naming
from starrynight.modules import loaddata as ld
from starrynight.modules.sbs_illum_apply import (
    SBSIllumApplyGenCPipeModule,
    SBSIllumApplyGenLoadDataModule,
    SBSIllumApplyInvokeCPModule,
)
from starrynight.modules.sbs_illum_apply.step import (
    SBSIllumApplyParameters,
    build_cppipe,
    write_loaddata,
)
from starrynight.naming import sbs as names

CYCLE_FOLDER = re.compile(r"_c(\d+)_SBS-(\d+)(?:_|/|$)")


def loaddata(workspace, publish_plans, params=None, index=None):
    """The step's LoadData (unit -> rows) in a private workspace, reading what sbs_illum_calc
    will publish there."""
    data_config, experiment, info = workspace
    out_dir = naming.loaddata_dir(data_config.workspace_path, names.SBS_ILLUM_APPLY)
    full = pl.read_parquet(naming.index_table(data_config.workspace_path))
    illum = publish_plans(data_config, experiment, full, sbs_illum_calc=None)
    index = index if index is not None else full
    written = write_loaddata(index, experiment, params or SBSIllumApplyParameters(), info.images_path, out_dir, illum)
    return {path.stem: pl.read_csv(path) for path in written}


@pytest.mark.parametrize("sites_per_unit", [0, 1, 4])
def test_units_agree_with_the_shared_rule(tiny_screen, sites_per_unit):
    data_config, experiment, _ = tiny_screen
    params = SBSIllumApplyParameters(sites_per_unit=sites_per_unit)
    module = SBSIllumApplyGenLoadDataModule(data_config, experiment, params)
    sites = {(p, w): experiment.sbs.sites_per_well for p in experiment.plates for w in experiment.wells[p]}
    assert [u.id for u in module.uow] == ld.plan_unit_ids(sites, "well", sites_per_unit)


def test_every_cycle_reads_its_own_cycle_and_illumination(tiny_workspace, publish_plans):
    data_config, experiment, info = tiny_workspace
    csvs = loaddata(tiny_workspace, publish_plans, SBSIllumApplyParameters(sites_per_unit=1))
    assert len(csvs) == len(info.wells) * info.sbs_sites_per_well  # one unit per site
    frame = pl.concat(csvs.values())
    assert frame.height == len(csvs)
    illum_root = naming.outputs_dir(data_config.workspace_path, names.SBS_ILLUM_CALC)
    for cycle in experiment.sbs.cycles:
        for plane, channel in enumerate(info.sbs_channels):
            image = names.cycle_image(cycle, channel)
            found = {tuple(int(g) for g in CYCLE_FOLDER.search(p).groups()) for p in frame[f"PathName_{image}"]}
            assert found == {(cycle, cycle)}, f"{image} reads cycle folders {found}"
            assert frame[f"Frame_{image}"].unique().to_list() == [plane]
            illum = names.cycle_image(cycle, channel, prefix="Illum")
            assert frame[f"FileName_{illum}"].unique().to_list() == [names.illum_function_file(channel)]
            expected = str(naming.unit_dir(illum_root, names.illum_unit_id("Plate1", cycle)))
            assert frame[f"PathName_{illum}"].unique().to_list() == [expected]
    # the same site in every cycle: file names agree, folders differ
    first = frame.row(0, named=True)
    assert len({first[f"FileName_{names.cycle_image(c, 'DAPI')}"] for c in experiment.sbs.cycles}) == 1
    assert len({first[f"PathName_{names.cycle_image(c, 'DAPI')}"] for c in experiment.sbs.cycles}) == 3


def test_a_site_missing_in_one_cycle_is_a_clear_error(tiny_workspace, publish_plans):
    data_config, _, _ = tiny_workspace
    index = pl.read_parquet(naming.index_table(data_config.workspace_path))
    lacking = index.filter(~((pl.col("cycle") == 2) & (pl.col("well") == "A2") & (pl.col("site") == 1)))
    with pytest.raises(ld.LoadDataError, match=r"site=1 lacks \['Cycle02_C'"):
        loaddata(tiny_workspace, publish_plans, index=lacking)


def test_a_cycle_without_published_illumination_is_named(tiny_workspace, publish_plans):
    data_config, experiment, info = tiny_workspace
    index = pl.read_parquet(naming.index_table(data_config.workspace_path))
    illum = publish_plans(data_config, experiment, index, sbs_illum_calc=None)
    out_dir = naming.loaddata_dir(data_config.workspace_path, names.SBS_ILLUM_APPLY)
    with pytest.raises(ld.LoadDataError, match="IllumCycle03_G: 4 image set.*first: Metadata_Plate=Plate1"):
        write_loaddata(index, experiment, SBSIllumApplyParameters(sites_per_unit=0), info.images_path, out_dir,
                       illum.filter(~((pl.col("cycle") == 3) & (pl.col("name") == "G"))))  # fmt: skip


def test_invoke_publishes_every_cycle_and_loaddata_waits_for_the_illumination(tiny_screen):
    import json

    data_config, experiment, _ = tiny_screen
    fanout = SBSIllumApplyInvokeCPModule.from_config(data_config, experiment).pipeline
    publication = json.loads(fanout.argv[fanout.argv.index("--publication-json") + 1])
    files = {p["file"] for p in publication["products"]}
    assert names.aligned_image_file("{plate}", "{well}", "{site}", 3, "G") in files
    assert names.image_table_file() in files
    loaddata_inputs = SBSIllumApplyGenLoadDataModule.from_config(data_config, experiment).pipeline.inputs
    illum_root = naming.outputs_dir(data_config.workspace_path, names.SBS_ILLUM_CALC)
    assert [str(p) for p in loaddata_inputs["upstream"]] == [
        str(naming.unit_manifest(naming.unit_dir(illum_root, names.illum_unit_id("Plate1", c))))
        for c in experiment.sbs.cycles
    ]


def test_pipeline_aligns_every_later_cycle_to_cycle_one(tiny_screen, tmp_path):
    _, experiment, _ = tiny_screen
    pipeline = build_cppipe(experiment, SBSIllumApplyParameters())
    aligns = [m for m in pipeline.modules if m.name == "Align"]
    assert [m.settings["Select the second input image"] for m in aligns] == ["CorrCycle02_DAPI", "CorrCycle03_DAPI"]
    assert {m.settings["Select the first input image"] for m in aligns} == {names.aligned_image(1, "DAPI")}
    saved = [m.settings["Enter single file name"] for m in pipeline.modules if m.name == "SaveImages"]
    assert len(saved) == 15 and names.aligned_image_pattern(2, "A") in saved
    written = pipeline.write(tmp_path / "p.cppipe")  # CellProfiler loads it back exactly
    assert written.read_text().count("Align:[") == 2


def test_module_trio_shares_parameters(tiny_screen):
    from starrynight.modules.cellprofiler_step import step_modules

    data_config, experiment, _ = tiny_screen
    trio = (SBSIllumApplyGenLoadDataModule, SBSIllumApplyGenCPipeModule, SBSIllumApplyInvokeCPModule)
    modules = step_modules(trio, data_config, experiment, SBSIllumApplyParameters(sites_per_unit=1))
    assert len(modules[2].pipeline.units) == 4
    assert "--sites-per-unit" in modules[0].pipeline.argv
