"""CP illumination apply with nuclei/cell segmentation and per-site measurements.

Per SPEC 5: each raw CP channel is divided by its plate's illumination function (from
`cp_illum_calc`) and saved as a 16-bit TIFF (`naming.cp.corrected_image`); nuclei are found
on the corrected nuclear channel, cells grown from them on the cell channel, cytoplasm is
their difference; intensity and size/shape are measured and exported (`naming.cp`
tables). Unit of work: a well, or chunks of `sites_per_unit` consecutive sites of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from starrynight import manifest, naming
from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import step_of
from starrynight.modules.cp_illum_calc.step import CP_ILLUM_CALC, cp_rows, illum_names
from starrynight.modules.cp_illum_calc.step import image_names as raw_image_names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Module, Pipeline
    from starrynight.experiments.protocol import Experiment

STEP = "cp_illum_apply"
ThresholdMethod = Literal["Otsu", "Minimum Cross-Entropy", "Robust Background"]


class SegmentationParameters(BaseModel):
    """How nuclei and cells are found (shared by illumination apply and segmentation check)."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    nuclei_diameter_min: int = Field(6, ge=1, description="smallest nucleus diameter, pixels")
    nuclei_diameter_max: int = Field(30, ge=2, description="largest nucleus diameter, pixels")
    nuclei_threshold_method: ThresholdMethod = Field("Minimum Cross-Entropy", description="nuclei threshold")
    nuclei_threshold_correction: float = Field(1.0, gt=0, description="nuclei threshold multiplier")
    declump_method: Literal["Intensity", "Shape", "None"] = Field(
        "Shape", description="how touching nuclei are told apart"
    )
    discard_border_nuclei: bool = Field(False, description="drop nuclei touching the image border")
    cell_threshold_method: ThresholdMethod = Field("Otsu", description="cell body threshold")
    cell_threshold_correction: float = Field(1.0, gt=0, description="cell threshold multiplier")

    @model_validator(mode="after")
    def _diameters(self) -> SegmentationParameters:
        if self.nuclei_diameter_min >= self.nuclei_diameter_max:
            raise ValueError(
                f"nuclei_diameter_min ({self.nuclei_diameter_min}) must be below "
                f"nuclei_diameter_max ({self.nuclei_diameter_max})"
            )
        return self


class CPIllumApplyParameters(SegmentationParameters):
    sites_per_unit: int = Field(
        0, ge=0, description="consecutive sites of a well per unit of work; 0 = the whole well"
    )
    zernike_features: bool = Field(
        False, description="also measure Zernike shape features (about half of the step's time)"
    )


def _sites(experiment: Experiment) -> dict[tuple[str, str], int]:
    return {
        (plate, well): experiment.cp.sites_per_well
        for plate in experiment.plates
        for well in experiment.wells[plate]
    }


def units(experiment: Experiment, params: CPIllumApplyParameters) -> list[UnitOfWork]:
    return [
        UnitOfWork(id=uid, keys={"plate": plate, "well": well})
        for (plate, well), count in sorted(_sites(experiment).items())
        for uid in ld.plan_unit_ids({(plate, well): count}, "well", params.sites_per_unit)
    ]


def channel_names(experiment: Experiment) -> dict[str, str]:
    """CP channel (`experiment.cp.channels`) -> its name in file and image names (cleaned)."""
    return {ch: ld.image_name(ch, prefix="") for ch in experiment.cp.channels}


def corrected_names(experiment: Experiment) -> dict[str, str]:
    """CP channel -> CellProfiler image name of the corrected image."""
    return {ch: f"Corr{name}" for ch, name in channel_names(experiment).items()}


