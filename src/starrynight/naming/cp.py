"""File names inside the CP steps' outputs (illumination apply, segmentation check).

A per-site name is written by CellProfiler's SaveImages (from a `\\g<Metadata>` pattern) and
read by later steps (as a concrete name, or as a polars expression when building LoadData for
many sites). All three forms come from one template here, so they cannot drift apart.
"""

from __future__ import annotations

from string import Formatter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# the Cell Painting arm's step folders
ILLUM_CALC_STEP = "cp_illum_calc"
SEGCHECK_STEP = "cp_segcheck"

# CellProfiler object names, also the stems of ExportToSpreadsheet's per-object tables
IMAGE = "Image"
NUCLEI = "Nuclei"
CELLS = "Cells"
CYTOPLASM = "Cytoplasm"

_SITE = "{plate}_{well}_Site{site}"
_CORRECTED = _SITE + "_Corr{channel}"
_OVERLAY = _SITE + "_SegCheck"
_TIFF, _PNG = "tiff", "png"
# LoadData metadata column per template field, as SaveImages' `\g<...>` tag
_TAGS = {"plate": r"\g<Plate>", "well": r"\g<Well>", "site": r"\g<Site>"}


def _fill(template: str, values: dict[str, object]) -> str:
    return template.format(**values)


def _expr(template: str, values: dict[str, object]) -> pl.Expr:
    """The template filled per row: values are polars expressions or plain strings."""
    import polars as pl

    parts: list[pl.Expr] = []
    for literal, field, _, _ in Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if field is not None:
            value = values[field]
            parts.append(value.cast(pl.String) if isinstance(value, pl.Expr) else pl.lit(str(value)))
    return pl.concat_str(parts)


def measurement_table(objects: str) -> str:
    """ExportToSpreadsheet's table of `objects` (or of `IMAGE`): e.g. `Nuclei.csv`."""
    return f"{objects}.csv"


def corrected_image(plate: str, well: str, site: int, channel: str) -> str:
    """An illumination-corrected CP image (16-bit TIFF), e.g. `Plate1_A1_Site0_CorrDAPI.tiff`."""
    stem = _fill(_CORRECTED, {"plate": plate, "well": well, "site": site, "channel": channel})
    return f"{stem}.{_TIFF}"


def corrected_image_pattern(channel: str) -> str:
    """SaveImages' single-name pattern of `corrected_image` (CellProfiler adds `.tiff`)."""
    return _fill(_CORRECTED, {**_TAGS, "channel": channel})






def overlay_image(plate: str, well: str, site: int) -> str:
    """A segmentation-check overlay (nuclei and cell outlines, PNG)."""
    return _fill(_OVERLAY, {"plate": plate, "well": well, "site": site}) + f".{_PNG}"


def overlay_image_pattern() -> str:
    """SaveImages' single-name pattern of `overlay_image` (CellProfiler adds `.png`)."""
    return _fill(_OVERLAY, _TAGS)


def overlay_image_glob() -> str:
    return _fill(_OVERLAY, {"plate": "*", "well": "*", "site": "*"}) + f".{_PNG}"
