"""CellProfiler cost model: start-up per invocation and time per image set (512x512, 3 channels).

Runs one segmentation+measurement pipeline through `starrynight.cellprofiler.runner` on 1 and
on N synthetic image sets; per image set = (t_N - t_1) / (N - 1), start-up = t_1 - per image set.

usage: .venv/bin/python benchmarks/bench_cellprofiler.py [N]
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from starrynight.cellprofiler import cppipe as cp
from starrynight.cellprofiler.runner import run_pipeline

CHANNELS = ("DNA", "CellMask", "MitoTracker")


def _site(rng: np.random.Generator, size: int = 512, cells: int = 60) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((3, size, size))
    for y, x in rng.integers(20, size - 20, (cells, 2)):
        d2 = (yy - y) ** 2 + (xx - x) ** 2
        img[0] += 30000 * np.exp(-d2 / 40)
        img[1] += 12000 * np.exp(-d2 / 200)
        img[2] += 8000 * np.exp(-d2 / 120)
    return np.clip(img + rng.normal(800, 100, img.shape), 0, 65535).astype(np.uint16)


def _csv(path: Path, files: list[Path]) -> Path:
    with open(path, "w", newline="") as fd:
        w = csv.writer(fd)
        w.writerow(["Metadata_Site"] + [f"{k}_{c}" for c in CHANNELS for k in ("FileName", "PathName", "Frame")])
        for i, f in enumerate(files):
            w.writerow([i] + [v for p in range(3) for v in (f.name, f.parent, p)])
    return path


def main(n: int = 6) -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = []
        for i in range(n):
            files.append(root / f"site{i}.ome.tiff")
            tifffile.imwrite(files[-1], _site(rng), ome=True, metadata={"axes": "CYX"})
        pipe = cp.Pipeline(modules=[
            cp.load_data(),
            cp.identify_primary_objects("DNA", "Nuclei", (6, 30)),
            cp.identify_secondary_objects("Nuclei", "Cells", "CellMask"),
            cp.measure_object_intensity(list(CHANNELS), ["Nuclei", "Cells"]),
            cp.measure_object_size_shape(["Nuclei", "Cells"]),
            cp.export_to_spreadsheet(),
        ])
        t = time.perf_counter()
        pipeline = pipe.write(root / "seg.cppipe")
        build = time.perf_counter() - t
        times = {}
        for count in (1, n):
            data = _csv(root / f"ld{count}.csv", files[:count])
            t = time.perf_counter()
            result = run_pipeline(pipeline, data, root / f"out{count}", expect=["Image.csv", "Nuclei.csv"])
            times[count] = (time.perf_counter() - t, result.seconds)
    per_set = (times[n][1] - times[1][1]) / (n - 1)
    print(f"cppipe build (CellProfiler python): {build:.2f} s")
    print(f"cellprofiler 1 image set: {times[1][1]:.2f} s (with validation: {times[1][0]:.2f} s)")
    print(f"cellprofiler {n} image sets: {times[n][1]:.2f} s (with validation: {times[n][0]:.2f} s)")
    print(f"per image set (512x512x3, segment+measure): {per_set:.2f} s")
    print(f"start-up per invocation: {times[1][1] - per_set:.2f} s; validation: {times[1][0] - times[1][1]:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
