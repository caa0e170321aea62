"""Analysis, CellProfiler part: register CP to SBS, segment, measure, save the cell labels.

Per site (unit of work: site chunks of a well, like the other per-well steps) CellProfiler
loads the corrected CP channels (cp_illum_apply) and the aligned SBS cycle-1 nuclear image
(sbs_illum_apply), measures the shift that moves the CP nuclei onto the SBS nuclei (Align),
segments nuclei, cells and cytoplasm on CP, measures intensity and size/shape, exports
per-object CSVs plus Image.csv (with the shift) and saves the Cells label image. The foci
are joined to the cells afterwards in plain Python (`join.py`, `analysis_join`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.modules import loaddata as ld
from starrynight.modules.analysis.join import MIN_MATCH_SCORE
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import CPStep
from starrynight.modules.cp_illum_apply.step import STEP as CP_ILLUM_APPLY
from starrynight.modules.cp_illum_apply.step import (
    CPIllumApplyParameters,
    channel_names,
    corrected_names,
)
from starrynight.modules.sbs_illum_apply.step import SBSIllumApplyParameters
from starrynight.modules.sbs_preprocess.step import name_expr
from starrynight.naming import analysis as names
from starrynight.naming import cp as cp_names
from starrynight.naming import sbs as sbs_names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Pipeline

SBS_NUCLEI = "SBSNuclei"


class AnalysisParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    sites_per_unit: int = Field(16, ge=0, description="sites per unit of work; 0: one unit per well")
    cp_sites_per_unit: int = Field(
        CPIllumApplyParameters.model_fields["sites_per_unit"].default, ge=0,
        description="sites_per_unit of cp_illum_apply (which of its unit folders holds a site)",
    )
    sbs_sites_per_unit: int = Field(
        SBSIllumApplyParameters.model_fields["sites_per_unit"].default, ge=0,
        description="sites_per_unit of sbs_illum_apply and sbs_preprocess",
    )
    nucleus_min_diameter: int = Field(10, ge=1, description="typical smallest nucleus, px (sets declumping)")
    nucleus_max_diameter: int = Field(30, ge=2, description="typical largest nucleus, px")
    declump_method: Literal["Intensity", "Shape"] = Field(
        "Shape", description="how touching nuclei are told apart"
    )
    nuclei_threshold_method: Literal["Otsu", "Minimum Cross-Entropy"] = Field(
        "Minimum Cross-Entropy", description="nuclei threshold"
    )
    focus_reach: float = Field(
        4.0, ge=0, description="foci up to this many px outside a segmented cell count for the nearest cell"
    )
    min_match_score: float = Field(
        MIN_MATCH_SCORE, ge=0, le=1,
        description="lowest match score (fraction of cycles agreeing with the library barcode) a "
        "focus needs to vote for a cell's gene; farther reads get no gene",
    )  # fmt: skip


def _sites(experiment: Any) -> dict[tuple[str, str], int]:
    """Sites per well analysed: those imaged in both arms. This version pairs the k-th CP site
    of a well with its k-th SBS site, which must be the same field (same site id, SPEC 8);
    mapping CP sites onto fewer, larger SBS sites comes later."""
    paired = min(experiment.cp.sites_per_well, experiment.sbs.sites_per_well)
    return {(plate, well): paired for plate in experiment.plates for well in experiment.wells[plate]}


def units(experiment: Any, params: AnalysisParameters) -> list[UnitOfWork]:
    sites = _sites(experiment)
    return [UnitOfWork(id=u) for u in ld.plan_unit_ids(sites, "well", params.sites_per_unit)]


def _with_unit(frame: pl.DataFrame, params: AnalysisParameters) -> pl.DataFrame:
    return frame.with_columns(
        unit=ld.unit_ids(pl.col("plate"), pl.col("well"), pl.col("site_rank"), "well", params.sites_per_unit)
    )


def site_ranks(experiment: Any, params: AnalysisParameters) -> pl.DataFrame:
    """plate, well, site_rank and unit of every analysed site, from the experiment alone.

    Enough for planning: like cp_illum_apply and sbs_illum_apply, a unit holds consecutive
    site RANKS of a well, whatever the sites' ids (`site_table` adds them from the index).
    """
    counts = pl.DataFrame(
        [{"plate": p, "well": w, "n": n} for (p, w), n in sorted(_sites(experiment).items())],
        schema={"plate": pl.String, "well": pl.String, "n": pl.Int64},
    )
    ranks = counts.select("plate", "well", pl.int_ranges(pl.col("n")).alias("site_rank")).explode("site_rank")
    return _with_unit(ranks.with_columns(pl.col("site_rank").cast(pl.Int64)), params)


def _arm_sites(index: pl.DataFrame, experiment: Any, arm: str) -> pl.DataFrame:
    """batch, plate, well, site and site_rank (0-based, within the well) of an arm's sites."""
    sites = (
        index.filter(pl.col("is_image") & (pl.col("arm") == arm) & pl.col("plate").is_in(experiment.plates))
        .select("batch", "plate", "well", pl.col("site").cast(pl.Int64))
        .unique()
    )
    return ld.with_site_rank(sites)


