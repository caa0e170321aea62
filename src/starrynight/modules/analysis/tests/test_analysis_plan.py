"""Analysis LoadData, units and graph on the tiny screen (no CellProfiler run)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from starrynight import naming
from starrynight.modules.analysis import AnalysisParameters, analysis_modules
from starrynight.modules.analysis.step import SBS_NUCLEI, loaddata_frame, site_table, write_loaddata
from starrynight.modules.loaddata import LoadDataError
from starrynight.naming import analysis as names
from starrynight.naming import cp as cp_names
from starrynight.naming import sbs as sbs_names


def test_loaddata_points_each_site_at_its_own_upstream_files(tiny_workspace) -> None:
    data_config, experiment, _ = tiny_workspace
    ws = data_config.workspace_path
    params = AnalysisParameters(sites_per_unit=1, sbs_sites_per_unit=2, cp_sites_per_unit=0)
    out = naming.loaddata_dir(ws, names.ANALYSIS)
    written = write_loaddata(pl.DataFrame(), experiment, params, data_config.images_path, out)
    assert [p.name for p in written] == ["Plate1__A1__0000.csv", "Plate1__A1__0001.csv",
                                         "Plate1__A2__0000.csv", "Plate1__A2__0001.csv"]  # fmt: skip
    frame = pl.read_csv(written[1])
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert (row["Metadata_Plate"], row["Metadata_Well"], row["Metadata_Site"]) == ("Plate1", "A1", 1)
    assert row[f"FileName_{SBS_NUCLEI}"] == sbs_names.aligned_image_file("Plate1", "A1", 1, 1, "DAPI")
    assert Path(row[f"PathName_{SBS_NUCLEI}"]) == ws / "sbs_illum_apply" / "outputs" / "Plate1__A1__0000"
    assert row["FileName_CorrDAPI"] == cp_names.corrected_image("Plate1", "A1", 1, "DAPI")
    assert Path(row["PathName_CorrMitoTracker"]) == ws / "cp_illum_apply" / "outputs" / "Plate1__A1"
    assert {row[c] for c in frame.columns if c.startswith("Frame_")} == {0}


def test_loaddata_refuses_a_folder_outside_the_workspace_layout(tmp_path) -> None:
    with pytest.raises(LoadDataError, match="is not the step's workspace folder"):
        write_loaddata(pl.DataFrame(), None, AnalysisParameters(), tmp_path, tmp_path / "somewhere")


def test_graph_reads_the_foci_units_holding_each_units_sites(tiny_workspace) -> None:
    data_config, experiment, _ = tiny_workspace
    params = AnalysisParameters(sites_per_unit=0, sbs_sites_per_unit=1)
    modules, graph = analysis_modules(data_config, experiment, params)
    loaddata, cppipe, invoke, join, table = modules
    assert all(m.parameters is params for m in modules)
    assert [u.id for u in invoke.pipeline.units] == ["Plate1__A1", "Plate1__A2"]
    foci = join.foci_dirs()
    preprocess = naming.outputs_dir(data_config.workspace_path, sbs_names.SBS_PREPROCESS)
    assert foci["Plate1__A2"] == [preprocess / "Plate1__A2__0000", preprocess / "Plate1__A2__0001"]
    sbs_inputs = invoke.pipeline.units[0].inputs["sbs_images"]
    assert [Path(p).name for p in sbs_inputs] == ["Plate1__A1__0000", "Plate1__A1__0001"]
    assert table.pipeline.outputs["table"][0].path == str(names.cell_table(data_config.workspace_path))


@pytest.mark.parametrize("sizes", [(1, 2, 0), (0, 0, 1), (3, 1, 2)])
def test_loaddata_frame_names_every_site_as_the_upstream_steps_do(tiny_workspace, sizes) -> None:
    """The vectorised LoadData equals a row-by-row build from the naming functions."""
    data_config, experiment, _ = tiny_workspace
    ws = data_config.workspace_path
    params = AnalysisParameters(sites_per_unit=sizes[0], sbs_sites_per_unit=sizes[1], cp_sites_per_unit=sizes[2])
    frame = loaddata_frame(ws, experiment, params)
    expected = []
    for row in site_table(experiment, params).iter_rows(named=True):
        plate, well, site, rank = row["plate"], row["well"], row["site"], row["site_rank"]
        record = {"Metadata_Batch": row["batch"], "Metadata_Plate": plate, "Metadata_Well": well,
                  "Metadata_Site": site}  # fmt: skip
        cp_unit = naming.unit_dir(naming.outputs_dir(ws, "cp_illum_apply"),
                                  sbs_names.site_unit_id(plate, well, rank, params.cp_sites_per_unit))  # fmt: skip
        for ch in experiment.cp.channels:
            path = cp_unit / cp_names.corrected_image(plate, well, site, ch)
            record |= {f"FileName_Corr{ch}": path.name, f"PathName_Corr{ch}": str(path.parent), f"Frame_Corr{ch}": 0}
        path = sbs_names.aligned_image_path(ws, plate, well, site, rank, params.sbs_sites_per_unit,
                                            1, experiment.sbs.nuclear_channel)  # fmt: skip
        record |= {f"FileName_{SBS_NUCLEI}": path.name, f"PathName_{SBS_NUCLEI}": str(path.parent),
                   f"Frame_{SBS_NUCLEI}": 0, "unit": row["unit"]}  # fmt: skip
        expected.append(record)
    assert frame.height == 4
    assert frame.equals(pl.DataFrame(expected))
    assert frame.columns == list(expected[0])


def test_loaddata_frame_is_vectorised(tiny_screen) -> None:
    """120k sites in well under the ~5 s a per-row Python build takes."""
    import time

    _, experiment, _ = tiny_screen
    wells = [f"A{i}" for i in range(1, 7)]
    big = experiment.model_copy(update={
        "plates": ["P1"], "wells": {"P1": wells},
        "cp": experiment.cp.model_copy(update={"sites_per_well": 20_000}),
        "sbs": experiment.sbs.model_copy(update={"sites_per_well": 20_000}),
    })  # fmt: skip
    start = time.perf_counter()
    frame = loaddata_frame(Path("/workspace"), big, AnalysisParameters())
    assert frame.height == 120_000
    assert time.perf_counter() - start < 2.0
