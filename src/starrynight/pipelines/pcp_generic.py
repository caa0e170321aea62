"""The generic pooled cell painting pipeline: CP and SBS arms in parallel, then analysis.

    Cell Painting arm:  illum calc -> illum apply + segmentation -> segmentation check
    SBS arm:            illum calc -> illum apply + alignment -> preprocessing / barcodes
    then:               analysis (registration, phenotype, foci -> cells) -> per-cell table

Each step is its three modules (LoadData + pipeline generation in parallel, then the
CellProfiler fan-out), and the three modules of a step share one parameters object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starrynight.modules.base import StarryNightModule
from starrynight.modules.cellprofiler_step import step_modules

if TYPE_CHECKING:
    import pipecraft as pc
    from starrynight.config import DataConfig

CP_ARM = ("cp_illum_calc", "cp_illum_apply", "cp_segcheck")
SBS_ARM = ("sbs_illum_calc", "sbs_illum_apply", "sbs_preprocess")


def _trio(step: str) -> tuple[type, type, type]:
    """The (LoadData, CPipe, Invoke) module classes of a step, from the module registry."""
    from starrynight.modules.base import get_module

    return tuple(get_module(f"{step}_{stage}") for stage in ("loaddata", "cppipe", "invoke"))  # type: ignore[return-value]


def _step_graph(modules: list[StarryNightModule]) -> pc.Seq:
    import pipecraft as pc

    loaddata, cppipe, invoke = modules
    return pc.Seq([pc.Parallel([loaddata.pipeline, cppipe.pipeline]), invoke.pipeline])


def create_pcp_generic_pipeline(
    data_config: DataConfig, experiment: Any, parameters: dict[str, Any] | None = None
) -> tuple[list[StarryNightModule], pc.Seq]:
    """All modules of the screen and the composed graph.

    `parameters` maps a step name (e.g. "cp_illum_apply") to its parameters (a dict or the
    step's parameters model); unnamed steps use their defaults.
    """
    import pipecraft as pc
    from starrynight.modules.analysis import analysis_modules

    parameters = parameters or {}
    unknown = set(parameters) - set(CP_ARM) - set(SBS_ARM) - {"analysis"}
    if unknown:
        raise ValueError(f"parameters given for unknown step(s): {sorted(unknown)}")

    def arm(steps: tuple[str, ...]) -> tuple[list[StarryNightModule], pc.Seq]:
        mods: list[StarryNightModule] = []
        graphs = []
        for step in steps:
            trio = _trio(step)
            given = parameters.get(step)
            params = trio[0].Parameters(**given) if isinstance(given, dict) else given
            step_mods = step_modules(trio, data_config, experiment, params)
            mods += step_mods
            graphs.append(_step_graph(step_mods))
        return mods, pc.Seq(graphs)

    cp_mods, cp_graph = arm(CP_ARM)
    sbs_mods, sbs_graph = arm(SBS_ARM)
    analysis_mods, analysis_graph = analysis_modules(data_config, experiment, parameters.get("analysis"))
    modules = cp_mods + sbs_mods + analysis_mods
    return modules, pc.Seq([pc.Parallel([cp_graph, sbs_graph]), analysis_graph])
