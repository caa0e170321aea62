"""Named sizes of the synthetic image dataset.

`demo` is sized for the first-run experience: 1 plate x 2 wells x 4 sites = 8 CP image sets and,
with 4 cycles, 32 SBS site-cycles at 512x512. At CellProfiler's ~1.4 s per image set per step the
seven steps need roughly 8 + 8 + 4 + 32 + 8 + 8 + 8 = 76 image-set runs, ~110 s of work, ~1 min on
2 cores plus start-up: a few minutes end to end. ~80 cells per site give ~640 cells, enough to
score gene assignment over a 24-barcode library (~25 cells per barcode): 10 genes with two
guides each and 4 non-targeting guides, enough controls to normalise profiles and test hits.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Preset(BaseModel):
    """Everything that sets the size and look of a generated image dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    plates: int = Field(1, ge=1)
    wells: int = Field(2, ge=1)
    sites_per_well: int = Field(2, ge=1)
    cycles: int = Field(3, ge=1, le=12)
    image_size: int = Field(256, ge=96)
    cells_per_site: int = Field(25, ge=1)
    spots_per_cell: tuple[int, int] = (1, 3)
    library_size: int = Field(12, ge=1)
    nontargeting: int = Field(2, ge=0)
    min_hamming: int = Field(2, ge=1)
    no_barcode_fraction: float = Field(0.1, ge=0.0, le=1.0)
    touching_fraction: float = Field(0.03, ge=0.0, le=0.5)
    max_shift: float = Field(4.0, ge=0.0, le=20.0)
    integer_shifts: bool = False

    @model_validator(mode="after")
    def _check(self) -> Preset:
        lo, hi = self.spots_per_cell
        if not 0 <= lo <= hi:
            raise ValueError(f"spots_per_cell: need 0 <= min <= max, got {self.spots_per_cell}")
        if self.nontargeting > self.library_size:
            raise ValueError("nontargeting: more non-targeting barcodes than library_size")
        return self


PRESETS: dict[str, Preset] = {
    "tiny": Preset(name="tiny", wells=2, sites_per_well=2, cycles=3, image_size=256,
                   cells_per_site=25, library_size=12, nontargeting=2),
    "demo": Preset(name="demo", wells=2, sites_per_well=4, cycles=4, image_size=512,
                   cells_per_site=80, library_size=24, nontargeting=4),
}


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (or the preset itself); unknown names list the known ones."""
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"preset: unknown {preset!r}; choose one of {sorted(PRESETS)}") from None
