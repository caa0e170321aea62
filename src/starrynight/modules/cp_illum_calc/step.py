"""CP illumination calculation: one illumination function per channel and plate.

Per SPEC 5: downsample each raw CP image by `downsample_factor`, average a median-filtered
illumination estimate over all sites of the plate, upsample back to the image size, save
as `.npy` (`naming.illum_function`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import step_of

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Module, Pipeline
    from starrynight.experiments.protocol import Experiment


class CPIllumCalcParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    downsample_factor: float = Field(
        0.25, gt=0, le=1, description="resize factor before the median filter"
    )
    method: Literal["Background", "Regular"] = Field(
        "Background",
        description="Background: per-block minimum (follows the background, robust with few sites); "
        "Regular: mean intensity (needs many sites so cells average out)",
    )
    block_size: int = Field(16, ge=2, description="Background method block size, in downsampled pixels")
    filter_size: int = Field(20, ge=3, description="median filter size, in downsampled pixels")


def units(experiment: Experiment, params: CPIllumCalcParameters) -> list[UnitOfWork]:
    return [UnitOfWork(id=plate, keys={"plate": plate}) for plate in experiment.plates]


# Every CP helper is keyed by the experiment's channel names (`experiment.cp.channels`, the
# names the channel roles use, i.e. after the user's channel_map). The microscope's raw names
# appear only in the index; `cp_rows` translates them once, where the index is read.
def cp_rows(index: pl.DataFrame, experiment: Experiment) -> pl.DataFrame:
    """The experiment's CP (file, channel) rows, each channel renamed by `experiment.cp.channel_map`."""
    rows = ld.channel_rows(index, "CP").filter(pl.col("plate").is_in(experiment.plates))
    return rows.with_columns(pl.col("channel").replace(experiment.cp.channel_map))


def image_names(experiment: Experiment) -> dict[str, str]:
    """CP channel -> CellProfiler image name of its raw plane."""
    return {ch: ld.image_name(ch) for ch in experiment.cp.channels}


def illum_names(experiment: Experiment) -> dict[str, str]:
    """CP channel -> name (and .npy file stem) of its illumination function."""
    return {ch: ld.image_name(ch, prefix="Illum") for ch in experiment.cp.channels}


def write_loaddata(
    index: pl.DataFrame,
    experiment: Experiment,
    params: CPIllumCalcParameters,
    images_root: Path,
    out_dir: Path,
    upstream: pl.DataFrame,
) -> list[Path]:
    """One CSV per plate listing every CP site of the plate, one image per channel plane."""
    rows = cp_rows(index, experiment).with_columns(unit=pl.col("plate"))
    frame = ld.wide_image_sets(
        rows, images_root, image_names(experiment),
        metadata=("Batch", "Plate", "Well", "Site"), set_keys=("unit", "batch", "plate", "well", "site"),
    )  # fmt: skip
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def illum_function_modules(raw: str, illum: str, params: CPIllumCalcParameters) -> list[Module]:
    """Downsample `raw`, estimate its illumination over all image sets, upsample back to the
    raw size, save `<illum>.npy` at the last cycle. Shared by the CP and SBS arms."""
    from starrynight.cellprofiler import cppipe as cp

    to_raw_size = {
        "Resizing method": "Resize by specifying desired final dimensions",
        "Method to specify the dimensions": "Image",
        "Select the image with the desired dimensions": raw,
    }
    return [
        cp.resize(raw, f"Down{raw}", params.downsample_factor),
        cp.correct_illumination_calculate(
            f"Down{raw}", f"{illum}Small", each_or_all="All", method=params.method,
            filter_size=params.filter_size, extra={"Block size": params.block_size},
        ),
        cp.resize(f"{illum}Small", illum, 1.0, extra=to_raw_size),
        cp.save_images(illum, file_format="npy", single_name=illum, when="Last cycle"),
    ]  # fmt: skip


def build_cppipe(experiment: Experiment, params: CPIllumCalcParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    originals, illums = image_names(experiment), illum_names(experiment)
    modules = [cp.load_data()]
    for channel in experiment.cp.channels:
        modules += illum_function_modules(originals[channel], illums[channel], params)
    return cp.Pipeline(modules=modules)


def products(experiment: Experiment, params: CPIllumCalcParameters) -> list[Product]:
    """Per plate, one illumination function per CP channel (kind `illum`, named by channel)."""
    return [
        Product(kind="illum", name=channel, file=naming.illum_function_name(name))
        for channel, name in illum_names(experiment).items()
    ]


CP_ILLUM_CALC = step_of(
    __name__, name="cp_illum_calc", cli_path=("illum", "calc"),
    title="CP illumination calculation", Parameters=CPIllumCalcParameters,
)  # fmt: skip
