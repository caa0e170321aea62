"""The SBS algorithms on the project's own synthetic screen (`starrynight demo-data`).

The generator mixes the bases through its own crosstalk matrix (in file plane order),
adds cell autofluorescence, uneven illumination and per-cycle shifts. Given its truth
for illumination and shifts (the earlier steps' job), the estimated matrices must be
close to the generator's and the calls must spell the true barcodes. (A median
background per channel leaves cell autofluorescence in: up to 0.09 off; the local
top-hat background used here: up to 0.06.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile

from starrynight.algorithms import sbs


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "tiny"
    argv = [
        sys.executable,
        "-m",
        "starrynight",
        "demo-data",
        "--preset",
        "tiny",
        "--out",
        str(root),
    ]
    subprocess.run(argv, check=True, capture_output=True)
    return root


def site_cycles(root: Path, info: dict, site: dict) -> list[np.ndarray]:
    """Illumination-corrected ``(H, W, 4)`` A, C, G, T stacks of one site, per cycle."""
    planes = [info["sbs_channels"].index(base) for base in sbs.BASES]
    illumination = np.stack(
        [np.load(root / "truth" / f"illumination_SBS_{base}.npy") for base in sbs.BASES], -1
    )
    well, number = site["well"], f"{site['site']:04d}"
    stacks = []
    for cycle in range(1, info["cycles"] + 1):
        (path,) = (root / "images").rglob(
            f"*_c{cycle}_SBS-{cycle}/Well{well}_Point{well}_{number}_*.ome.tiff"
        )
        raw = tifffile.imread(path).astype(np.float64)
        stacks.append(np.moveaxis(raw[planes], 0, -1) / illumination)
    return stacks


def spot_labels(spots: pl.DataFrame, shape: tuple[int, int], dy: float, dx: float) -> np.ndarray:
    """A 3x3 label per spot at its position in this cycle (label k = row k-1)."""
    labels = np.zeros(shape, dtype=np.int32)
    for k, (y, x) in enumerate(zip(spots["y"] + dy, spots["x"] + dx, strict=True), start=1):
        y, x = round(y), round(x)
        labels[y - 1 : y + 2, x - 1 : x + 2] = k
    return labels


def test_matrices_and_calls_on_the_demo_screen(demo):
    info = json.loads((demo / "truth" / "dataset.json").read_text())
    planes = [info["sbs_channels"].index(base) for base in sbs.BASES]
    truth_matrix = np.array(info["crosstalk"])[np.ix_(planes, planes)]
    truth_matrix = truth_matrix / np.diag(truth_matrix)[None, :]
    library = sbs.read_barcode_library(demo / "workspace" / "barcodes.csv")
    spots = pl.read_parquet(demo / "truth" / "spots.parquet").filter(pl.col("in_all_sbs_frames"))
    sites = pl.read_parquet(demo / "truth" / "sites.parquet")

    called, expected, errors = [], [], []
    for site in sites.iter_rows(named=True):
        here = spots.filter((pl.col("well") == site["well"]) & (pl.col("site") == site["site"]))
        intensities = np.zeros((here.height, info["cycles"], 4))
        for k, stack in enumerate(site_cycles(demo, info, site)):
            cleaned = sbs.subtract_local_background(stack, 9)
            matrix = sbs.estimate_crosstalk(cleaned, percentile=99).matrix
            errors.append(np.abs(matrix - truth_matrix).max())
            compensated = sbs.compensate(cleaned, matrix)
            labels = spot_labels(here, stack.shape[:2], site["shift_dy"][k], site["shift_dx"][k])
            for b in range(4):
                intensities[:, k, b] = sbs.object_intensities(
                    labels, compensated[..., b], here.height
                )
        calls = sbs.call_barcodes(intensities, library)
        called += calls.called.tolist()
        expected += here["barcode"].to_list()

    assert len(expected) >= 50
    assert max(errors) < 0.08
    assert np.mean(np.array(called) == np.array(expected)) >= 0.99
