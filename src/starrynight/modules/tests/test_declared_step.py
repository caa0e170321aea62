"""A CellProfiler step declared in this file alone runs through the pipeline (real Snakemake,
real CellProfiler, the tiny screen): the declaration and one `module_classes` line are
everything a new step needs; its commands come from `starrynight step <this file>:TOY`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.experiments.protocol import Experiment
from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import CPStep, module_classes
from starrynight.modules.cp_illum_calc.step import cp_rows


class ToyParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    channel: str = Field("DAPI", description="the CP channel whose intensity is measured")


def toy_units(experiment: Experiment, params: ToyParameters) -> list[UnitOfWork]:
    return [UnitOfWork(id=plate, keys={"plate": plate}) for plate in experiment.plates]


def toy_loaddata(index, experiment, params: ToyParameters, images_root, out_dir, upstream) -> list[Path]:
    rows = cp_rows(index, experiment).with_columns(unit=pl.col("plate"))
    frame = ld.wide_image_sets(
        rows, images_root, {params.channel: "Raw"}, metadata=("Plate", "Well", "Site"),
        set_keys=("unit", "plate", "well", "site"),
    )  # fmt: skip
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in toy_units(experiment, params)])


def toy_cppipe(experiment: Experiment, params: ToyParameters):
    from starrynight.cellprofiler import cppipe as cp

    return cp.Pipeline(
        modules=[cp.load_data(), cp.measure_image_intensity(["Raw"]), cp.export_to_spreadsheet()]
    )


TOY = CPStep(
    name="toy_intensity",
    cli_path=(),
    declaration=f"{__file__}:TOY",
    Parameters=ToyParameters,
    loaddata_writer=toy_loaddata,
    cppipe_builder=toy_cppipe,
    units=toy_units,
    products=lambda experiment, params: [
        Product(kind="table", name=naming.cp.IMAGE, file=naming.cp.measurement_table(naming.cp.IMAGE))
    ],
)


ToyLoadData, ToyCPipe, ToyInvoke = module_classes(TOY, "Toy", __name__)


@pytest.mark.slow
def test_a_step_declared_in_a_test_file_runs_through_the_pipeline(tiny_workspace):
    import pipecraft as pc
    from starrynight.modules.cellprofiler_step import step_modules

    data_config, experiment, _ = tiny_workspace
    loaddata, cppipe, invoke = step_modules(
        (ToyLoadData, ToyCPipe, ToyInvoke), data_config, experiment
    )
    assert loaddata.pipeline.argv[1:3] == ["step", f"{__file__}:TOY"]
    graph = pc.Seq([pc.Parallel([loaddata.pipeline, cppipe.pipeline]), invoke.pipeline])
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False))
    wd = Path(data_config.scratch_path) / "runs" / "toy"
    handle = backend.run(graph, working_dir=wd)
    jobs = json.loads(handle.summary_path.read_text())["jobs"]
    assert {j["rule"] for j in jobs if j["status"] == "succeeded"} >= {"toy_intensity_invoke"}

    table = pl.read_csv(
        invoke.unit_output_dir(invoke.uow[0]) / naming.cp.measurement_table(naming.cp.IMAGE)
    )
    sites = sum(len(wells) for wells in experiment.wells.values()) * experiment.cp.sites_per_well
    assert table.height == sites
    assert (table.get_column("Intensity_MeanIntensity_Raw") > 0).all()
    assert backend.dry_run(graph, working_dir=wd).total == 0
