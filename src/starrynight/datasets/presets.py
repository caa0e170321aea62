"""Named sizes of the synthetic image dataset.

`demo` is sized for the first-run experience: 1 plate x 2 wells x 4 sites = 8 CP image sets and,
with 4 cycles, 32 SBS site-cycles at 512x512. At CellProfiler's ~1.4 s per image set per step the
seven steps need roughly 8 + 8 + 4 + 32 + 8 + 8 + 8 = 76 image-set runs, ~110 s of work, ~1 min on
2 cores plus start-up: a few minutes end to end. ~80 cells per site give ~640 cells, enough to
score gene assignment over a 24-barcode library (~25 cells per barcode): 10 genes with two
guides each and 4 non-targeting guides, enough controls to normalise profiles and test hits.
"""

from __future__ import annotations

from typing import Literal

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
    guides_per_gene: int = Field(2, ge=1)
    # Geometry. "same-field": both arms image the same independent fields, site k with site k.
    # "well": a well is one continuous field of cells; each arm tiles it with its own grid.
    geometry: Literal["same-field", "well"] = "same-field"
    cp_pixel_size_um: float = Field(0.65, gt=0)
    sbs_pixel_size_um: float = Field(0.65, gt=0)
    cp_rows: tuple[int, ...] = ()  # "well" only: CP sites per acquisition row, top to bottom
    sbs_rows: tuple[int, ...] = ()
    overlap_percentage: float = Field(10.0, ge=0, lt=50)
    stage_jitter: float = Field(3.0, ge=0, le=20)  # pixels, uniform per tile and axis
    stage_positions: bool = True  # write Plane PositionX/Y into the OME-XML
    missing_cp_sites: tuple[int, ...] = ()  # CP sites of the first well left out (a failed tile)

    @model_validator(mode="after")
    def _check(self) -> Preset:
        lo, hi = self.spots_per_cell
        if not 0 <= lo <= hi:
            raise ValueError(f"spots_per_cell: need 0 <= min <= max, got {self.spots_per_cell}")
        if self.nontargeting > self.library_size:
            raise ValueError("nontargeting: more non-targeting barcodes than library_size")
        if self.geometry == "well" and not (self.cp_rows and self.sbs_rows):
            raise ValueError("cp_rows and sbs_rows: a 'well' geometry needs both acquisition layouts")
        if any(not 0 <= s < sum(self.cp_rows) for s in self.missing_cp_sites):
            raise ValueError(f"missing_cp_sites: {self.missing_cp_sites} outside 0..{sum(self.cp_rows) - 1}")
        return self

    @property
    def cp_sites(self) -> int:
        return sum(self.cp_rows) if self.geometry == "well" else self.sites_per_well

    @property
    def sbs_sites(self) -> int:
        return sum(self.sbs_rows) if self.geometry == "well" else self.sites_per_well


PRESETS: dict[str, Preset] = {
    "tiny": Preset(name="tiny", wells=2, sites_per_well=2, cycles=3, image_size=256,
                   cells_per_site=25, library_size=12, nontargeting=2),
    # ~70 cells per gene (4 guide-well profiles of ~18 cells): with 80 cells per site a
    # large cell-size effect was missed on seed 0; 120 found every large effect on seeds 0-2
    "demo": Preset(name="demo", wells=2, sites_per_well=4, cycles=4, image_size=512,
                   cells_per_site=120, library_size=24, nontargeting=4),
}

# Real screen geometry: CP at 20X, SBS at 10X (pixel size x1.99, as measured on real optics),
# a continuous well tiled by each arm with its own grid, 10 % overlap, stage jitter, a stage
# offset per SBS cycle, >= 8 cycles and a library of >= 1,000 barcodes (4 guides per gene).
_WELL = {"geometry": "well", "cycles": 8, "library_size": 1200, "nontargeting": 100, "guides_per_gene": 4,
         "cp_pixel_size_um": 0.65, "sbs_pixel_size_um": 0.65 * 1.99, "plates": 1}
PRESETS.update({
    "geometry-tiny": Preset(name="geometry-tiny", wells=1, image_size=128, cells_per_site=6,
                            cp_rows=(3, 3, 3), sbs_rows=(2, 2), **_WELL),
    "geometry-demo": Preset(name="geometry-demo", wells=2, image_size=512, cells_per_site=80,
                            cp_rows=(4, 4, 4, 4), sbs_rows=(2, 2), **_WELL),
    "geometry-round": Preset(name="geometry-round", wells=1, image_size=256, cells_per_site=20,
                             cp_rows=(4, 6, 8, 8, 8, 8, 6, 4), sbs_rows=(2, 4, 4, 2), **_WELL),
    "geometry-nopos": Preset(name="geometry-nopos", wells=1, image_size=256, cells_per_site=20,
                             cp_rows=(4, 4, 4, 4), sbs_rows=(2, 2), stage_positions=False, **_WELL),
    "geometry-missing": Preset(name="geometry-missing", wells=1, image_size=256, cells_per_site=20,
                               cp_rows=(4, 4, 4, 4), sbs_rows=(2, 2), missing_cp_sites=(5,), **_WELL),
})


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (or the preset itself); unknown names list the known ones."""
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"preset: unknown {preset!r}; choose one of {sorted(PRESETS)}") from None
