"""Analysis, CellProfiler part: register CP to SBS, segment, measure, save the cell labels.

Per site (unit of work: site chunks of a well, like the other per-well steps; on a stitched
screen, per crop of the stitch step, one unit per well) CellProfiler
loads the corrected CP channels (cp_illum_apply) and the aligned SBS cycle-1 nuclear image
(sbs_illum_apply), measures the shift that moves the CP nuclei onto the SBS nuclei (Align),
segments nuclei, cells and cytoplasm on CP, measures intensity and size/shape, exports
per-object CSVs plus Image.csv (with the shift) and saves the Cells label image. The foci
are joined to the cells afterwards in plain Python (`join.py`, `analysis_join`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight import manifest, naming
from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.analysis.join import MIN_MATCH_SCORE
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import step_of
from starrynight.modules.cp_illum_apply.step import STEP as CP_ILLUM_APPLY
from starrynight.modules.cp_illum_apply.step import corrected_names
from starrynight.modules.stitch.step import stitched
from starrynight.modules.stitch.step import units as stitch_units
from starrynight.naming import analysis as names
from starrynight.naming import sbs as sbs_names
from starrynight.naming import stitch as stitch_names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Module, Pipeline
    from starrynight.experiments.protocol import Experiment

SBS_NUCLEI = "SBSNuclei"


class AnalysisParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    sites_per_unit: int = Field(
        16, ge=0, description="sites per unit of work; 0: one unit per well"
    )
    nucleus_min_diameter: int = Field(
        10, ge=1, description="typical smallest nucleus, px (sets declumping)"
    )
    nucleus_max_diameter: int = Field(30, ge=2, description="typical largest nucleus, px")
    declump_method: Literal["Intensity", "Shape"] = Field(
        "Shape", description="how touching nuclei are told apart"
    )
    nuclei_threshold_method: Literal["Otsu", "Minimum Cross-Entropy"] = Field(
        "Otsu",
        description="nuclei threshold; Otsu falls near half a nucleus's brightness, where its edge "
        "is, Minimum Cross-Entropy far lower, in the blurred rim (nuclei ~30 % too large)",
    )
    nuclei_threshold_smoothing: float = Field(
        1.3488,
        ge=0,
        description="CellProfiler's threshold smoothing scale (1.3488: Gaussian sigma 1 px)",
    )
    nuclei_threshold_correction: float = Field(
        1.0, gt=0, description="factor on the nuclei threshold: > 1 shrinks nuclei, < 1 grows them"
    )
    focus_reach: float = Field(
        4.0,
        ge=0,
        description="foci up to this many px outside a segmented cell count for the nearest cell",
    )
    min_match_score: float = Field(
        MIN_MATCH_SCORE, ge=0, le=1,
        description="lowest match score (fraction of cycles agreeing with the library barcode) a "
        "focus needs to vote for a cell's gene; farther reads get no gene",
    )  # fmt: skip


def _sites(experiment: Experiment) -> dict[tuple[str, str], int]:
    """Sites per well analysed: those imaged in both arms. This version pairs the k-th CP site
    of a well with its k-th SBS site, which must be the same field (same site id);
    mapping CP sites onto fewer, larger SBS sites comes later."""
    paired = min(experiment.cp.sites_per_well, experiment.sbs.sites_per_well)
    return {
        (plate, well): paired for plate in experiment.plates for well in experiment.wells[plate]
    }


def site_ranks(experiment: Experiment, params: AnalysisParameters) -> pl.DataFrame:
    """plate, well, site_rank and unit of every analysed site, from the experiment alone.

    Enough for planning: a unit holds consecutive site RANKS of a well, whatever the sites'
    ids (`site_table` adds them from the index).
    """
    return ld.with_units(ld.site_ranks(_sites(experiment)), "well", params.sites_per_unit)


def units(experiment: Experiment, params: AnalysisParameters) -> list[UnitOfWork]:
    """Site chunks of a well; for a stitched screen, one unit per well (its crops)."""
    if stitched(experiment):
        return stitch_units(experiment)
    return ld.planned_units(site_ranks(experiment, params))


def _arm_sites(index: pl.DataFrame, experiment: Experiment, arm: str) -> pl.DataFrame:
    """batch, plate, well, site and site_rank (0-based, within the well) of an arm's sites."""
    sites = (
        index.filter(
            pl.col("is_image") & (pl.col("arm") == arm) & pl.col("plate").is_in(experiment.plates)
        )
        .select("batch", "plate", "well", pl.col("site").cast(pl.Int64))
        .unique()
    )
    return ld.with_site_rank(sites)


