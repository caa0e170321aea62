"""File names inside the analysis steps' outputs (see the package docstring).

Step folders (`naming.outputs_dir(ws, ...)`), one unit folder per unit of work:

- analysis (CellProfiler), unit = a site chunk of a well (`naming.unit_id(plate, well, chunk)`):
  `image_table_file()` (per site: metadata and the CP->SBS registration shift
  `registration_shift_feature(axis)`), `object_table_file(objects)` for Nuclei, Cells and
  Cytoplasm, and per site the Cells label image `cell_labels_file(plate, well, site)` (on a
  stitched screen also the Nuclei's, `cell_labels_file(plate, well, site, NUCLEI)`);
- analysis_join, same units: `unit_cells_file()`, the unit's cells with features and barcodes.

The run's per-cell table is `cell_table(ws)`.
"""

from __future__ import annotations

from pathlib import Path

from starrynight import naming

ANALYSIS = "analysis"
ANALYSIS_JOIN = "analysis_join"

NUCLEI = "Nuclei"
CELLS = "Cells"
CYTOPLASM = "Cytoplasm"
OBJECTS = (NUCLEI, CELLS, CYTOPLASM)

#: CellProfiler image name of the CP nuclear image after Align moved it onto SBS cycle 1
REGISTERED_CP_NUCLEI = "RegisteredCPNuclei"


def image_table_file() -> str:
    """Per-site table (ExportToSpreadsheet `Image.csv`) of an analysis unit."""
    return "Image.csv"


def object_table_file(objects: str) -> str:
    """Per-object table (ExportToSpreadsheet `<objects>.csv`) of an analysis unit."""
    return f"{objects}.csv"


def registration_shift_feature(axis: str) -> str:
    """Image.csv column: the shift (`X` or `Y`, pixels) CellProfiler Align measured between the
    CP and SBS cycle-1 nuclei: a feature at SBS x is at CP x + shift."""
    return f"Align_{axis}shift_{REGISTERED_CP_NUCLEI}"


def cell_labels_stem(plate: str, well: str, site: int | str, objects: str = CELLS) -> str:
    return f"{plate}_{well}_Site{site}_{objects}Labels"


def cell_labels_file(plate: str, well: str, site: int | str, objects: str = CELLS) -> str:
    """`<Plate>_<Well>_Site<Site>_CellsLabels.tiff`: the Cells label image (int32, pixel =
    ObjectNumber); with `objects=NUCLEI`, the nuclei's (a stitched screen's crops)."""
    return f"{cell_labels_stem(plate, well, site, objects)}.tiff"


def cell_labels_pattern(objects: str = CELLS) -> str:
    """The same name as a CellProfiler SaveImages metadata pattern (no extension)."""
    return cell_labels_stem(r"\g<Plate>", r"\g<Well>", r"\g<Site>", objects)




def unit_cells_file() -> str:
    """The cells of one unit (parquet) written by analysis_join."""
    return "cells.parquet"


def cell_table(workspace: Path) -> Path:
    """The run's per-cell table: every cell of every site, features, barcode and gene."""
    return naming.step_dir(workspace, ANALYSIS) / "cells.parquet"
