"""File and folder names of the default input layout (SPEC 4.1), shared by image and tree modes.

Kept free of numpy so that the tree generator and the CLI start fast.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

CP_CHANNELS: tuple[str, ...] = ("DAPI", "CellMask", "MitoTracker")
SBS_CHANNELS: tuple[str, ...] = ("C", "A", "T", "G", "DAPI")
BASES: tuple[str, ...] = ("C", "A", "T", "G")  # the SBS base planes, in file plane order
CP_MAGNIFICATION = "20X"
SBS_MAGNIFICATION = "10X"
IMAGE_SUFFIX = ".ome.tiff"

# Real plate formats (rows, columns); wells fill the smallest that holds them, row by row.
_PLATE_FORMATS: tuple[tuple[int, int], ...] = ((2, 3), (4, 6), (8, 12), (16, 24), (32, 48))
_FIRST_ACQUISITION = datetime(2024, 3, 19, 12, 28, 0, 179000)


class Layout(BaseModel):
    """How many of everything a synthetic screen has, and its top-level names."""

    model_config = ConfigDict(frozen=True)

    dataset: str = "starrynight_demo"
    source: str = "Source1"
    batch: str = "Batch1"
    plates: int = Field(1, ge=1)
    wells: int = Field(1, ge=1)
    cp_sites: int = Field(1, ge=0)
    sbs_sites: int = Field(1, ge=0)
    cycles: int = Field(1, ge=0)

    @property
    def plate_names(self) -> list[str]:
        return plate_names(self.plates)

    @property
    def well_names(self) -> list[str]:
        return well_names(self.wells)

    @property
    def batch_dir(self) -> str:
        """The batch folder, relative to the images root."""
        return f"{self.dataset}/{self.source}/{self.batch}"


def plate_names(n: int) -> list[str]:
    return [f"Plate{i + 1}" for i in range(n)]


def well_names(n: int) -> list[str]:
    """`A1, A2, A3, B1, ...` laid out on the smallest standard plate format that holds `n` wells."""
    for rows, cols in _PLATE_FORMATS:
        if rows * cols >= n:
            break
    else:
        raise ValueError(f"wells: {n} is more than the largest plate format ({rows * cols})")
    rows_names = list(string.ascii_uppercase) + [f"A{c}" for c in string.ascii_uppercase]
    return [f"{rows_names[i // cols]}{i % cols + 1}" for i in range(n)]


def acquisition_timestamp(plate_index: int) -> str:
    """The `_YYYYMMDD_HHMMSS_mmm` folder stamp a microscope adds; one acquisition per plate."""
    t = _FIRST_ACQUISITION + timedelta(days=plate_index, minutes=37 * plate_index)
    return t.strftime("%Y%m%d_%H%M%S_") + f"{t.microsecond // 1000:03d}"


def cp_folder(plate: str, plate_index: int) -> str:
    return f"{CP_MAGNIFICATION}_CP_{plate}_{acquisition_timestamp(plate_index)}"


def sbs_folder(cycle: int) -> str:
    return f"{SBS_MAGNIFICATION}_c{cycle}_SBS-{cycle}"


def _width(n: int) -> int:
    return max(4, len(str(max(n - 1, 0))))


def image_name(well: str, site: int, channels: tuple[str, ...], seq: int, *, site_width: int = 4,
               seq_width: int = 4) -> str:
    """`Well<W>_Point<W>_<SITE>_Channel<ch,...>_Seq<NNNN>.ome.tiff`."""
    return (f"Well{well}_Point{well}_{site:0{site_width}d}_Channel{','.join(channels)}"
            f"_Seq{seq:0{seq_width}d}{IMAGE_SUFFIX}")


def acquisition_names(wells: list[str], sites: int, channels: tuple[str, ...]) -> list[str]:
    """File names of one acquisition folder: Seq counts up over wells then sites, as a scan does."""
    sw, qw = _width(sites), _width(len(wells) * sites)
    return [image_name(w, s, channels, wi * sites + s, site_width=sw, seq_width=qw)
            for wi, w in enumerate(wells) for s in range(sites)]


EXTRA_BATCH_FILES = ("Barcodes.csv",)
EXTRA_PLATE_FILES = (".DS_Store",)
EXTRA_CP_FILES = ("metadata.xml",)


def folders(layout: Layout, *, extras: bool = True) -> Iterator[tuple[str, list[str]]]:
    """Every folder of the images tree (relative to the images root) with its file names."""
    wells = layout.well_names
    cp_files = acquisition_names(wells, layout.cp_sites, CP_CHANNELS)
    sbs_files = acquisition_names(wells, layout.sbs_sites, SBS_CHANNELS)
    if extras:
        yield layout.batch_dir, list(EXTRA_BATCH_FILES)
    for p, plate in enumerate(layout.plate_names):
        plate_dir = f"{layout.batch_dir}/images/{plate}"
        if extras:
            yield plate_dir, list(EXTRA_PLATE_FILES)
        yield f"{plate_dir}/{cp_folder(plate, p)}", cp_files + (list(EXTRA_CP_FILES) if extras else [])
        for cycle in range(1, layout.cycles + 1):
            yield f"{plate_dir}/{sbs_folder(cycle)}", sbs_files


def file_count(layout: Layout, *, extras: bool = True) -> int:
    """Files `folders` lists, computed without listing them."""
    per_plate = layout.wells * (layout.cp_sites + layout.cycles * layout.sbs_sites)
    extra = (len(EXTRA_BATCH_FILES) + layout.plates * (len(EXTRA_PLATE_FILES) + len(EXTRA_CP_FILES))
             if extras else 0)
    return layout.plates * per_plate + extra
