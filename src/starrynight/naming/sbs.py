"""File names inside the sbs steps' outputs (see the package docstring).

Step folders: `naming.outputs_dir(ws, SBS_ILLUM_CALC)` etc.; one unit folder per unit of work
(`naming.unit_dir(outputs, unit)`):

- sbs_illum_calc, unit `illum_unit_id(plate, cycle)`: `illum_function_file(channel)` per channel;
- sbs_illum_apply, unit a chunk of `sites_per_unit` sites of a well: the corrected,
  cycle-aligned images `aligned_image_file(plate, well, site, cycle, channel)` and the per-site
  table `image_table_file()` (alignment shifts and scores);
- sbs_preprocess, same units: the per-focus table `foci_table_file()` (`Metadata_*`,
  `ObjectNumber`, `Location_Center_X/Y`, `Barcode_*`) and `image_table_file()`.

Channel names in file names are cleaned to letters, digits and `_` (`image_channel`).
"""

from __future__ import annotations

import re
from pathlib import Path

from starrynight import naming

SBS_ILLUM_CALC = "sbs_illum_calc"
SBS_ILLUM_APPLY = "sbs_illum_apply"
SBS_PREPROCESS = "sbs_preprocess"

#: object name of the foci in sbs_preprocess (ExportToSpreadsheet writes `<name>.csv`)
FOCI_OBJECTS = "Foci"
#: measurement columns of the foci table that downstream steps read
FOCI_X = "Location_Center_X"
FOCI_Y = "Location_Center_Y"
FOCI_CALLED = "Barcode_Called"
FOCI_QUALITY = "Barcode_Quality"
FOCI_MATCHED = "Barcode_MatchedBarcode"
FOCI_GENE = "Barcode_Gene"
FOCI_SCORE = "Barcode_MatchScore"
FOCI_NUM_BEST = "Barcode_NumBestMatches"


def image_channel(channel: str) -> str:
    """A channel name made safe for CellProfiler image names and file names."""
    return re.sub(r"\W+", "_", channel).strip("_") or "channel"


def cycle_tag(cycle: int) -> str:
    """`Cycle01`: the cycle as written in image names and file names."""
    return f"Cycle{cycle:02d}"


def cycle_image(cycle: int, channel: str, prefix: str = "") -> str:
    """CellProfiler image name of a channel of a cycle, e.g. `Cycle01_DAPI`, `IllumCycle02_A`."""
    return f"{prefix}{cycle_tag(cycle)}_{image_channel(channel)}"


def cycle_image_pattern(prefix: str = "") -> str:
    """`cycle_image` as the SBS plugins' format pattern (`{cycle}`, `{base}` placeholders)."""
    pattern = f"{prefix}Cycle{{cycle:02d}}_{{base}}"
    if pattern.format(cycle=2, base="A") != cycle_image(2, "A", prefix):
        raise AssertionError(f"{pattern} does not spell cycle_image names")
    return pattern


# ------------------------------------------------------------------ units of work
def illum_unit_id(plate: str, cycle: int) -> str:
    """The sbs_illum_calc unit of a plate and cycle (the ONE rule for it)."""
    return naming.unit_id(plate, f"c{cycle:02d}")


# ------------------------------------------------------------------ sbs_illum_calc
def illum_image(channel: str) -> str:
    """Image name (and file stem) of a channel's illumination function within a cycle's unit."""
    return f"Illum{image_channel(channel)}"


def illum_function_file(channel: str) -> str:
    return naming.illum_function_name(illum_image(channel))


def illum_function_path(workspace: Path, plate: str, cycle: int, channel: str) -> Path:
    """The illumination function of one plate, cycle and channel."""
    unit = naming.unit_dir(naming.outputs_dir(workspace, SBS_ILLUM_CALC), illum_unit_id(plate, cycle))
    return unit / illum_function_file(channel)


# ------------------------------------------------------------------ sbs_illum_apply
def aligned_image_stem(plate: str, well: str, site: int | str, cycle: int, channel: str) -> str:
    return f"{plate}_{well}_Site{site}_{cycle_image(cycle, channel)}"


def aligned_image_file(plate: str, well: str, site: int | str, cycle: int, channel: str) -> str:
    """`<Plate>_<Well>_Site<Site>_Cycle<NN>_<Channel>.tiff`: corrected, aligned to cycle 1."""
    return f"{aligned_image_stem(plate, well, site, cycle, channel)}.tiff"


def aligned_image_pattern(cycle: int, channel: str) -> str:
    """The same name as a CellProfiler SaveImages metadata pattern (no extension)."""
    return aligned_image_stem(r"\g<Plate>", r"\g<Well>", r"\g<Site>", cycle, channel)




def aligned_image(cycle: int, channel: str) -> str:
    """CellProfiler image name of a corrected channel after alignment to cycle 1."""
    return cycle_image(cycle, channel, prefix="Aligned")


def alignment_shift_feature(cycle: int, nuclear_channel: str, axis: str) -> str:
    """Image.csv column: shift (`X` or `Y`, pixels, CellProfiler Align) that moved a cycle onto cycle 1."""
    return f"Align_{axis}shift_{aligned_image(cycle, nuclear_channel)}"


def alignment_correlation_feature(cycle: int, nuclear_channel: str) -> str:
    """Image.csv column: Pearson correlation of a cycle's aligned nuclear image with cycle 1's
    (CellProfiler MeasureColocalization); near 1 when the alignment worked."""
    return f"Correlation_Correlation_{aligned_image(1, nuclear_channel)}_{aligned_image(cycle, nuclear_channel)}"


# ------------------------------------------------------------------ tables (CellProfiler exports)
def image_table_file() -> str:
    """Per-site table (ExportToSpreadsheet `Image.csv`) in every unit folder of illum apply and preprocess."""
    return "Image.csv"


def foci_table_file() -> str:
    """Per-focus table of sbs_preprocess (`Foci.csv`)."""
    return f"{FOCI_OBJECTS}.csv"


def foci_table_path(workspace: Path, unit: str) -> Path:
    return naming.unit_dir(naming.outputs_dir(workspace, SBS_PREPROCESS), unit) / foci_table_file()


def compensated_image_pattern(cycle: int, base: str) -> str:
    return rf"\g<Plate>_\g<Well>_Site\g<Site>_{cycle_image(cycle, base, prefix='Comp')}"
