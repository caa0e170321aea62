"""Test data helpers for the CellProfiler tests: multi-plane TIFFs and LoadData CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import tifffile

PLANE_VALUES = (1000, 20000, 40000)
CHANNELS = ("DNA", "Cell", "Mito")


def write_planes(path: Path, planes: np.ndarray) -> Path:
    """One OME-TIFF holding all channels of a site, plane order = channel order (SPEC 4.1)."""
    tifffile.imwrite(path, planes.astype(np.uint16), ome=True, metadata={"axes": "CYX"})
    return path


def write_loaddata(path: Path, files: list[Path], channels=CHANNELS, plate: str = "P1") -> Path:
    header = ["Metadata_Plate", "Metadata_Site"]
    for ch in channels:
        header += [f"FileName_{ch}", f"PathName_{ch}", f"Frame_{ch}"]
    with open(path, "w", newline="") as fd:
        w = csv.writer(fd)
        w.writerow(header)
        for site, f in enumerate(files):
            row = [plate, str(site)]
            for plane, _ in enumerate(channels):
                row += [f.name, str(f.parent), str(plane)]
            w.writerow(row)
    return path
