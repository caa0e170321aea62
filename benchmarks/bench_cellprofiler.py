"""CellProfiler cost model: start-up per invocation and time per image set (512x512, 3 channels).

Runs one segmentation+measurement pipeline (IdentifyPrimary/Secondary, MeasureObjectIntensity,
MeasureObjectSizeShape with its defaults, ExportToSpreadsheet) through the runner on 1 and on N
synthetic image sets; per image set = (t_N - t_1) / (N - 1), start-up = t_1 - per image set.
Validation is timed on its own (`cp validate`: its own CellProfiler process) and inside a run
(`cp run` validates and runs in one process, so a unit pays the start-up once).

usage: .venv/bin/python benchmarks/bench_cellprofiler.py [N]
"""

from __future__ import annotations

import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from starrynight.cellprofiler import cppipe as cp
from starrynight.cellprofiler.runner import run_pipeline
from starrynight.cellprofiler.validation import validate_pipeline

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
    load = os.getloadavg()[0]
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
        build = _timed(lambda: pipe.write(root / "seg.cppipe"))
        pipeline = root / "seg.cppipe"
        runs = {}
        for count in (1, n):
            data = _csv(root / f"ld{count}.csv", files[:count])
            validation = _timed(lambda d=data: validate_pipeline(pipeline, d))
            runs[count] = _timed(lambda d=data, c=count: run_pipeline(
                pipeline, d, root / f"out{c}", expect=["Image.csv", "Nuclei.csv"], validate=False))
        validated = _timed(lambda d=data: run_pipeline(
            pipeline, d, root / "out-validated", expect=["Image.csv", "Nuclei.csv"]))
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores (wall times inflate under load; CPU times less so)")
    print(f"cppipe build (CellProfiler python): wall {build[0]:.2f} s, cpu {build[1]:.2f} s")
    print(f"validation (one LoadData CSV): wall {validation[0]:.2f} s, cpu {validation[1]:.2f} s")
    for count, (wall, cpu) in runs.items():
        print(f"cellprofiler run, {count} image set(s): wall {wall:.2f} s, cpu {cpu:.2f} s")
    print(f"cellprofiler run with validation in the same process, {n} image sets: wall "
          f"{validated[0]:.2f} s, cpu {validated[1]:.2f} s (validation in its own process + run: "
          f"wall {validation[0] + runs[n][0]:.2f} s, cpu {validation[1] + runs[n][1]:.2f} s)")
    for i, kind in enumerate(("wall", "cpu")):
        per_set = (runs[n][i] - runs[1][i]) / (n - 1)
        print(f"{kind}: per image set (512x512x3, segment+measure) {per_set:.2f} s; "
              f"start-up per invocation {runs[1][i] - per_set:.2f} s")


def _timed(fn) -> tuple[float, float]:
    """Wall seconds and CPU seconds of child processes (CellProfiler runs in a subprocess)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
