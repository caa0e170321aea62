"""Analysis LoadData, units and graph on the tiny screen (no CellProfiler run)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from starrynight import naming
from starrynight.modules.analysis import AnalysisParameters, analysis_modules
from starrynight.modules.analysis.step import SBS_NUCLEI, loaddata_frame, write_loaddata
from starrynight.modules.loaddata import LoadDataError
from starrynight.naming import analysis as names
from starrynight.naming import cp as cp_names
from starrynight.naming import sbs as sbs_names


def _upstream(publish_plans, data_config, experiment, index, cp_chunk: int, sbs_chunk: int) -> pl.DataFrame:
    """What the CP and SBS arms will publish, with these chunk sizes."""
    from starrynight.modules.cp_illum_apply.step import CPIllumApplyParameters
    from starrynight.modules.sbs_illum_apply.step import SBSIllumApplyParameters

    return publish_plans(
        data_config, experiment, index, cp_illum_calc=None,
        cp_illum_apply=CPIllumApplyParameters(sites_per_unit=cp_chunk), sbs_illum_calc=None,
        sbs_illum_apply=SBSIllumApplyParameters(sites_per_unit=sbs_chunk),
    )  # fmt: skip


def test_loaddata_points_each_site_at_its_own_upstream_files(tiny_workspace, publish_plans) -> None:
    data_config, experiment, _ = tiny_workspace
    ws = data_config.workspace_path
    params = AnalysisParameters(sites_per_unit=1)
    out = naming.loaddata_dir(ws, names.ANALYSIS)
    index = pl.read_parquet(naming.index_table(ws))
    upstream = _upstream(publish_plans, data_config, experiment, index, cp_chunk=0, sbs_chunk=2)
    written = write_loaddata(index, experiment, params, data_config.images_path, out, upstream)
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


def test_a_site_an_earlier_step_did_not_publish_is_named(tiny_workspace, publish_plans) -> None:
    data_config, experiment, _ = tiny_workspace
    ws = data_config.workspace_path
    index = pl.read_parquet(naming.index_table(ws))
    upstream = _upstream(publish_plans, data_config, experiment, index, cp_chunk=0, sbs_chunk=0)
    lacking = upstream.filter(
        ~((pl.col("step") == "cp_illum_apply") & (pl.col("well") == "A2") & (pl.col("site") == 1))
    )
    with pytest.raises(LoadDataError, match="no file published by the earlier step; first: plate=Plate1, well=A2, site=1"):
        write_loaddata(index, experiment, AnalysisParameters(), data_config.images_path,
                       naming.loaddata_dir(ws, names.ANALYSIS), lacking)  # fmt: skip


def test_graph_reads_the_manifests_of_the_steps_it_follows(tiny_workspace) -> None:
    from starrynight.modules.sbs_preprocess.step import SBSPreprocessParameters
    from starrynight.modules.sbs_preprocess.step import units as preprocess_units

    data_config, experiment, _ = tiny_workspace
    params = AnalysisParameters(sites_per_unit=0)
    foci_units = preprocess_units(experiment, SBSPreprocessParameters(sites_per_unit=1))
    modules, graph = analysis_modules(data_config, experiment, params, upstream={"sbs_preprocess": foci_units})
    loaddata, cppipe, invoke, join, table = modules
    assert all(m.parameters is params for m in modules)
    assert [u.id for u in invoke.pipeline.units] == ["Plate1__A1", "Plate1__A2"]
    preprocess = naming.outputs_dir(data_config.workspace_path, sbs_names.SBS_PREPROCESS)
    assert join.foci_manifests()[("Plate1", "A2")] == [
        naming.unit_manifest(preprocess / "Plate1__A2__0000"), naming.unit_manifest(preprocess / "Plate1__A2__0001")
    ]  # fmt: skip
    read = [Path(p) for p in loaddata.pipeline.inputs["upstream"]]
    assert {p.parent.parent.parent.name for p in read} == {"cp_illum_apply", "sbs_illum_apply"}
    assert all(p.name == "manifest.parquet" for p in read)
    assert table.pipeline.outputs["table"][0].path == str(names.cell_table(data_config.workspace_path))


@pytest.mark.parametrize("sizes", [(1, 2, 0), (0, 0, 1), (3, 1, 2)])
def test_loaddata_names_exactly_the_files_the_arms_publish(tiny_workspace, publish_plans, sizes) -> None:
    """Whatever each step's chunking, every LoadData file is the one the upstream step
    publishes for that very site (and cycle 1, for SBS)."""
    data_config, experiment, _ = tiny_workspace
    ws = data_config.workspace_path
    index = pl.read_parquet(naming.index_table(ws))
    upstream = _upstream(publish_plans, data_config, experiment, index, cp_chunk=sizes[2], sbs_chunk=sizes[1])
    frame = loaddata_frame(experiment, AnalysisParameters(sites_per_unit=sizes[0]), index, upstream)
    assert frame.height == 4
    published = {
        (r["step"], r["name"], r["plate"], r["well"], r["site"], r["cycle"]): r["path"]
        for r in upstream.filter(pl.col("kind") == "image").iter_rows(named=True)
    }
    for row in frame.iter_rows(named=True):
        where = (row["Metadata_Plate"], row["Metadata_Well"], row["Metadata_Site"])
        for channel in experiment.cp.channels:
            path = f"{row[f'PathName_Corr{channel}']}/{row[f'FileName_Corr{channel}']}"
            assert path == published[("cp_illum_apply", channel, *where, None)]
        sbs = f"{row[f'PathName_{SBS_NUCLEI}']}/{row[f'FileName_{SBS_NUCLEI}']}"
        assert sbs == published[("sbs_illum_apply", experiment.sbs.nuclear_channel, *where, 1)]


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


def test_loaddata_uses_the_index_site_ids_and_batches(tiny_workspace, publish_plans, tmp_path: Path) -> None:
    """Sites numbered from 1 with a gap, two batches: analysis reads the files the upstream
    steps publish for those very sites (SaveImages names them from Metadata_Site)."""
    renumber = {0: 1, 1: 3}
    data_config, experiment, index = _renumbered_screen(tiny_workspace, tmp_path, {"CP": renumber, "SBS": renumber})
    assert experiment.batch is None  # two batches
    ws, images = data_config.workspace_path, data_config.images_path
    upstream = _upstream(publish_plans, data_config, experiment, index, cp_chunk=1, sbs_chunk=1)
    params = AnalysisParameters(sites_per_unit=0)
    written = write_loaddata(index, experiment, params, images, naming.loaddata_dir(ws, names.ANALYSIS), upstream)
    frame = pl.concat([pl.read_csv(p) for p in written])
    assert frame.height == 8
    assert set(frame["Metadata_Site"]) == {1, 3}
    assert dict(frame.select("Metadata_Plate", "Metadata_Batch").unique().iter_rows()) == {
        "Plate1": "Batch1", "Plate2": "Batch2"}  # fmt: skip
    for row in frame.iter_rows(named=True):
        plate, well, site = row["Metadata_Plate"], row["Metadata_Well"], row["Metadata_Site"]
        assert row["FileName_CorrDAPI"] == cp_names.corrected_image(plate, well, site, "DAPI")
        chunk = "0000" if site == 1 else "0001"
        assert Path(row["PathName_CorrDAPI"]) == naming.outputs_dir(ws, "cp_illum_apply") / f"{plate}__{well}__{chunk}"
        assert row[f"FileName_{SBS_NUCLEI}"] == sbs_names.aligned_image_file(plate, well, site, 1, "DAPI")
        assert Path(row[f"PathName_{SBS_NUCLEI}"]) == naming.outputs_dir(ws, "sbs_illum_apply") / f"{plate}__{well}__{chunk}"


def test_arms_numbering_a_well_differently_are_named(tiny_workspace, tmp_path: Path) -> None:
    data_config, experiment, index = _renumbered_screen(tiny_workspace, tmp_path, {"CP": {0: 0, 1: 1}, "SBS": {0: 1, 1: 2}})
    ws = data_config.workspace_path
    with pytest.raises(LoadDataError, match="Plate1/A1 CP site 0 vs SBS site 1"):
        write_loaddata(index, experiment, AnalysisParameters(), data_config.images_path,
                       naming.loaddata_dir(ws, names.ANALYSIS), pl.DataFrame())  # fmt: skip
