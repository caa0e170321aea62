"""CP segmentation check, and the CP chain (illum calc -> apply -> segcheck) walked file by file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from skimage.io import imread

from starrynight import naming
from starrynight.config import DataConfig
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.cp_illum_apply import (
    CPIllumApplyGenCPipeModule,
    CPIllumApplyGenLoadDataModule,
    CPIllumApplyInvokeCPModule,
)
from starrynight.modules.cp_illum_apply.step import CPIllumApplyParameters
from starrynight.modules.cp_illum_calc import (
    CPIllumCalcGenCPipeModule,
    CPIllumCalcGenLoadDataModule,
    CPIllumCalcInvokeCPModule,
)
from starrynight.modules.cp_segcheck import (
    CPSegcheckGenCPipeModule,
    CPSegcheckGenLoadDataModule,
    CPSegcheckInvokeCPModule,
    for_illum_apply,
)
from starrynight.modules.cp_segcheck.step import NUCLEI_COLOR, write_loaddata
from starrynight.modules.direct import run_step_directly

CHAIN = {
    "cp_illum_calc": (CPIllumCalcGenLoadDataModule, CPIllumCalcGenCPipeModule, CPIllumCalcInvokeCPModule),
    "cp_illum_apply": (CPIllumApplyGenLoadDataModule, CPIllumApplyGenCPipeModule, CPIllumApplyInvokeCPModule),
    "cp_segcheck": (CPSegcheckGenLoadDataModule, CPSegcheckGenCPipeModule, CPSegcheckInvokeCPModule),
}
COUNT_TOLERANCE = 0.15
# .cppipe setting labels naming an image a module reads / an image a module makes
READS = ("Select the input image", "Select the illumination function", "Select images to measure",
         "Select image on which to display outlines", "Select the image to save",
         "Select the image with the desired dimensions")  # fmt: skip
MAKES = ("Name the output image",)


@pytest.fixture(scope="module")
def chain(tiny_screen, tmp_path_factory):
    """The CP chain run once, in order, on a private workspace: step -> {unit: output folder}."""
    data_config, experiment, info = tiny_screen
    workspace = tmp_path_factory.mktemp("segcheck") / "workspace"
    shutil.copytree(data_config.workspace_path, workspace)
    config = DataConfig(workspace_path=workspace, images_path=data_config.images_path,
                        scratch_path=workspace.parent / "scratch")  # fmt: skip
    modules = {step: step_modules(trio, config, experiment) for step, trio in CHAIN.items()}
    outputs = {step: run_step_directly(*mods) for step, mods in modules.items()}
    return config, experiment, info, modules, outputs


def test_sampling_reads_the_sites_apply_published_wherever_its_chunks_put_them(tiny_workspace, publish_plans):
    data_config, experiment, info = tiny_workspace
    ws = data_config.workspace_path
    apply_params = CPIllumApplyParameters(sites_per_unit=1)
    params = for_illum_apply(apply_params, every_nth_site=1, max_sites_per_well=2)
    invoke = CPSegcheckInvokeCPModule(data_config, experiment, params)
    assert [u.id for u in invoke.uow] == [f"Plate1__{w}" for w in info.wells]
    apply_dirs = naming.outputs_dir(ws, "cp_illum_apply")

    index = pl.read_parquet(naming.index_table(ws))
    upstream = publish_plans(data_config, experiment, index, cp_illum_calc=None, cp_illum_apply=apply_params)
    csvs = write_loaddata(index, experiment, params, data_config.images_path,
                          naming.loaddata_dir(ws, "cp_segcheck"), upstream)  # fmt: skip
    rows = pl.read_csv(csvs[0])
    assert rows["Metadata_Site"].to_list() == [0, 1]
    for site, path in zip(rows["Metadata_Site"], rows["PathName_CorrDAPI"], strict=True):
        assert Path(path) == apply_dirs / f"Plate1__A1__{site:04d}"  # the apply unit that wrote that site

    sparse = CPSegcheckGenLoadDataModule(data_config, experiment, for_illum_apply(
        CPIllumApplyParameters(), every_nth_site=2, max_sites_per_well=5))  # fmt: skip
    csvs = write_loaddata(index, experiment, sparse.parameters, data_config.images_path,
                          sparse.loaddata_csvs()[0].parent, upstream)  # fmt: skip
    assert pl.read_csv(csvs[0])["Metadata_Site"].to_list() == [0]


def test_overlays_and_counts(chain, capsys):
    config, experiment, info, modules, outputs = chain
    truth = pl.read_parquet(info.truth_sites)
    errors = []
    for unit, folder in outputs["cp_segcheck"].items():
        well = unit.split("__")[1]
        image = pl.read_csv(folder / naming.cp.measurement_table(naming.cp.IMAGE))
        assert image["Metadata_Site"].to_list() == [0]  # every 2nd site of 2
        applied = pl.read_csv(outputs["cp_illum_apply"][unit] / naming.cp.measurement_table(naming.cp.IMAGE))
        for row in image.iter_rows(named=True):
            site = row["Metadata_Site"]
            overlay = imread(folder / naming.cp.overlay_image("Plate1", well, site))
            assert overlay.shape == (info.image_height, info.image_width, 3) and overlay.dtype == np.uint8
            nuclei_rgb = tuple(int(NUCLEI_COLOR[i : i + 2], 16) for i in (1, 3, 5))
            assert (overlay == nuclei_rgb).all(axis=2).sum() > 100  # nuclei outlines are drawn
            same_site = applied.filter(pl.col("Metadata_Site") == site)
            assert abs(row["Count_Nuclei"] - same_site["Count_Nuclei"][0]) <= 1  # same segmentation
            n = truth.filter((pl.col("well") == well) & (pl.col("site") == site))["n_cells"][0]
            errors.append((well, site, (row["Count_Nuclei"] - n) / n))
            assert row["Count_Cells"] == row["Count_Nuclei"]
    with capsys.disabled():
        print("\ncp_segcheck nuclei count error per site:", errors)
    assert len(errors) == len(info.wells)
    assert all(abs(e) <= COUNT_TOLERANCE for _, _, e in errors), errors


def _loaddata_files(csv: Path) -> list[Path]:
    frame = pl.read_csv(csv)
    names = [c.removeprefix("FileName_") for c in frame.columns if c.startswith("FileName_")]
    return [Path(p) / f for n in names for p, f in zip(frame[f"PathName_{n}"], frame[f"FileName_{n}"], strict=True)]


def test_every_file_a_step_reads_is_produced_before_it(chain):
    config, experiment, info, modules, outputs = chain
    ws = config.workspace_path
    index = pl.read_parquet(naming.index_table(ws)).filter(pl.col("is_image"))
    raw = {config.images_path / key for key in index["key"]}
    steps = list(CHAIN)
    for position, step in enumerate(steps):
        before = naming.outputs_dir(ws, steps[position - 1]) if position else None
        invoke = modules[step][2].pipeline
        read_manifests = {Path(p) for p in modules[step][0].pipeline.inputs.get("upstream", [])}
        for unit in invoke.units:
            sources = pl.read_parquet(unit.inputs["sources"][0])
            published = set(sources.filter(pl.col("producer").is_not_null())["key"])
            for path in _loaddata_files(Path(unit.inputs["loaddata"][0])):
                if path in raw:
                    continue
                assert before is not None and path.is_relative_to(before), f"{step}/{unit.id}: {path}"
                assert path.is_file(), f"{step}/{unit.id} reads {path}, which {steps[position - 1]} did not write"
                # the file is one its producer published (so a change to it re-runs the unit), and
                # the step's LoadData waited for that producer's manifest (Snakemake orders them)
                assert str(path) in published, (step, unit.id, path)
                assert naming.unit_manifest(path.parent) in read_manifests, (step, unit.id, path)
    # segcheck reads only workspace files, apply both raw images and workspace files
    assert not any(p in raw for p in _loaddata_files(modules["cp_segcheck"][0].loaddata_csvs()[0]))


def _cppipe_images(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """(module, images it reads, images it makes) per module of a written .cppipe."""
    modules: list[tuple[str, list[str], list[str]]] = []
    for line in path.read_text().splitlines():
        header = re.match(r"^(\w+):\[module_num:", line)
        if header:
            modules.append((header.group(1), [], []))
            continue
        if not line.startswith("    ") or ":" not in line or not modules:
            continue
        label, value = line.strip().split(":", 1)
        values = [v.strip() for v in value.split(",") if v.strip() and v.strip() != "None"]
        if label in READS:
            modules[-1][1].extend(values)
        elif label in MAKES:
            modules[-1][2].extend(values)
    return modules


def test_every_image_a_pipeline_reads_is_loaded_or_made_earlier(chain):
    config, experiment, info, modules, outputs = chain
    for step, (loaddata, cppipe, _) in modules.items():
        columns = pl.read_csv(loaddata.loaddata_csvs()[0]).columns
        loaded = {c.removeprefix("FileName_") for c in columns if c.startswith("FileName_")}
        assert all(f"PathName_{n}" in columns and f"Frame_{n}" in columns for n in loaded)
        available, used = set(loaded), set()
        for module, reads, makes in _cppipe_images(cppipe.spec.outputs["cppipe"]):
            missing = set(reads) - available
            assert not missing, f"{step}: {module} reads {missing}, not in LoadData nor made before"
            used |= set(reads)
            available |= set(makes)
        assert loaded <= used, f"{step}: LoadData loads {loaded - used}, which no module reads"
