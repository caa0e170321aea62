"""The generic pooled cell painting pipeline: CP and SBS arms in parallel, then analysis.

    Cell Painting arm:  illum calc -> illum apply + segmentation -> segmentation check
    SBS arm:            illum calc -> illum apply + alignment -> preprocessing / barcodes
    then:               analysis (registration, phenotype, foci -> cells) -> per-cell table
                        -> profiles (per guide, per gene) -> hits (genes vs controls)
    last:               the QC report

Each step is its three modules (LoadData, pipeline generation, the CellProfiler fan-out),
sharing one parameters object. A step's `.cppipe` needs only the experiment, so every step's
pipeline generation runs from the start, beside the first steps, instead of on the critical
path between two steps; a CellProfiler fan-out waits for its own `.cppipe` through the path
it reads (pipecraft orders a unit after what it reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starrynight.modules.base import StarryNightModule, UnitOfWork
from starrynight.modules.cellprofiler_step import step_modules

if TYPE_CHECKING:
    import pipecraft as pc
    from starrynight.config import DataConfig
    from starrynight.experiments.protocol import Experiment

CP_ARM = ("cp_illum_calc", "cp_illum_apply", "cp_segcheck")
SBS_ARM = ("sbs_illum_calc", "sbs_illum_apply", "sbs_preprocess")
AFTER_ANALYSIS = ("profiles", "hits", "qc")


def _trio(step: str) -> tuple[type, type, type]:
    """The (LoadData, CPipe, Invoke) module classes of a step, from the module registry."""
    from starrynight.modules.base import get_module

    return tuple(get_module(f"{step}_{stage}") for stage in ("loaddata", "cppipe", "invoke"))  # type: ignore[return-value]


def _step_graph(modules: list[StarryNightModule]) -> pc.Seq:
    """One step on its own: (LoadData || pipeline generation) -> CellProfiler."""
    import pipecraft as pc

    loaddata, cppipe, invoke = modules
    return pc.Seq([pc.Parallel([loaddata.pipeline, cppipe.pipeline]), invoke.pipeline])


def _runs(modules: list[StarryNightModule]) -> pc.Seq:
    """The modules in order, without pipeline generation (the composition runs that first)."""
    import pipecraft as pc
    from starrynight.modules.cellprofiler_step import GenCPipeModule

    return pc.Seq([m.pipeline for m in modules if not isinstance(m, GenCPipeModule)])


def require_same_fields(
    data_config: DataConfig, experiment: Experiment, stitching: bool = False
) -> None:
    """Arms imaging different fields need the stitch path (`stitching`); without it this
    pipeline would pair CP site k with SBS site k, so such a screen is refused."""
    from starrynight.algorithms.geometry.acquisition import GeometryError
    from starrynight.experiments.geometry import require_site_pairing
    from starrynight.experiments.pcp_generic import ExperimentError
    from starrynight.modules.stitch import stitched

    if stitching and stitched(experiment):
        return
    try:
        require_site_pairing(
            experiment.geometry,
            experiment.index_path,
            data_config.images_path,
            experiment.image_overlap_percentage,
        )
    except GeometryError as error:
        how = ("stitching needs both arms' pixel sizes (the images' OME PhysicalSizeX, read when the "
               "experiment is made from a local images folder, or init config geometry.cp/sbs.pixel_size_um)"
               if stitching else "stitching is off (parameters.stitch.enabled)")  # fmt: skip
        raise ExperimentError(f"{error}; {how}") from None


def create_pcp_generic_pipeline(
    data_config: DataConfig, experiment: Experiment, parameters: dict[str, Any] | None = None
) -> tuple[list[StarryNightModule], pc.Seq]:
    """All modules of the screen and the composed graph.

    `parameters` maps a step name (e.g. "cp_illum_apply") to its parameters (a dict or the
    step's parameters model); unnamed steps use their defaults.
    """
    import pipecraft as pc
    from starrynight.modules.analysis import analysis_modules
    from starrynight.modules.cellprofiler_step import GenCPipeModule
    from starrynight.modules.hits import HitsModule, HitsParameters
    from starrynight.modules.profiles import ProfilesModule, ProfilesParameters
    from starrynight.modules.stitch import StitchModule, StitchParameters, stitched
    from starrynight.qc.figures import QCParameters
    from starrynight.qc.module import (
        QCGateBeforeAnalysisModule,
        QCGateBeforeProfilesModule,
        QCReportModule,
    )

    parameters = couple_parameters(parameters or {})
    stitch_params = StitchParameters(**parameters["stitch"])
    require_same_fields(data_config, experiment, stitching=stitch_params.enabled)

    planned: dict[str, list[UnitOfWork]] = {}  # step -> the units its modules plan

    def arm(steps: tuple[str, ...]) -> tuple[list[StarryNightModule], pc.Seq]:
        mods: list[StarryNightModule] = []
        graphs = []
        for step in steps:
            trio = _trio(step)
            given = parameters.get(step)
            params = trio[0].Parameters(**given) if isinstance(given, dict) else given
            reads = {earlier: planned[earlier] for earlier in trio[0].cp_step.reads}
            step_mods = step_modules(trio, data_config, experiment, params, upstream=reads)
            planned[step] = step_mods[-1].uow
            mods += step_mods
            graphs.append(_runs(step_mods))
        return mods, pc.Seq(graphs)

    cp_mods, cp_graph = arm(CP_ARM)
    sbs_mods, sbs_graph = arm(SBS_ARM)
    stitch_mods = []
    if stitched(experiment):
        stitch_mods = [StitchModule(data_config, experiment, stitch_params, upstream=planned)]
        planned["stitch"] = stitch_mods[0].uow
    analysis_mods, _ = analysis_modules(
        data_config, experiment, parameters["analysis"], upstream=planned
    )
    profiles_params = ProfilesParameters(**parameters["profiles"])
    _require_control_gene(experiment, profiles_params.control_gene)
    profiles = ProfilesModule(data_config, experiment, profiles_params)
    hits = HitsModule(data_config, experiment, HitsParameters(**parameters["hits"]))
    qc = QCParameters(**parameters["qc"])
    report = QCReportModule(data_config, experiment, qc).reading(
        cp_mods + sbs_mods + [profiles, hits]
    )
    gates = [g for g in (QCGateBeforeAnalysisModule(data_config, experiment, qc),
                         QCGateBeforeProfilesModule(data_config, experiment, qc)) if g.active]  # fmt: skip
    modules = cp_mods + sbs_mods + stitch_mods + analysis_mods + [profiles, hits, *gates, report]

    def gate(stage: str) -> list[pc.Command]:
        return [g.pipeline for g in gates if g.stage == stage]

    screen = pc.Seq([pc.Parallel([cp_graph, sbs_graph]), *gate("before_analysis"),
                     *[m.pipeline for m in stitch_mods], _runs(analysis_mods),
                     *gate("before_profiles"), profiles.pipeline, hits.pipeline])  # fmt: skip
    cppipes = [m.pipeline for m in modules if isinstance(m, GenCPipeModule)]
    return modules, pc.Seq([pc.Parallel([*cppipes, screen]), report.pipeline])


def _require_control_gene(experiment: Experiment, control_gene: str) -> None:
    """The library must list the control gene the profiles are normalised to."""
    from starrynight.config import to_path
    from starrynight.experiments.barcodes import BarcodeLibraryError, check_control_gene

    library = getattr(experiment, "barcode_csv_path", None)
    if library is None:
        return
    try:
        check_control_gene(to_path(library), control_gene)
    except BarcodeLibraryError as error:
        raise ParameterError(str(error)) from None


def parameter_links() -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Every (downstream step, field) copied from an (upstream step, field): the segmentation
    check's segmentation settings, which are illumination apply's (it redraws the segmentation
    that step made). Where a step's files are is never a setting: it is read from what the
    earlier step published."""
    from starrynight.modules.cp_illum_apply.step import SegmentationParameters

    return [
        (("cp_segcheck", f), ("cp_illum_apply", f)) for f in SegmentationParameters.model_fields
    ]


def couple_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Step parameters (as dicts) with every linked setting copied from its upstream step.

    A user sets a linked setting once, on the upstream step; giving a downstream copy that
    disagrees is an error naming both settings.
    """
    from starrynight.modules.analysis import AnalysisParameters
    from starrynight.modules.base import get_module

    for step, given in parameters.items():
        check_step_parameters(step, given)

    def as_dict(step: str) -> dict[str, Any]:
        given = parameters.get(step) or {}
        return dict(given) if isinstance(given, dict) else given.model_dump(exclude_unset=True)

    out = {
        step: as_dict(step)
        for step in {*parameters, *CP_ARM, *SBS_ARM, "stitch", "analysis", *AFTER_ANALYSIS}
    }
    for (down, down_field), (up, up_field) in parameter_links():
        up_model = get_module(f"{up}_loaddata").Parameters
        value = out[up].get(up_field, up_model.model_fields[up_field].default)
        if down_field in out[down] and out[down][down_field] != value:
            raise ValueError(
                f"parameters: {down}.{down_field}={out[down][down_field]} must equal "
                f"{up}.{up_field}={value}; set it on {up} only"
            )
        out[down][down_field] = value
    out["analysis"] = AnalysisParameters(**out["analysis"])
    return out


class ParameterError(ValueError):
    """A step's parameters are unusable; the message names `parameters.<step>.<key>`."""


def _parameters_model(step: str) -> type:
    """The parameters model of a step named in `parameters`."""
    from starrynight.modules.analysis import AnalysisParameters
    from starrynight.modules.base import get_module
    from starrynight.modules.hits import HitsParameters
    from starrynight.modules.profiles import ProfilesParameters
    from starrynight.modules.stitch import StitchParameters
    from starrynight.qc.figures import QCParameters

    named = {"analysis": AnalysisParameters, "profiles": ProfilesParameters, "stitch": StitchParameters,
             "hits": HitsParameters, "qc": QCParameters}  # fmt: skip
    return named[step] if step in named else get_module(f"{step}_loaddata").Parameters


def check_step_parameters(step: str, given: Any) -> None:
    """Validate one step's parameters on their own model, so errors name that step's keys."""
    import difflib

    from pydantic import BaseModel, ValidationError

    from starrynight.messages import describe_validation

    steps = [*CP_ARM, *SBS_ARM, "stitch", "analysis", *AFTER_ANALYSIS]
    if step not in steps:
        close = difflib.get_close_matches(str(step), steps, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ParameterError(f"parameters.{step}: no such step (steps: {', '.join(steps)}){hint}")
    model = _parameters_model(step)
    if isinstance(given, BaseModel) or given is None:
        return
    if not isinstance(given, dict):
        raise ParameterError(
            f"parameters.{step}: expected a mapping of settings or a {model.__name__}, got "
            f"{type(given).__name__} {given!r} (settings: {', '.join(model.model_fields)})"
        )
    try:
        model.model_validate(given)
    except ValidationError as error:
        raise ParameterError(describe_validation(error, f"parameters.{step}.", model)) from None
