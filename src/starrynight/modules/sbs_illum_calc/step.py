"""SBS illumination calculation: one illumination function per plate, cycle and channel.

Each unit (`naming.sbs.illum_unit_id(plate, cycle)`) reads ONLY that cycle's raw SBS files:
downsample by `downsample_factor`, average a median-filtered illumination estimate over all
sites of the plate, upsample back, save `naming.sbs.illum_function_file(channel)` (`.npy`).
The helpers naming SBS channels and checking cycles are shared by the other SBS steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from starrynight.manifest import Product
from starrynight.modules import loaddata as ld
from starrynight.modules.base import UnitOfWork
from starrynight.modules.cellprofiler_step import step_of
from starrynight.modules.cp_illum_calc.step import CPIllumCalcParameters, illum_function_modules
from starrynight.naming import sbs as names

if TYPE_CHECKING:
    from starrynight.cellprofiler.cppipe import Pipeline
    from starrynight.experiments.protocol import Experiment


class SBSIllumCalcParameters(CPIllumCalcParameters):
    """The same illumination estimate as the CP arm, per plate and cycle."""


# ------------------------------------------------------------------ shared SBS helpers
def raw_channels(experiment: Experiment) -> dict[str, str]:
    """Index (microscope) channel name -> downstream SBS channel name, in plane order."""
    return dict(experiment.sbs.channel_map)


def check_cycles(experiment: Experiment) -> list[int]:
    """The SBS cycles, which must be 1..N (image names and the plugins count cycles from 1)."""
    cycles = list(experiment.sbs.cycles)
    if cycles != list(range(1, len(cycles) + 1)):
        raise ld.LoadDataError(f"experiment sbs.cycles must be 1..N without gaps, got {cycles}")
    return cycles


def unit_column(
    rows: pl.DataFrame, units: dict[tuple[str, ...], str], keys: tuple[str, ...]
) -> pl.DataFrame:
    """Attach each row's unit id from a small key -> id table (the rule stays in one function)."""
    table = pl.DataFrame(
        [dict(zip(keys, key, strict=True), unit=unit) for key, unit in units.items()],
        schema={**{k: rows.schema[k] for k in keys}, "unit": pl.String},
    )
    return rows.join(table, on=list(keys), how="inner")


# ------------------------------------------------------------------ the step
def units(experiment: Experiment, params: SBSIllumCalcParameters) -> list[UnitOfWork]:
    return [
        UnitOfWork(id=names.illum_unit_id(plate, cycle), keys={"plate": plate, "cycle": str(cycle)})
        for plate in experiment.plates
        for cycle in experiment.sbs.cycles
    ]


def image_names(experiment: Experiment) -> dict[str, str]:
    """Raw SBS channel -> CellProfiler image name of its plane (same in every cycle's unit)."""
    return {raw: f"Orig{names.image_channel(ch)}" for raw, ch in raw_channels(experiment).items()}


def write_loaddata(
    index: pl.DataFrame,
    experiment: Experiment,
    params: SBSIllumCalcParameters,
    images_root: Path,
    out_dir: Path,
    upstream: pl.DataFrame,
) -> list[Path]:
    """One CSV per plate and cycle listing every SBS site of that plate in that cycle's files."""
    rows = ld.channel_rows(index, "SBS", experiment.sbs.cycles)
    table = {(plate, cycle): names.illum_unit_id(plate, cycle)
             for plate in experiment.plates for cycle in experiment.sbs.cycles}  # fmt: skip
    rows = unit_column(rows, table, ("plate", "cycle"))
    frame = ld.wide_image_sets(
        rows, images_root, image_names(experiment),
        metadata=("Batch", "Plate", "Well", "Site", "Cycle"),
        set_keys=("unit", "batch", "plate", "well", "site", "cycle"),
    )  # fmt: skip
    return ld.write_unit_csvs(frame, out_dir, [u.id for u in units(experiment, params)])


def build_cppipe(experiment: Experiment, params: SBSIllumCalcParameters) -> Pipeline:
    from starrynight.cellprofiler import cppipe as cp

    modules = [cp.load_data()]
    for raw, channel in raw_channels(experiment).items():
        modules += illum_function_modules(image_names(experiment)[raw], names.illum_image(channel), params)
    return cp.Pipeline(modules=modules)


def products(experiment: Experiment, params: SBSIllumCalcParameters) -> list[Product]:
    """Per plate and cycle, one illumination function per SBS channel (kind `illum`)."""
    return [
        Product(kind="illum", name=channel, file=names.illum_function_file(channel))
        for channel in raw_channels(experiment).values()
    ]


SBS_ILLUM_CALC = step_of(
    __name__, name=names.SBS_ILLUM_CALC, cli_path=("sbs", "illum-calc"),
    title="SBS illumination calculation", Parameters=SBSIllumCalcParameters,
)  # fmt: skip

__all__ = ["SBS_ILLUM_CALC", "SBSIllumCalcParameters"]
