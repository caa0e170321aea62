"""CP segmentation check: nuclei and cell outlines on a sample of sites, and their counts.

Per SPEC 5: reads the corrected CP images `cp_illum_apply` wrote, segments nuclei and cells
with the same settings as that step, and writes one overlay PNG per sampled site
(`naming.cp.overlay_image`) and the counts (`Image.csv`: Count_Nuclei, Count_Cells). Unit of
work: a well; sampled sites: every `every_nth_site`-th site of the well, at most
`max_sites_per_well`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import Field

from starrynight import naming
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import CPStep, each_unit
from starrynight.modules.cp_illum_apply.step import (
    CP_ILLUM_APPLY,
    CPIllumApplyParameters,
    SegmentationParameters,
    channel_names,
    corrected_names,
    segmentation_modules,
)

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Pipeline
    from starrynight.experiments.protocol import Experiment

STEP = "cp_segcheck"
NUCLEI_COLOR, CELLS_COLOR = "#0080FF", "#FF4000"


class CPSegcheckParameters(SegmentationParameters):
    """The illumination apply step's parameters (segmentation, and its chunking, which says
    where its images are) plus the sampling of sites. The pcp-generic pipeline copies the
    shared ones from cp_illum_apply (`pipelines.pcp_generic.couple_parameters`); alone, use
    `for_illum_apply`."""

    sites_per_unit: int = Field(
        0, ge=0, description="cp_illum_apply's sites_per_unit (its unit folders hold the images)"
    )
    every_nth_site: int = Field(2, ge=1, description="check every Nth site of a well")
    max_sites_per_well: int = Field(4, ge=1, description="check at most this many sites per well")


def for_illum_apply(apply_params: CPIllumApplyParameters, **sampling: Any) -> CPSegcheckParameters:
    """Segmentation check parameters matching an illumination apply configuration."""
    shared = set(CPSegcheckParameters.model_fields) & set(type(apply_params).model_fields)
    return CPSegcheckParameters(**apply_params.model_dump(include=shared), **sampling)


def sampled_ranks(sites_per_well: int, params: CPSegcheckParameters) -> list[int]:
    """Site ranks (0-based, within a well) that are checked; `is_sampled` is the same rule."""
    return list(range(0, sites_per_well, params.every_nth_site))[: params.max_sites_per_well]


def is_sampled(site_rank: pl.Expr, params: CPSegcheckParameters) -> pl.Expr:
    every = params.every_nth_site
    return (site_rank % every == 0) & (site_rank // every < params.max_sites_per_well)


def units(experiment: Experiment, params: CPSegcheckParameters) -> list[UnitOfWork]:
    return [
        UnitOfWork(id=naming.unit_id(plate, well), keys={"plate": plate, "well": well})
        for plate in experiment.plates
        for well in experiment.wells[plate]
    ]


def _apply_outputs(workspace: Path) -> Path:
    return naming.outputs_dir(workspace, CP_ILLUM_APPLY.name)


def upstream(workspace: Path, experiment: Experiment, params: CPSegcheckParameters, unit: UnitOfWork) -> dict:
    """The illumination apply unit folders holding the well's sampled sites."""
    plate, well, count = unit.keys["plate"], unit.keys["well"], experiment.cp.sites_per_well
    apply_units = ld.plan_unit_ids({(plate, well): count}, "well", params.sites_per_unit)
    chunk = params.sites_per_unit if params.sites_per_unit > 0 else count
    chunks = sorted({rank // chunk for rank in sampled_ranks(count, params)})
    return {"corrected": [naming.unit_dir(_apply_outputs(workspace), apply_units[c]) for c in chunks]}


def _checked_channels(experiment: Experiment) -> list[str]:
    return [experiment.cp.nuclear_channel, experiment.cp.cell_channel]


def write_loaddata(
    index: pl.DataFrame, experiment: Experiment, params: CPSegcheckParameters, images_root: Path, out_dir: Path
) -> list[Path]:
    """One CSV per well: the sampled sites' corrected nuclear and cell images."""
    workspace = ld.step_workspace(out_dir, STEP)
    sites = (
        ld.channel_rows(index, "CP")
        .filter(pl.col("plate").is_in(experiment.plates))
        .select("batch", "plate", "well", "site")
        .unique()
    )
    plate, well = pl.col("plate"), pl.col("well")
    sites = ld.with_site_rank(sites).filter(is_sampled(pl.col("site_rank"), params))
    sites = sites.with_columns(
        apply_unit=ld.unit_ids(plate, well, pl.col("site_rank"), "well", params.sites_per_unit),
        unit=ld.unit_ids(plate, well, pl.col("site_rank"), "well", 0),
    )
    folders = {
        u: str(naming.unit_dir(_apply_outputs(workspace), u))
        for u in sites.get_column("apply_unit").unique().to_list()
    }
    names, images = channel_names(experiment), corrected_names(experiment)
    frame = sites.sort("plate", "well", "site").select(
        pl.col("batch").alias("Metadata_Batch"), plate.alias("Metadata_Plate"),
        well.alias("Metadata_Well"), pl.col("site").alias("Metadata_Site"),
        *[
            column
            for ch in _checked_channels(experiment)
            for column in ld.file_columns(
                images[ch], naming.cp.corrected_image_expr(plate, well, pl.col("site"), names[ch]),
                pl.col("apply_unit").replace_strict(folders),
            )
        ],
        "unit",
    )  # fmt: skip
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def build_cppipe(experiment: Experiment, params: CPSegcheckParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    images = corrected_names(experiment)
    nuclear, cell = (images[ch] for ch in _checked_channels(experiment))
    modules = [cp.load_data(), *segmentation_modules(nuclear, cell, params)]
    modules += [
        cp.rescale_intensity(cell, "SegCheckBackground"),
        cp.overlay_outlines(
            "SegCheckBackground", "SegCheckOverlay",
            [(naming.cp.NUCLEI, NUCLEI_COLOR), (naming.cp.CELLS, CELLS_COLOR)],
        ),  # fmt: skip
        cp.save_images(
            "SegCheckOverlay", file_format="png", single_name=naming.cp.overlay_image_pattern(),
            extra={"Image bit depth": "8-bit integer"},
        ),  # fmt: skip
        cp.export_to_spreadsheet(),
    ]
    return cp.Pipeline(modules=modules)


def expected_outputs(experiment: Experiment, params: CPSegcheckParameters) -> list[str]:
    return [naming.cp.overlay_image_glob(), naming.cp.measurement_table(naming.cp.IMAGE)]


CP_SEGCHECK = CPStep(
    name=STEP,
    cli_path=("segcheck",),
    title="CP segmentation check",
    Parameters=CPSegcheckParameters,
    loaddata_writer="starrynight.modules.cp_segcheck.step:write_loaddata",
    cppipe_builder="starrynight.modules.cp_segcheck.step:build_cppipe",
    units=units,
    upstream=each_unit(upstream),
    expected_outputs=expected_outputs,
)