def site_table(index: pl.DataFrame, experiment: Any, params: AnalysisParameters) -> pl.DataFrame:
    """batch, plate, well, site, site_rank and unit of every analysed site, ids from the index.

    The k-th CP site of a well pairs with its k-th SBS site (the ranks cp_illum_apply and
    sbs_illum_apply chunk by), which must carry the same site id; a well whose arms number
    their sites differently is an error naming it.
    """
    cp = _arm_sites(index, experiment, "CP")
    sbs = _arm_sites(index, experiment, "SBS").select("plate", "well", "site_rank", sbs_site="site")
    paired = cp.join(sbs, on=["plate", "well", "site_rank"], how="inner")
    differ = paired.filter(pl.col("site") != pl.col("sbs_site"))
    if differ.height:
        row = differ.sort("plate", "well", "site_rank").row(0, named=True)
        raise ld.LoadDataError(
            f"analysis pairs the k-th CP and SBS site of a well, which must be the same site; "
            f"{differ.height} pair(s) differ, first: {row['plate']}/{row['well']} CP site {row['site']} "
            f"vs SBS site {row['sbs_site']}"
        )
    table = paired.select("batch", "plate", "well", "site", "site_rank").sort("plate", "well", "site")
    return _with_unit(table, params)


def unit_folder(workspace: Path, step: str, site_rank: pl.Expr, sites_per_unit: int) -> pl.Expr:
    """Per row, the folder of `step`'s unit holding the site (the well-chunk rule of
    `loaddata.plan_unit_ids(..., "well", sites_per_unit)`, which cp_illum_apply and
    sbs_illum_apply plan their units with)."""
    unit = ld.unit_ids(pl.col("plate"), pl.col("well"), site_rank, "well", sites_per_unit)
    return naming.unit_dir_expr(naming.outputs_dir(workspace, step), unit)


def _cp_folder(workspace: Path, params: AnalysisParameters) -> pl.Expr:
    return unit_folder(workspace, CP_ILLUM_APPLY, pl.col("site_rank"), params.cp_sites_per_unit)


def _sbs_folder(workspace: Path, params: AnalysisParameters) -> pl.Expr:
    return unit_folder(workspace, sbs_names.SBS_ILLUM_APPLY, pl.col("site_rank"), params.sbs_sites_per_unit)


def loaddata_frame(
    workspace: Path, experiment: Any, params: AnalysisParameters, index: pl.DataFrame
) -> pl.DataFrame:
    """One LoadData row per site: corrected CP channels and the aligned SBS cycle-1 nuclei."""
    fields = {"plate": pl.col("plate"), "well": pl.col("well"), "site": pl.col("site").cast(pl.String)}
    cp_folder, channels = _cp_folder(workspace, params), channel_names(experiment)
    columns = [
        column
        for ch, image in corrected_names(experiment).items()
        for column in ld.file_columns(
            image, cp_names.corrected_image_expr(*fields.values(), channels[ch]), cp_folder
        )
    ]
    cycle, nuclear = experiment.sbs.cycles[0], experiment.sbs.nuclear_channel
    sbs_file = name_expr(lambda **k: sbs_names.aligned_image_file(cycle=cycle, channel=nuclear, **k), **fields)
    columns += ld.file_columns(SBS_NUCLEI, sbs_file, _sbs_folder(workspace, params))
    return site_table(index, experiment, params).select(
        pl.col("batch").alias("Metadata_Batch"), pl.col("plate").alias("Metadata_Plate"),
        pl.col("well").alias("Metadata_Well"), pl.col("site").alias("Metadata_Site"), *columns, "unit",
    )  # fmt: skip


