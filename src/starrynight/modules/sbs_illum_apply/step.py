"""SBS illumination apply + cycle alignment (unit of work: a chunk of `sites_per_unit` sites of a well).

One LoadData row per site holds every cycle x channel (`Cycle01_DAPI`, `Cycle02_A`, ...), each
read from ITS OWN cycle's raw file and plane, plus that cycle's illumination functions from
sbs_illum_calc (`IllumCycle01_DAPI`, ...). The pipeline divides by the illumination functions,
aligns every cycle to cycle 1 on the nuclear channel (one CellProfiler `Align` per cycle: the
first image is cycle 1's nuclear channel, the second that cycle's, the other channels follow
"Similarly"), saves every corrected aligned image as a 16-bit TIFF
(`naming.sbs.aligned_image_file`) and exports the per-site shifts (`Image.csv`,
`naming.sbs.alignment_shift_feature`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight import manifest
from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import step_of
from starrynight.modules.sbs_illum_calc.step import check_cycles, raw_channels
from starrynight.naming import sbs as names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Module, Pipeline
    from starrynight.experiments.protocol import Experiment

DEFAULT_SITES_PER_UNIT = 16  # amortises CellProfiler start-up (~6 s) over ~16 x 2 s of work
#: SaveImages' TIFF compression passes `compression=(8, 6)`, which the installed tifffile rejects
NO_COMPRESSION = {"Save with lossless compression?": False}


class SBSIllumApplyParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    sites_per_unit: int = Field(
        DEFAULT_SITES_PER_UNIT, ge=0, description="sites of a well per unit of work (0: the whole well)"
    )
    alignment_method: Literal["Mutual Information", "Normalized Cross Correlation"] = Field(
        "Normalized Cross Correlation", description="CellProfiler Align method"
    )


# ------------------------------------------------------------------ units (shared with sbs_preprocess)
def site_units(experiment: Experiment, sites_per_unit: int) -> pl.DataFrame:
    """plate, well, site_rank and unit of every SBS site the experiment plans."""
    sites = {(plate, well): experiment.sbs.sites_per_well for plate in experiment.plates for well in experiment.wells[plate]}
    return ld.with_units(ld.site_ranks(sites), "well", sites_per_unit)


def units_from_sites(experiment: Experiment, sites_per_unit: int) -> list[UnitOfWork]:
    return ld.planned_units(site_units(experiment, sites_per_unit))


def site_rows(rows: pl.DataFrame, experiment: Experiment, sites_per_unit: int) -> pl.DataFrame:
    """Index rows of the experiment's plates with their site rank and unit."""
    rows = ld.with_site_rank(rows.filter(pl.col("plate").is_in(experiment.plates)))
    return ld.with_units(rows, "well", sites_per_unit)


# ------------------------------------------------------------------ the step
def units(experiment: Experiment, params: SBSIllumApplyParameters) -> list[UnitOfWork]:
    return units_from_sites(experiment, params.sites_per_unit)


def cycle_channels(experiment: Experiment) -> list[tuple[int, str, str]]:
    """(cycle, raw channel, downstream channel) for every image of a site."""
    return [(c, raw, ch) for c in check_cycles(experiment) for raw, ch in raw_channels(experiment).items()]


