"""SBS preprocessing and barcode calling (unit of work: a chunk of `sites_per_unit` sites of a well).

Reads the corrected, cycle-aligned base images of sbs_illum_apply (image `Cycle01_A` is base A
of cycle 1, whichever channel carries it), removes the background with a white top-hat
(`EnhanceOrSuppressFeatures`, speckles), unmixes the four bases cycle by cycle
(`StarryNightCompensateColors`, which also gives the maximum over all compensated images), finds foci
on that maximum (`IdentifyPrimaryObjects`), calls and matches their barcodes against the
experiment's library (`StarryNightCallBarcodes`) and exports `Foci.csv` (location, `Barcode_*`) and
`Image.csv` (`naming.sbs.foci_table_file`, `image_table_file`).
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
from starrynight.modules.sbs_illum_apply.step import (
    DEFAULT_SITES_PER_UNIT,
    NO_COMPRESSION,
    site_rows,
    units_from_sites,
)
from starrynight.modules.sbs_illum_calc.step import check_cycles
from starrynight.naming import sbs as names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Module, Pipeline
    from starrynight.experiments.protocol import Experiment

BASES = ("A", "C", "G", "T")
FOCI_MAX = "CompensatedMax"


class SBSPreprocessParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    sites_per_unit: int = Field(
        DEFAULT_SITES_PER_UNIT,
        ge=0,
        description="sites of a well per unit of work (0: the whole well)",
    )
    tophat_size: int = Field(
        7, ge=2, le=50,
        description="white top-hat feature size (px), larger than a focus; at most 50, since its "
        "cost grows steeply with the size (a 1000 would run for hours per image)",
    )  # fmt: skip
    crosstalk_percentile: float = Field(
        97.0,
        ge=0,
        lt=100,
        description="StarryNightCompensateColors: estimate crosstalk from pixels above this percentile",
    )
    foci_diameter_min: int = Field(2, ge=1, description="smallest focus diameter (px)")
    foci_diameter_max: int = Field(10, ge=2, description="largest focus diameter (px)")
    foci_threshold_method: Literal["Otsu", "Robust Background", "Minimum Cross-Entropy"] = Field(
        "Otsu", description="IdentifyPrimaryObjects thresholding method for foci"
    )
    intensity_statistic: Literal["Mean", "Max"] = Field(
        "Mean", description="StarryNightCallBarcodes: focus intensity per base"
    )
    save_compensated: bool = Field(
        False, description="also save the compensated base images (16-bit TIFF)"
    )


def base_image(cycle: int, base: str, prefix: str = "") -> str:
    return names.cycle_image(cycle, base, prefix=prefix)


# ------------------------------------------------------------------ the step
def units(experiment: Experiment, params: SBSPreprocessParameters) -> list[UnitOfWork]:
    return units_from_sites(experiment, params.sites_per_unit)


def write_loaddata(
    index: pl.DataFrame, experiment: Experiment, params: SBSPreprocessParameters, images_root: Path,
    out_dir: Path, upstream: pl.DataFrame,
) -> list[Path]:  # fmt: skip
    """One CSV per unit; one row per site with every cycle's aligned base images, as
    sbs_illum_apply published them."""
    cycles = check_cycles(experiment)
    sites = (
        index.filter(pl.col("is_image") & (pl.col("arm") == "SBS") & (pl.col("cycle") == cycles[0]))
        .select("batch", "plate", "well", "site")
        .unique()
    )
    frame = site_rows(sites, experiment, params.sites_per_unit).sort("plate", "well", "site")
    aligned = manifest.select(upstream, names.SBS_ILLUM_APPLY, "image")
    for cycle in cycles:
        for base in BASES:
            channel = experiment.sbs.base_channels[base]
            published = aligned.filter((pl.col("name") == channel) & (pl.col("cycle") == cycle))
            published = published.select("plate", "well", "site", "path")
            frame = ld.with_published(
                frame, published, ("plate", "well", "site"), base_image(cycle, base)
            )
    frame = frame.select(
        pl.col("batch").alias("Metadata_Batch"), pl.col("plate").alias("Metadata_Plate"),
        pl.col("well").alias("Metadata_Well"), pl.col("site").alias("Metadata_Site"),
        *[c for c in frame.columns if c.split("_", 1)[0] in ("FileName", "PathName", "Frame")], "unit",
    )  # fmt: skip
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def _tophat(cycle: int, base: str, size: int) -> Module:
    from starrynight.cellprofiler import cppipe as cp

    return cp.Module(name="EnhanceOrSuppressFeatures", settings={
        "Select the input image": base_image(cycle, base), "Name the output image": base_image(cycle, base, "Bg"),
        "Select the operation": "Enhance", "Feature type": "Speckles", "Feature size": size,
        "Speed and accuracy": "Slow",
    })  # fmt: skip


def build_cppipe(experiment: Experiment, params: SBSPreprocessParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    cycles = check_cycles(experiment)
    modules = [cp.load_data()]
    modules += [_tophat(c, b, params.tophat_size) for c in cycles for b in BASES]
    modules.append(cp.Module(name="StarryNightCompensateColors", settings={
        "Number of cycles": len(cycles), "Input image name pattern": names.cycle_image_pattern("Bg"),
        "Output image name pattern": names.cycle_image_pattern("Comp"), "Estimate the crosstalk from": "Whole image",
        "Crosstalk matrix": "One per cycle", "Use only pixels brighter than this percentile": params.crosstalk_percentile,
        "Save the maximum over all compensated images?": True, "Name the maximum image": FOCI_MAX,
    }))  # fmt: skip
    modules.append(cp.identify_primary_objects(
        FOCI_MAX, names.FOCI_OBJECTS, (params.foci_diameter_min, params.foci_diameter_max),
        threshold_method=params.foci_threshold_method,
        extra={"Discard objects touching the border of the image?": False},
    ))  # fmt: skip
    modules.append(cp.Module(name="StarryNightCallBarcodes", settings={
        "Select the foci": names.FOCI_OBJECTS, "Number of cycles": len(cycles),
        "Base image name pattern": names.cycle_image_pattern("Comp"), "Intensity of a focus in each base": params.intensity_statistic,
        "Barcode library CSV": str(experiment.barcode_csv_path),
    }))  # fmt: skip
    if params.save_compensated:
        modules += [
            cp.save_images(base_image(c, b, "Comp"), single_name=names.compensated_image_pattern(c, b), extra=NO_COMPRESSION)
            for c in cycles for b in BASES
        ]  # fmt: skip
    modules.append(
        cp.export_to_spreadsheet(
            extra={"Add image metadata columns to your object data file?": True}
        )
    )
    return cp.Pipeline(modules=modules)


def products(experiment: Experiment, params: SBSPreprocessParameters) -> list[Product]:
    """Per unit the foci table (`Foci`: location and barcode calls) and the per-site table."""
    return [
        Product(kind="table", name=names.FOCI_OBJECTS, file=names.foci_table_file()),
        Product(kind="table", name="Image", file=names.image_table_file()),
    ]


SBS_PREPROCESS = step_of(
    __name__, name=names.SBS_PREPROCESS, cli_path=("sbs", "preprocess"), reads=(names.SBS_ILLUM_APPLY,),
    title="SBS preprocessing and barcode calling", Parameters=SBSPreprocessParameters,
)  # fmt: skip
