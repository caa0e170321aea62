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

from starrynight import manifest, naming
from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import step_of
from starrynight.modules.cp_illum_apply.step import (
    CP_ILLUM_APPLY,
    CPIllumApplyParameters,
    SegmentationParameters,
    corrected_names,
    segmentation_modules,
)

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Pipeline
    from starrynight.experiments.protocol import Experiment

STEP = "cp_segcheck"
NUCLEI_COLOR, CELLS_COLOR = "#0080FF", "#FF4000"


class CPSegcheckParameters(SegmentationParameters):
    """The illumination apply step's segmentation settings (the check redraws the segmentation
    that step made) plus the sampling of sites. The pcp-generic pipeline copies the shared ones
    from cp_illum_apply (`pipelines.pcp_generic.couple_parameters`); alone, use
    `for_illum_apply`."""

    every_nth_site: int = Field(2, ge=1, description="check every Nth site of a well")
    max_sites_per_well: int = Field(4, ge=1, description="check at most this many sites per well")


def for_illum_apply(apply_params: CPIllumApplyParameters, **sampling: Any) -> CPSegcheckParameters:
    """Segmentation check parameters matching an illumination apply configuration."""
    shared = set(CPSegcheckParameters.model_fields) & set(type(apply_params).model_fields)
    return CPSegcheckParameters(**apply_params.model_dump(include=shared), **sampling)


def is_sampled(site_rank: pl.Expr, params: CPSegcheckParameters) -> pl.Expr:
    """Whether a site (by its 0-based rank within the well) is checked."""
    every = params.every_nth_site
    return (site_rank % every == 0) & (site_rank // every < params.max_sites_per_well)


def units(experiment: Experiment, params: CPSegcheckParameters) -> list[UnitOfWork]:
    return [
        UnitOfWork(id=naming.unit_id(plate, well), keys={"plate": plate, "well": well})
        for plate in experiment.plates
        for well in experiment.wells[plate]
    ]


def _checked_channels(experiment: Experiment) -> list[str]:
    return [experiment.cp.nuclear_channel, experiment.cp.cell_channel]


def write_loaddata(
    index: pl.DataFrame, experiment: Experiment, params: CPSegcheckParameters, images_root: Path,
    out_dir: Path, upstream: pl.DataFrame,
) -> list[Path]:  # fmt: skip
    """One CSV per well: the sampled sites' corrected nuclear and cell images, as
    cp_illum_apply published them."""
    sites = (
        ld.channel_rows(index, "CP")
        .filter(pl.col("plate").is_in(experiment.plates))
        .select("batch", "plate", "well", "site")
        .unique()
    )
    sites = ld.with_site_rank(sites).filter(is_sampled(pl.col("site_rank"), params))
    frame = ld.with_units(sites, "well", 0).sort("plate", "well", "site")
    checked = _checked_channels(experiment)
    corrected = manifest.select(upstream, CP_ILLUM_APPLY.name, "image", checked)
    images = corrected_names(experiment)
    for channel in checked:
        published = corrected.filter(pl.col("name") == channel).select("plate", "well", "site", "path")
        frame = ld.with_published(frame, published, ("plate", "well", "site"), images[channel])
    frame = frame.select(
        pl.col("batch").alias("Metadata_Batch"), pl.col("plate").alias("Metadata_Plate"),
        pl.col("well").alias("Metadata_Well"), pl.col("site").alias("Metadata_Site"),
        *[c for c in frame.columns if c.split("_", 1)[0] in ("FileName", "PathName", "Frame")], "unit",
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


def products(experiment: Experiment, params: CPSegcheckParameters) -> list[Product]:
    """Per sampled site an overlay (kind `overlay`); per well the counts (`Image.csv`)."""
    overlay = naming.cp.overlay_image("{plate}", "{well}", "{site}")
    return [
        Product(kind="overlay", name="segmentation", file=overlay),
        Product(kind="table", name=naming.cp.IMAGE, file=naming.cp.measurement_table(naming.cp.IMAGE)),
    ]


CP_SEGCHECK = step_of(
    __name__, name=STEP, cli_path=("segcheck",), reads=(CP_ILLUM_APPLY.name,),
    title="CP segmentation check", Parameters=CPSegcheckParameters,
)  # fmt: skip