def write_loaddata(
    index: pl.DataFrame, experiment: Experiment, params: SBSIllumApplyParameters, images_root: Path,
    out_dir: Path, upstream: pl.DataFrame,
) -> list[Path]:  # fmt: skip
    """One CSV per unit; one row per site with every cycle's raw planes and the illumination
    functions sbs_illum_calc published for that plate and cycle."""
    image_of = {(c, raw): names.cycle_image(c, ch) for c, raw, ch in cycle_channels(experiment)}
    rows = site_rows(ld.channel_rows(index, "SBS", experiment.sbs.cycles), experiment, params.sites_per_unit)
    table = pl.DataFrame(
        [{"cycle": c, "channel": raw, "image": img} for (c, raw), img in image_of.items()],
        schema={"cycle": rows.schema["cycle"], "channel": pl.String, "image": pl.String},
    )
    rows = rows.join(table, on=["cycle", "channel"], how="inner").drop("channel").rename({"image": "channel"})
    frame = ld.wide_image_sets(
        rows, images_root, {img: img for img in image_of.values()},
        metadata=("Batch", "Plate", "Well", "Site"), set_keys=("unit", "batch", "plate", "well", "site"),
    )  # fmt: skip
    channels = sorted({ch for _, _, ch in cycle_channels(experiment)})
    illum = manifest.select(upstream, names.SBS_ILLUM_CALC, "illum", channels)
    for cycle, _, channel in cycle_channels(experiment):
        published = illum.filter((pl.col("name") == channel) & (pl.col("cycle") == cycle))
        published = published.select(Metadata_Plate="plate", path="path")
        frame = ld.with_published(frame, published, ("Metadata_Plate",), names.cycle_image(cycle, channel, prefix="Illum"))
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def _align(experiment: Experiment, cycle: int, method: str) -> Module:
    from starrynight.cellprofiler import cppipe as cp

    nuclear = experiment.sbs.nuclear_channel
    others = [ch for ch in raw_channels(experiment).values() if ch != nuclear]
    return cp.Module(
        name="Align",
        settings={
            "Select the alignment method": method, "Crop mode": "Keep size",
            "Select the first input image": names.aligned_image(1, nuclear),
            "Name the first output image": names.cycle_image(cycle, nuclear, prefix="AlignReference"),
            "Select the second input image": names.cycle_image(cycle, nuclear, prefix="Corr"),
            "Name the second output image": names.aligned_image(cycle, nuclear),
        },
        groups=[cp.Group(attr="additional_images", add="add_image", items=[
            {"Select the additional image": names.cycle_image(cycle, ch, prefix="Corr"),
             "Name the output image": names.aligned_image(cycle, ch),
             "Select how the alignment is to be applied": "Similarly"}
            for ch in others
        ])],
    )  # fmt: skip


def build_cppipe(experiment: Experiment, params: SBSIllumApplyParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    images = cycle_channels(experiment)
    # cycle 1 is the reference: its corrected images are already "aligned"
    corrected = [
        (names.cycle_image(c, ch), names.aligned_image(c, ch) if c == 1 else names.cycle_image(c, ch, prefix="Corr"),
         names.cycle_image(c, ch, prefix="Illum"))
        for c, _, ch in images
    ]  # fmt: skip
    modules = [cp.load_data(), cp.correct_illumination_apply(corrected)]
    later_cycles = check_cycles(experiment)[1:]
    modules += [_align(experiment, c, params.alignment_method) for c in later_cycles]
    nuclear = experiment.sbs.nuclear_channel
    modules += [cp.measure_correlation([names.aligned_image(1, nuclear), names.aligned_image(c, nuclear)])
                for c in later_cycles]  # alignment score per cycle: correlation with cycle 1
    modules += [
        cp.save_images(names.aligned_image(c, ch), single_name=names.aligned_image_pattern(c, ch), extra=NO_COMPRESSION)
        for c, _, ch in images
    ]
    modules.append(cp.export_to_spreadsheet())
    return cp.Pipeline(modules=modules)


def products(experiment: Experiment, params: SBSIllumApplyParameters) -> list[Product]:
    """Per site, every cycle's corrected, aligned image of every channel (kind `image`, named by
    channel, with its cycle); per unit the alignment table (`Image`)."""
    images = [
        Product(kind="image", name=ch, cycle=c, file=names.aligned_image_file("{plate}", "{well}", "{site}", c, ch))
        for c, _, ch in cycle_channels(experiment)
    ]
    return [*images, Product(kind="table", name="Image", file=names.image_table_file())]


SBS_ILLUM_APPLY = step_of(
    __name__, name=names.SBS_ILLUM_APPLY, cli_path=("sbs", "illum-apply"), reads=(names.SBS_ILLUM_CALC,),
    title="SBS illumination apply and cycle alignment", Parameters=SBSIllumApplyParameters,
)  # fmt: skip