def site_table(
    index: pl.DataFrame, experiment: Experiment, params: AnalysisParameters
) -> pl.DataFrame:
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
    table = paired.select("batch", "plate", "well", "site", "site_rank").sort(
        "plate", "well", "site"
    )
    return ld.with_units(table, "well", params.sites_per_unit)


def loaddata_frame(
    experiment: Experiment, params: AnalysisParameters, index: pl.DataFrame, upstream: pl.DataFrame
) -> pl.DataFrame:
    """One LoadData row per site: the corrected CP channels cp_illum_apply published and the
    aligned SBS cycle-1 nuclei sbs_illum_apply published."""
    if stitched(experiment):
        return crop_loaddata_frame(experiment, index, upstream)
    frame = site_table(index, experiment, params)
    on = ("plate", "well", "site")
    corrected = manifest.select(upstream, CP_ILLUM_APPLY, "image", experiment.cp.channels)
    for channel, image in corrected_names(experiment).items():
        published = corrected.filter(pl.col("name") == channel).select(*on, "path")
        frame = ld.with_published(frame, published, on, image)
    cycle, nuclear = experiment.sbs.cycles[0], experiment.sbs.nuclear_channel
    aligned = manifest.select(upstream, sbs_names.SBS_ILLUM_APPLY, "image", [nuclear])
    published = aligned.filter(pl.col("cycle") == cycle).select(*on, "path")
    frame = ld.with_published(frame, published, on, SBS_NUCLEI)
    return frame.select(
        pl.col("batch").alias("Metadata_Batch"), pl.col("plate").alias("Metadata_Plate"),
        pl.col("well").alias("Metadata_Well"), pl.col("site").alias("Metadata_Site"),
        *[c for c in frame.columns if c.split("_", 1)[0] in ("FileName", "PathName", "Frame")], "unit",
    )  # fmt: skip


def crop_loaddata_frame(
    experiment: Experiment, index: pl.DataFrame, upstream: pl.DataFrame
) -> pl.DataFrame:
    """One LoadData row per crop of a stitched well: its CP channels and SBS cycle-1 nuclei, as
    the stitch step published them. `Metadata_Site` is the crop's rank in its well (CellProfiler
    names the label image by it); `Metadata_Tile` is the crop id the per-cell table carries."""
    on = ("plate", "well", "tile")
    crops = manifest.select(upstream, stitch_names.STITCH, stitch_names.CROP_KIND)
    frame = (
        crops.select(*on).unique().sort(*on)
        .with_columns((pl.col("tile").rank("dense").over("plate", "well") - 1).cast(pl.Int64).alias("site"))
    )  # fmt: skip
    batches = (
        index.filter(pl.col("is_image") & (pl.col("arm") == "CP"))
        .select("plate", "batch")
        .unique("plate")
    )
    frame = frame.join(batches, on="plate", how="left")
    cp_crops = crops.filter(pl.col("cycle").is_null())
    for channel, image in corrected_names(experiment).items():
        frame = ld.with_published(
            frame, cp_crops.filter(pl.col("name") == channel).select(*on, "path"), on, image
        )
    cycle, nuclear = experiment.sbs.cycles[0], experiment.sbs.nuclear_channel
    sbs = crops.filter((pl.col("cycle") == cycle) & (pl.col("name") == nuclear)).select(*on, "path")
    frame = ld.with_published(frame, sbs, on, SBS_NUCLEI)
    frame = frame.with_columns(
        unit=pl.concat_str(["plate", "well"], separator=naming.UNIT_SEPARATOR)
    )
    return frame.select(
        pl.col("batch").alias("Metadata_Batch"), pl.col("plate").alias("Metadata_Plate"),
        pl.col("well").alias("Metadata_Well"), pl.col("site").alias("Metadata_Site"),
        pl.col("tile").alias("Metadata_Tile"),
        *[c for c in frame.columns if c.split("_", 1)[0] in ("FileName", "PathName", "Frame")], "unit",
    )  # fmt: skip


