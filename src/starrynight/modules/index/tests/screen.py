"""Write a small screen of empty files with real names (default layout) for tests."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import tifffile

CP_CHANNELS = ("DAPI", "CellMask", "MitoTracker")
SBS_CHANNELS = ("C", "A", "T", "G", "DAPI")
BATCH = "ds/Source1/Batch1/images"


def screen_keys(
    plates: dict[str, list[str]],
    cp_sites: int = 2,
    sbs_sites: int = 1,
    cycles: tuple[int, ...] = (1, 2, 3),
    cp_channels: tuple[str, ...] = CP_CHANNELS,
    sbs_channels: tuple[str, ...] = SBS_CHANNELS,
) -> list[str]:
    """Relative keys of one multi-plane file per site, CP then SBS, for every plate/well."""
    keys = []
    for plate, wells in plates.items():
        cp_folder = f"{BATCH}/{plate}/20X_CP_{plate}_20240319_122800_179"
        for well in wells:
            for site in range(cp_sites):
                keys.append(
                    f"{cp_folder}/Well{well}_Point{well}_{site:04d}_Channel{','.join(cp_channels)}_Seq{site:04d}.ome.tiff"
                )
            for cycle in cycles:
                for site in range(sbs_sites):
                    keys.append(
                        f"{BATCH}/{plate}/10X_c{cycle}_SBS-{cycle}/Well{well}_Point{well}_{site:04d}"
                        f"_Channel{','.join(sbs_channels)}_Seq{site:04d}.ome.tiff"
                    )
    return keys


def tiny_tiff(pages: int = 1) -> bytes:
    """A valid TIFF of one-pixel pages: the index reads image headers, so test files need one."""
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for _ in range(pages):
            tif.write(np.zeros((1, 1), np.uint16), photometric="minisblack")
    return buffer.getvalue()


def write_files(root: Path, keys: list[str]) -> None:
    """Each TIFF holds one page per channel its name lists (`_Channel<a>,<b>_`); others 1 byte."""
    data: dict[int, bytes] = {}
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if not key.lower().endswith((".tif", ".tiff")):
            path.write_bytes(b"x")
            continue
        listed = re.search(r"_Channel([^/]*)_Seq", key)
        pages = listed.group(1).count(",") + 1 if listed else 1
        path.write_bytes(data.setdefault(pages, tiny_tiff(pages)))


def write_barcodes(path: Path, rows: list[tuple[str, str]] | None = None) -> Path:
    rows = (
        rows if rows is not None else [("ACGTAC", "GENE1"), ("TTGACA", "GENE2"), ("GGCATT", "nontargeting")]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sgRNA,gene_symbol\n" + "".join(f"{b},{g}\n" for b, g in rows))
    return path
