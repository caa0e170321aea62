"""The analysis modules: the CellProfiler trio, the per-unit foci join, the per-cell table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starrynight import naming
from starrynight.modules.analysis.step import ANALYSIS_STEP, AnalysisParameters, units
from starrynight.modules.base import StarryNightModule, UnitOfWork, register_module
from starrynight.modules.cellprofiler_step import (
    GenCPipeModule,
    GenLoadDataModule,
    InvokeCPModule,
    default_upstream_units,
    step_modules,
)
from starrynight.modules.stitch.step import stitched
from starrynight.modules.stitch.step import units as stitch_units
from starrynight.naming import analysis as names
from starrynight.naming import sbs as sbs_names
from starrynight.naming import stitch as stitch_names

if TYPE_CHECKING:
    import pipecraft as pc
    from starrynight.config import DataConfig
    from starrynight.experiments.protocol import Experiment


class AnalysisGenLoadDataModule(GenLoadDataModule):
    """Write the analysis LoadData CSVs (corrected CP channels + aligned SBS cycle-1 nuclei per site)."""

    cp_step = ANALYSIS_STEP


class AnalysisGenCPipeModule(GenCPipeModule):
    """Write the analysis pipeline (register CP to SBS, segment, measure, save cell labels)."""

    cp_step = ANALYSIS_STEP


class AnalysisInvokeCPModule(InvokeCPModule):
    """Run CellProfiler: per site the registration shift, cells, features and the Cells labels."""

    cp_step = ANALYSIS_STEP


@register_module
class AnalysisJoinModule(StarryNightModule):
    """Assign each unit's foci to its cells and vote each cell's barcode (plain Python)."""

    module_id = "analysis_join"
    step = names.ANALYSIS_JOIN
    Parameters = AnalysisParameters

    def __init__(self, *args: Any, foci_units: list[UnitOfWork] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the sbs_preprocess units whose published foci tables are read (default: that step's
        #: default chunking; a pipeline passes the units its module plans)
        self.foci_units = foci_units if foci_units is not None else default_upstream_units(
            sbs_names.SBS_PREPROCESS, self.experiment
        )

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return (
            {"cells": naming.outputs_dir(ws, names.ANALYSIS),
             "foci": naming.outputs_dir(ws, sbs_names.SBS_PREPROCESS)},
            {"outputs": naming.outputs_dir(ws, names.ANALYSIS_JOIN)},
        )  # fmt: skip

    @property
    def uow(self) -> list[UnitOfWork]:
        return units(self.experiment, self.parameters)

    def foci_manifests(self) -> dict[tuple[str, str], list[Path]]:
        """(plate, well) -> the manifests of the sbs_preprocess units of that well."""
        out: dict[tuple[str, str], list[Path]] = {}
        for unit in self.foci_units:
            folder = naming.unit_dir(self.spec.inputs["foci"], unit.id)
            out.setdefault((unit.keys["plate"], unit.keys["well"]), []).append(naming.unit_manifest(folder))
        return out

    def unit_output_dir(self, unit: UnitOfWork) -> Path:
        return naming.unit_dir(self.spec.outputs["outputs"], unit.id)

    def stitch_manifest(self, unit: UnitOfWork) -> list[Path]:
        """The stitch manifest of the unit's well (a stitched screen), else nothing."""
        if not stitched(self.experiment):
            return []
        folder = naming.unit_dir(naming.outputs_dir(self.workspace, stitch_names.STITCH), unit.id)
        return [naming.unit_manifest(folder)]

    def build_pipeline(self) -> pc.FanOut:
        import pipecraft as pc

        foci = self.foci_manifests()
        stitch = ["--stitch-manifest", "{input.stitch}"] if stitched(self.experiment) else []
        return pc.FanOut(
            name=f"{self.step}_cells",
            argv=["starrynight", "analysis", "join", "--cp-dir", "{input.cells}",
                  "--out-dir", "{output.out}", "--focus-reach", str(self.parameters.focus_reach),
                  "--min-match-score", str(self.parameters.min_match_score), *stitch, "{input.foci}"],
            units=[
                pc.Unit(id=u.id, inputs={"cells": [naming.unit_dir(self.spec.inputs["cells"], u.id)],
                                         "foci": foci.get((u.keys["plate"], u.keys["well"]), []),
                                         **({"stitch": self.stitch_manifest(u)} if stitch else {})})
                for u in self.uow
            ],
            outputs={"out": pc.directory(str(naming.unit_dir(self.spec.outputs["outputs"], "{unit}")))},
            container=self.container_image,
        )  # fmt: skip


@register_module
class AnalysisTableModule(StarryNightModule):
    """Concatenate every unit's cells into the run's per-cell table (one parquet)."""

    module_id = "analysis_table"
    step = names.ANALYSIS
    Parameters = AnalysisParameters

    def default_paths(self) -> tuple[dict[str, Path], dict[str, Path]]:
        ws = self.workspace
        return (
            {"cells": naming.outputs_dir(ws, names.ANALYSIS_JOIN)},
            {"table": names.cell_table(ws)},
        )

    def unit_dirs(self) -> list[Path]:
        return [naming.unit_dir(self.spec.inputs["cells"], u.id) for u in units(self.experiment, self.parameters)]

    def build_pipeline(self) -> pc.Command:
        import pipecraft as pc

        dirs = self.unit_dirs()
        return pc.Command(
            name="analysis_table",
            argv=["starrynight", "analysis", "table", "--output", str(self.spec.outputs["table"]),
                  *[str(d) for d in dirs]],
            inputs={"cells": dirs},
            outputs={"table": [self.spec.outputs["table"]]},
            container=self.container_image,
        )  # fmt: skip


ANALYSIS_TRIO = (AnalysisGenLoadDataModule, AnalysisGenCPipeModule, AnalysisInvokeCPModule)


def analysis_modules(
    data_config: DataConfig,
    experiment: Experiment,
    parameters: AnalysisParameters | dict | None = None,
    upstream: dict[str, list[UnitOfWork]] | None = None,
) -> tuple[list[StarryNightModule], pc.Seq]:
    """The five analysis modules sharing one parameters object, and their graph:
    (LoadData || pipeline) -> CellProfiler -> join per unit -> per-cell table.

    `upstream` gives the units of cp_illum_apply, sbs_illum_apply and sbs_preprocess (step ->
    units), whose manifests the analysis reads; for a step it does not name, that step's default
    chunking is assumed."""
    import pipecraft as pc

    params = AnalysisParameters(**parameters) if isinstance(parameters, dict) else parameters
    params = params or AnalysisParameters()
    given = upstream or {}
    loaddata, cppipe, invoke = step_modules(ANALYSIS_TRIO, data_config, experiment, params, upstream=given)
    if stitched(experiment):  # a stitched screen's image sets are the crops the stitch step published
        loaddata.upstream = {stitch_names.STITCH: given.get(stitch_names.STITCH) or stitch_units(experiment)}
    join = AnalysisJoinModule(data_config, experiment, params, foci_units=given.get(sbs_names.SBS_PREPROCESS))
    table = AnalysisTableModule(data_config, experiment, params)
    graph = pc.Seq([
        pc.Parallel([loaddata.pipeline, cppipe.pipeline]), invoke.pipeline, join.pipeline, table.pipeline,
    ])  # fmt: skip
    return [loaddata, cppipe, invoke, join, table], graph