def write_loaddata(
    index: pl.DataFrame, experiment: Experiment, params: AnalysisParameters, images_root: Path,
    out_dir: Path, upstream: pl.DataFrame,
) -> list[Path]:  # fmt: skip
    """One CSV per unit; rows point at the files earlier steps published (the index gives
    only the sites: their ids and batch)."""
    frame = loaddata_frame(experiment, params, index, upstream)
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def nuclei_module(image: str, params: AnalysisParameters, objects: str = names.NUCLEI) -> Module:
    """IdentifyPrimaryObjects as analysis segments nuclei on `image`."""
    from starrynight.cellprofiler import cppipe as cp

    return cp.identify_primary_objects(
        image, objects, (params.nucleus_min_diameter, params.nucleus_max_diameter),
        threshold_method=params.nuclei_threshold_method,
        extra={"Method to distinguish clumped objects": params.declump_method,
               "Threshold smoothing scale": params.nuclei_threshold_smoothing,
               "Threshold correction factor": params.nuclei_threshold_correction,
               "Discard objects touching the border of the image?": False,
               "Discard objects outside the diameter range?": False},
    )  # fmt: skip


def build_cppipe(experiment: Experiment, params: AnalysisParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    corr = corrected_names(experiment)
    nuclear, cell = corr[experiment.cp.nuclear_channel], corr[experiment.cp.cell_channel]
    objects = list(names.OBJECTS)
    return cp.Pipeline(modules=[
        cp.load_data(),
        cp.align((SBS_NUCLEI, f"Aligned{SBS_NUCLEI}"), (nuclear, names.REGISTERED_CP_NUCLEI),
                 method="Normalized Cross Correlation"),
        nuclei_module(nuclear, params),
        cp.identify_secondary_objects(names.NUCLEI, names.CELLS, cell),
        cp.identify_tertiary_objects(names.CELLS, names.NUCLEI, names.CYTOPLASM),
        cp.measure_object_intensity(list(corr.values()), objects),
        cp.measure_object_size_shape(objects, extra={"Calculate the Zernike features?": False}),
        cp.Module(name="ConvertObjectsToImage", settings={
            "Select the input objects": names.CELLS, "Name the output image": "CellLabels",
            "Select the color format": "uint16"}),
        cp.save_images("CellLabels", single_name=names.cell_labels_pattern(), bit_depth="No conversion",
                       extra={"Save with lossless compression?": False}),
        *(_nucleus_labels() if stitched(experiment) else []),
        cp.export_to_spreadsheet(),
    ])  # fmt: skip


def _nucleus_labels() -> list[Module]:
    """The Nuclei label image of a crop: the join drops nuclei the imaged area's edge cuts."""
    from starrynight.cellprofiler import cppipe as cp

    return [
        cp.Module(name="ConvertObjectsToImage", settings={
            "Select the input objects": names.NUCLEI, "Name the output image": "NucleusLabels",
            "Select the color format": "uint16"}),
        cp.save_images("NucleusLabels", single_name=names.cell_labels_pattern(names.NUCLEI),
                       bit_depth="No conversion", extra={"Save with lossless compression?": False}),
    ]  # fmt: skip


def products(experiment: Experiment, params: AnalysisParameters) -> list[Product]:
    """Per unit the per-site and per-object tables (kind `table`); per site the Cells label
    image (kind `labels`), and on a stitched screen the Nuclei's."""
    tables = [Product(kind="table", name="Image", file=names.image_table_file())]
    tables += [
        Product(kind="table", name=o, file=names.object_table_file(o)) for o in names.OBJECTS
    ]
    site = ("{plate}", "{well}", "{site}")
    labels = [Product(kind="labels", name=names.CELLS, file=names.cell_labels_file(*site))]
    if stitched(experiment):
        labels.append(
            Product(
                kind="labels", name=names.NUCLEI, file=names.cell_labels_file(*site, names.NUCLEI)
            )
        )
    return [*tables, *labels]


ANALYSIS_STEP = step_of(
    __name__, name=names.ANALYSIS, cli_path=("analysis",), reads=(CP_ILLUM_APPLY, sbs_names.SBS_ILLUM_APPLY),
    title="analysis (CP to SBS registration, cells, features)", Parameters=AnalysisParameters,
)  # fmt: skip