def write_loaddata(
    index: pl.DataFrame, experiment: Experiment, params: CPIllumApplyParameters, images_root: Path,
    out_dir: Path, upstream: pl.DataFrame,
) -> list[Path]:  # fmt: skip
    """One CSV per unit: raw planes of every site, plus the plate's illumination functions as
    cp_illum_calc published them."""
    rows = ld.with_site_rank(cp_rows(index, experiment))
    rows = ld.with_units(rows, "well", params.sites_per_unit)
    frame = ld.wide_image_sets(
        rows, images_root, raw_image_names(experiment),
        metadata=("Batch", "Plate", "Well", "Site"), set_keys=("unit", "batch", "plate", "well", "site"),
    )  # fmt: skip
    illum = manifest.select(upstream, CP_ILLUM_CALC.name, "illum", experiment.cp.channels)
    for channel, name in illum_names(experiment).items():
        published = illum.filter(pl.col("name") == channel).select(Metadata_Plate="plate", path="path")
        frame = ld.with_published(frame, published, ("Metadata_Plate",), name)
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def segmentation_modules(nuclear: str, cell: str, params: SegmentationParameters) -> list[Module]:
    """Nuclei on the `nuclear` image, cells grown from them on the `cell` image."""
    from starrynight.cellprofiler import cppipe as cp

    return [
        cp.identify_primary_objects(
            nuclear, naming.cp.NUCLEI, (params.nuclei_diameter_min, params.nuclei_diameter_max),
            threshold_method=params.nuclei_threshold_method,
            extra={
                "Discard objects touching the border of the image?": params.discard_border_nuclei,
                "Threshold correction factor": params.nuclei_threshold_correction,
                "Method to distinguish clumped objects": params.declump_method,
                "Method to draw dividing lines between clumped objects": params.declump_method,
                "Fill holes in identified objects?": "After both thresholding and declumping",
            },
        ),  # fmt: skip
        cp.identify_secondary_objects(
            naming.cp.NUCLEI, naming.cp.CELLS, cell, threshold_method=params.cell_threshold_method,
            extra={"Threshold correction factor": params.cell_threshold_correction},
        ),  # fmt: skip
    ]


def build_cppipe(experiment: Experiment, params: CPIllumApplyParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    raw, illum, corrected = raw_image_names(experiment), illum_names(experiment), corrected_names(experiment)
    channels = experiment.cp.channels
    modules = [
        cp.load_data(),
        cp.correct_illumination_apply([(raw[ch], corrected[ch], illum[ch]) for ch in channels]),
    ]
    names = channel_names(experiment)
    # CellProfiler's TIFF compression argument is rejected by the installed tifffile: save plain
    modules += [
        cp.save_images(
            corrected[ch], file_format="tiff", single_name=naming.cp.corrected_image_pattern(names[ch]),
            extra={"Save with lossless compression?": False},
        )
        for ch in channels
    ]
    modules += segmentation_modules(
        corrected[experiment.cp.nuclear_channel], corrected[experiment.cp.cell_channel], params
    )
    objects = [naming.cp.NUCLEI, naming.cp.CELLS, naming.cp.CYTOPLASM]
    modules += [
        cp.identify_tertiary_objects(naming.cp.CELLS, naming.cp.NUCLEI, naming.cp.CYTOPLASM),
        cp.measure_object_intensity([corrected[ch] for ch in channels], objects),
        cp.measure_object_size_shape(
            objects, extra={"Calculate the Zernike features?": params.zernike_features}
        ),
        cp.export_to_spreadsheet(),
    ]
    return cp.Pipeline(modules=modules)


def products(experiment: Experiment, params: CPIllumApplyParameters) -> list[Product]:
    """Per site a corrected image per CP channel (kind `image`, named by channel); per unit the
    measurement tables (kind `table`, named by object)."""
    images = [
        Product(kind="image", name=channel, file=naming.cp.corrected_image("{plate}", "{well}", "{site}", name))
        for channel, name in channel_names(experiment).items()
    ]
    tables = [naming.cp.IMAGE, naming.cp.NUCLEI, naming.cp.CELLS, naming.cp.CYTOPLASM]
    return images + [Product(kind="table", name=t, file=naming.cp.measurement_table(t)) for t in tables]


CP_ILLUM_APPLY = step_of(
    __name__, name=STEP, cli_path=("illum", "apply"), reads=(CP_ILLUM_CALC.name,),
    title="CP illumination apply and segmentation", Parameters=CPIllumApplyParameters,
)  # fmt: skip
