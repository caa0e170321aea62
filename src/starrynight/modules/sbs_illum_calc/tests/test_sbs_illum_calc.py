"""SBS illumination calculation on the tiny screen with real CellProfiler."""

from __future__ import annotations

import re
import time

import numpy as np
import polars as pl
import pytest

from starrynight import naming
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.direct import run_step_directly
from starrynight.modules.loaddata import LoadDataError
from starrynight.modules.sbs_illum_calc import (
    SBSIllumCalcGenCPipeModule,
    SBSIllumCalcGenLoadDataModule,
    SBSIllumCalcInvokeCPModule,
)
from starrynight.modules.sbs_illum_calc.step import check_cycles, write_loaddata
from starrynight.naming import sbs as names

TRIO = (SBSIllumCalcGenLoadDataModule, SBSIllumCalcGenCPipeModule, SBSIllumCalcInvokeCPModule)
CYCLE_FOLDER = re.compile(r"_c(\d+)_SBS-(\d+)(?:_|/|$)")


def folder_cycles(paths: pl.Series) -> set[tuple[int, int]]:
    """(c, SBS-) cycle numbers of the raw folders the paths point into."""
    return {tuple(int(g) for g in CYCLE_FOLDER.search(p).groups()) for p in paths.to_list()}


def test_units_are_plate_by_cycle(tiny_screen):
    data_config, experiment, _ = tiny_screen
    module = SBSIllumCalcGenLoadDataModule.from_config(data_config, experiment)
    expected = [names.illum_unit_id(p, c) for p in experiment.plates for c in experiment.sbs.cycles]
    assert [u.id for u in module.uow] == expected == ["Plate1__c01", "Plate1__c02", "Plate1__c03"]
    assert "filter_size" in str(module.spec)


def test_each_cycle_reads_only_its_own_files(tiny_screen, tmp_path):
    data_config, experiment, info = tiny_screen
    index = pl.read_parquet(naming.index_table(data_config.workspace_path))
    params = SBSIllumCalcGenLoadDataModule.Parameters()
    written = write_loaddata(index, experiment, params, info.images_path, tmp_path, pl.DataFrame())
    assert len(written) == len(experiment.sbs.cycles)
    for cycle in experiment.sbs.cycles:
        csv = pl.read_csv(tmp_path / f"{names.illum_unit_id('Plate1', cycle)}.csv")
        assert csv.height == len(info.wells) * info.sbs_sites_per_well
        assert csv["Metadata_Cycle"].unique().to_list() == [cycle]
        for channel_index, channel in enumerate(info.sbs_channels):
            assert folder_cycles(csv[f"PathName_Orig{channel}"]) == {(cycle, cycle)}
            assert csv[f"Frame_Orig{channel}"].unique().to_list() == [channel_index]


def test_a_site_missing_in_one_cycle_leaves_the_other_cycles_alone(tiny_screen, tmp_path):
    """Illumination is estimated from the sites a cycle has (illum apply refuses the gap)."""
    data_config, experiment, info = tiny_screen
    index = pl.read_parquet(naming.index_table(data_config.workspace_path))
    lacking = index.filter(~((pl.col("cycle") == 2) & (pl.col("well") == "A2") & (pl.col("site") == 1)))
    write_loaddata(lacking, experiment, SBSIllumCalcGenLoadDataModule.Parameters(), info.images_path, tmp_path,
                   pl.DataFrame())
    full = len(info.wells) * info.sbs_sites_per_well
    heights = {c: pl.read_csv(tmp_path / f"{names.illum_unit_id('Plate1', c)}.csv").height for c in (1, 2, 3)}
    assert heights == {1: full, 2: full - 1, 3: full}


def test_cycles_with_a_gap_are_refused(tiny_screen):
    _, experiment, _ = tiny_screen
    gapped = experiment.model_copy(update={"sbs": experiment.sbs.model_copy(update={"cycles": [1, 3]})})
    with pytest.raises(LoadDataError, match=r"1\.\.N"):
        check_cycles(gapped)


def test_illumination_functions_from_real_cellprofiler(tiny_workspace):
    data_config, experiment, info = tiny_workspace
    start = time.perf_counter()
    outputs = run_step_directly(*step_modules(TRIO, data_config, experiment))
    elapsed = time.perf_counter() - start
    print(f"sbs_illum_calc: {len(outputs)} invocations, {elapsed:.1f} s incl. LoadData and cppipe")
    assert set(outputs) == {names.illum_unit_id("Plate1", c) for c in experiment.sbs.cycles}
    for cycle in experiment.sbs.cycles:
        for channel in experiment.sbs.channels:
            path = names.illum_function_path(data_config.workspace_path, "Plate1", cycle, channel)
            illum = np.load(path)
            assert illum.shape == (info.image_height, info.image_width)
            assert np.isfinite(illum).all() and illum.min() >= 1.0 - 1e-6  # rescaled: min 1
        for base in ("A", "C", "G", "T"):  # sparse spots: the estimate follows the true vignette
            truth = np.load(info.illumination("SBS", base))
            illum = np.load(names.illum_function_path(data_config.workspace_path, "Plate1", cycle, base))
            assert np.corrcoef(truth.ravel(), illum.ravel())[0, 1] > 0.5