def write_loaddata(
    index: pl.DataFrame, experiment: Any, params: AnalysisParameters, images_root: Path, out_dir: Path
) -> list[Path]:
    """One CSV per unit; rows point at earlier steps' outputs in the workspace (the index gives
    only the sites: their ids and batch, as the upstream steps wrote them)."""
    frame = loaddata_frame(ld.step_workspace(out_dir, names.ANALYSIS), experiment, params, index)
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def build_cppipe(experiment: Any, params: AnalysisParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    corr = corrected_names(experiment)
    nuclear, cell = corr[experiment.cp.nuclear_channel], corr[experiment.cp.cell_channel]
    objects = list(names.OBJECTS)
    return cp.Pipeline(modules=[
        cp.load_data(),
        cp.align((SBS_NUCLEI, f"Aligned{SBS_NUCLEI}"), (nuclear, names.REGISTERED_CP_NUCLEI),
                 method="Normalized Cross Correlation"),
        cp.identify_primary_objects(
            nuclear, names.NUCLEI, (params.nucleus_min_diameter, params.nucleus_max_diameter),
            threshold_method=params.nuclei_threshold_method,
            extra={"Method to distinguish clumped objects": params.declump_method,
                   "Discard objects touching the border of the image?": False,
                   "Discard objects outside the diameter range?": False}),
        cp.identify_secondary_objects(names.NUCLEI, names.CELLS, cell),
        cp.identify_tertiary_objects(names.CELLS, names.NUCLEI, names.CYTOPLASM),
        cp.measure_object_intensity(list(corr.values()), objects),
        cp.measure_object_size_shape(objects, extra={"Calculate the Zernike features?": False}),
        cp.Module(name="ConvertObjectsToImage", settings={
            "Select the input objects": names.CELLS, "Name the output image": "CellLabels",
            "Select the color format": "uint16"}),
        cp.save_images("CellLabels", single_name=names.cell_labels_pattern(), bit_depth="No conversion",
                       extra={"Save with lossless compression?": False}),
        cp.export_to_spreadsheet(),
    ])  # fmt: skip


def expected_outputs(experiment: Any, params: AnalysisParameters) -> list[str]:
    tables = [names.image_table_file(), *(names.object_table_file(o) for o in names.OBJECTS)]
    return [*tables, names.cell_labels_glob()]


def upstream(
    workspace: Path, experiment: Any, params: AnalysisParameters, units: list[UnitOfWork]
) -> dict[str, dict[str, list[Path]]]:
    """Per unit, the unit folders of cp_illum_apply and sbs_illum_apply holding its images."""
    folders = (
        site_ranks(experiment, params)
        .group_by("unit", maintain_order=True)
        .agg(cp=_cp_folder(workspace, params).unique().sort(), sbs=_sbs_folder(workspace, params).unique().sort())
    )
    dirs = {row["unit"]: row for row in folders.iter_rows(named=True)}
    return {
        unit.id: {"cp_images": [Path(p) for p in dirs[unit.id]["cp"]],
                  "sbs_images": [Path(p) for p in dirs[unit.id]["sbs"]]}
        for unit in units if unit.id in dirs
    }  # fmt: skip


ANALYSIS_STEP = CPStep(
    name=names.ANALYSIS,
    cli_path=("analysis",),
    Parameters=AnalysisParameters,
    loaddata_writer="starrynight.modules.analysis.step:write_loaddata",
    cppipe_builder="starrynight.modules.analysis.step:build_cppipe",
    units=units,
    upstream=upstream,
    expected_outputs=expected_outputs,
)
