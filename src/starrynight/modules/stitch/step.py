"""The stitch step's settings and units: one unit per well.

Runs only when the experiment's geometry pairing is `stitch` (CP and SBS image different
fields): per well it stitches the corrected CP sites and the aligned SBS cycle-1 nuclei,
registers SBS onto CP and cuts matching crops in the CP frame (`run.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from starrynight import naming
from starrynight.modules.base import UnitOfWork

if TYPE_CHECKING:
    from starrynight.experiments.protocol import Experiment


class StitchParameters(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    enabled: bool = Field(
        True,
        description="stitch wells whose arms image different fields; off: such a screen is an error",
    )
    tiles_per_side: int | None = Field(
        None, ge=1,
        description="crops per side of a well (tiles_per_side² crops); default: about one crop per CP site",
    )  # fmt: skip
    margin: int = Field(64, ge=0, description="CP pixels added around each crop's core")
    search_um: float = Field(
        100.0, ge=1, description="how far (µm) the arms may be apart before registration"
    )
    min_matched_nuclei: int = Field(
        20, ge=3, description="fewest nuclei the registration must match"
    )
    max_residual_cp_px: float = Field(
        2.0, gt=0, description="largest median registration residual (CP px) accepted"
    )


def crops_per_side(experiment: Experiment, params: StitchParameters) -> int:
    """The crop grid's side: as given, else the square root of the CP sites per well (rounded),
    so a crop is about one CP field and CellProfiler's memory does not grow with the well."""
    if params.tiles_per_side is not None:
        return params.tiles_per_side
    return max(1, round(experiment.cp.sites_per_well**0.5))


def stitched(experiment: Experiment) -> bool:
    """Whether wells are stitched and cropped: the arms image different fields and both pixel
    sizes are known (stitching needs them; without them a screen of differing arms is refused)."""
    geometry = getattr(experiment, "geometry", None)
    return (
        geometry is not None
        and geometry.pairing == "stitch"
        and bool(geometry.cp.pixel_size_um and geometry.sbs.pixel_size_um)
    )


def units(experiment: Experiment, params: StitchParameters | None = None) -> list[UnitOfWork]:
    """One unit per well (the analysis units of a stitched screen are the same)."""
    return [
        UnitOfWork(id=naming.unit_id(plate, well), keys={"plate": plate, "well": well})
        for plate in experiment.plates
        for well in experiment.wells[plate]
    ]
