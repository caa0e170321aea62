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
    index = pl.read_parquet(naming.index_table(ws))
    written = write_loaddata(index, experiment, params, data_config.images_path, out)
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
    index = pl.read_parquet(naming.index_table(ws))
    frame = loaddata_frame(ws, experiment, params, index)
    expected = []
    for row in site_table(index, experiment, params).iter_rows(named=True):
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


def _renumbered_screen(tiny_workspace, tmp_path: Path, sites: dict[str, dict[int, int]]):
    """The tiny screen's index with each arm's sites renumbered (`sites[arm]`: old -> new) and
    a copy of Plate1 as Plate2 in another batch; its experiment and the index."""
    from starrynight.experiments.pcp_generic import PCPGenericExperiment

    data_config, _, _ = tiny_workspace
    ws = data_config.workspace_path
    index = pl.read_parquet(naming.index_table(ws)).filter(pl.col("is_image"))
    index = pl.concat([
        index.filter(pl.col("arm") == arm).with_columns(pl.col("site").replace_strict(mapping))
        for arm, mapping in sites.items()
    ])  # fmt: skip
    plate2 = index.with_columns(
        pl.col("key").str.replace_all("Plate1", "Plate2").str.replace_all("Batch1", "Batch2"),
        plate=pl.lit("Plate2"), batch=pl.lit("Batch2"),
    )
    index = pl.concat([index, plate2])
    index.write_parquet(tmp_path / "renumbered.parquet")
    experiment = PCPGenericExperiment.from_index(tmp_path / "renumbered.parquet", {
        "nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "barcode_csv_path": str(ws / "barcodes.csv"), "image_overlap_percentage": 10,
    })  # fmt: skip
    return data_config, experiment, index


def _site_units(csvs: list[Path]) -> dict[tuple[str, str, int], str]:
    """(plate, well, site) -> the unit whose LoadData lists the site."""
    return {
        (r["Metadata_Plate"], r["Metadata_Well"], r["Metadata_Site"]): csv.stem
        for csv in csvs for r in pl.read_csv(csv).iter_rows(named=True)
    }  # fmt: skip


def test_loaddata_uses_the_index_site_ids_and_batches(tiny_workspace, tmp_path: Path) -> None:
    """Sites numbered from 1 with a gap, two batches: analysis reads the files the upstream
    steps wrote for those very sites (SaveImages names them from Metadata_Site)."""
    from starrynight.modules.cp_illum_apply.step import CPIllumApplyParameters
    from starrynight.modules.cp_illum_apply.step import write_loaddata as write_cp
    from starrynight.modules.sbs_illum_apply.step import SBSIllumApplyParameters
    from starrynight.modules.sbs_illum_apply.step import write_loaddata as write_sbs

    renumber = {0: 1, 1: 3}
    data_config, experiment, index = _renumbered_screen(tiny_workspace, tmp_path, {"CP": renumber, "SBS": renumber})
    assert experiment.batch is None  # two batches
    ws, images = data_config.workspace_path, data_config.images_path
    cp_units = _site_units(write_cp(index, experiment, CPIllumApplyParameters(sites_per_unit=1), images,
                                    naming.loaddata_dir(ws, "cp_illum_apply")))  # fmt: skip
    sbs_units = _site_units(write_sbs(index, experiment, SBSIllumApplyParameters(sites_per_unit=1), images,
                                      naming.loaddata_dir(ws, "sbs_illum_apply")))  # fmt: skip
    params = AnalysisParameters(sites_per_unit=0, cp_sites_per_unit=1, sbs_sites_per_unit=1)
    written = write_loaddata(index, experiment, params, images, naming.loaddata_dir(ws, names.ANALYSIS))
    frame = pl.concat([pl.read_csv(p) for p in written])
    assert frame.height == 8
    assert set(frame["Metadata_Site"]) == {1, 3}
    assert dict(frame.select("Metadata_Plate", "Metadata_Batch").unique().iter_rows()) == {
        "Plate1": "Batch1", "Plate2": "Batch2"}  # fmt: skip
    for row in frame.iter_rows(named=True):
        key = (row["Metadata_Plate"], row["Metadata_Well"], row["Metadata_Site"])
        plate, well, site = key
        assert row["FileName_CorrDAPI"] == cp_names.corrected_image(plate, well, site, "DAPI")
        assert Path(row["PathName_CorrDAPI"]) == naming.outputs_dir(ws, "cp_illum_apply") / cp_units[key]
        assert row[f"FileName_{SBS_NUCLEI}"] == sbs_names.aligned_image_file(plate, well, site, 1, "DAPI")
        assert Path(row[f"PathName_{SBS_NUCLEI}"]) == naming.outputs_dir(ws, "sbs_illum_apply") / sbs_units[key]
    # planning (no index) names the same folders
    invoke = analysis_modules(data_config, experiment, params)[0][2]
    unit = next(u for u in invoke.pipeline.units if u.id == "Plate2__A2")
    assert [Path(p).name for p in unit.inputs["cp_images"]] == [cp_units[("Plate2", "A2", s)] for s in (1, 3)]


def test_arms_numbering_a_well_differently_are_named(tiny_workspace, tmp_path: Path) -> None:
    data_config, experiment, index = _renumbered_screen(tiny_workspace, tmp_path, {"CP": {0: 0, 1: 1}, "SBS": {0: 1, 1: 2}})
    ws = data_config.workspace_path
    with pytest.raises(LoadDataError, match="Plate1/A1 CP site 0 vs SBS site 1"):
        write_loaddata(index, experiment, AnalysisParameters(), data_config.images_path,
                       naming.loaddata_dir(ws, names.ANALYSIS))  # fmt: skip
