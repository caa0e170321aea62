"""Stitch and crop one arm of a well of real-size tiles; seconds per tile and peak memory at two
well sizes, extrapolated to a 1,364-site well, and the stitched positions' error vs truth.

    .venv/bin/python benchmarks/bench_stitch.py            # 1480x1480 uint16, 4 channels, 100 and 300 tiles
    .venv/bin/python benchmarks/bench_stitch.py --quick    # 512x512, 16 and 48 tiles (about a minute)

Tiles are a procedural field of nuclei-like blobs (4 channels, camera noise) in a square snake
grid with 10 % overlap and +-3 px stage jitter; their OME-XML carries the commanded stage
positions and the pixel size, as a microscope writes them. Each size is stitched (registration
of every overlap, global solution, streamed fusion into OME-Zarr) and cut into 5 x 5 crops in
a fresh process whose peak RSS is sampled. Anchor: Fiji stitch-crop in production needs
31-36 GB and 4-6 h per well task. Target: a 1,364-site well in <= 15 min on 2 cores, <= 4 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import tifffile
from scipy import ndimage

from starrynight.algorithms.geometry.acquisition import AcquisitionLayout, layout_positions
from starrynight.algorithms.geometry.ome import ome_metadata
from starrynight.datasets.optics import expose
from starrynight.datasets.scene import render_spots

PIXEL_UM = 0.65
CHANNELS = ["DAPI", "Phalloidin", "WGA", "Mito"]
FULL_WELL = 1364


def _grid(n: int) -> tuple[int, ...]:
    """Rows of a near-square grid of exactly n tiles."""
    cols = int(np.ceil(np.sqrt(n)))
    while n % cols:
        cols += 1
    return (cols,) * (n // cols)


def write_tiles(folder: Path, n: int, size: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    """n tiles of a continuous blob field; returns the tile table and the true positions (px)."""
    rng = np.random.default_rng(seed)
    layout = AcquisitionLayout(rows=_grid(n), overlap_percentage=10)
    nominal = layout_positions(layout, (size, size)) + 10
    true = nominal + rng.uniform(-3, 3, nominal.shape)
    extent = true.max(axis=0) + size + 10
    blobs = rng.uniform(0, 1, (int(extent.prod() / 900), 2)) * extent
    amplitude = rng.lognormal(0, 0.3, len(blobs))
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["site,path"]
    for site, (origin, commanded) in enumerate(zip(true, nominal, strict=True)):
        inside = ((blobs > origin - 8) & (blobs < origin + size + 8)).all(axis=1)
        yx = blobs[inside] - origin
        field = render_spots(
            (size, size), yx, amplitude[inside, None] * np.array([[1.0, 0.6, 0.4, 0.8]])
        )
        field[0] = ndimage.gaussian_filter(field[0], 2.5) * 40  # nuclei-sized
        stack = np.stack([expose(rng, 150 + 3000 * f) for f in field])
        buf = io.BytesIO()
        tifffile.imwrite(
            buf,
            stack,
            ome=True,
            photometric="minisblack",
            software=False,
            metadata=ome_metadata(CHANNELS, PIXEL_UM, tuple(commanded * PIXEL_UM)),
        )
        path = folder / f"tile_{site:04d}.ome.tiff"
        path.write_bytes(buf.getvalue())
        rows.append(f"{site},{path}")
    table = folder / "tiles.csv"
    table.write_text("\n".join(rows) + "\n")
    return table, true


def child(table: Path, out: Path) -> None:
    """Runs in its own process: stitch + crop, print timings as JSON."""
    from starrynight.algorithms.geometry.crop import crop_grid, write_crops
    from starrynight.algorithms.geometry.io import WellImage
    from starrynight.algorithms.geometry.register import Rigid
    from starrynight.algorithms.geometry.well import TileFile, stitch_well
    from starrynight.naming import geometry as names

    lines = table.read_text().splitlines()[1:]
    tiles = [TileFile(site=int(s), path=Path(p)) for s, p in (line.split(",", 1) for line in lines)]
    start = time.perf_counter()
    report = stitch_well(
        tiles,
        CHANNELS,
        "DAPI",
        names.stitched_well(out),
        names.positions_table(out),
        names.stitch_report(out),
    )
    stitched = time.perf_counter()
    well = WellImage(names.stitched_well(out))
    write_crops(well, [], Rigid(), crop_grid(well.shape, 5, 64), out / "crops")
    print(
        json.dumps(
            {
                "stitch_s": stitched - start,
                "crop_s": time.perf_counter() - stitched,
                "rejected": report.pairs_rejected,
                "pairs": report.pairs,
                "shape": report.shape,
            }
        )
    )


def _run_child(table: Path, out: Path) -> tuple[dict, float, float, float]:
    """(child's JSON, wall seconds, CPU seconds, peak RSS in MB sampled every 50 ms)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(table), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"stitch failed (exit {proc.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (
        json.loads(output.strip().splitlines()[-1]),
        time.perf_counter() - start,
        cpu,
        peak / 2**20,
    )


def _error_px(out: Path, true: np.ndarray) -> tuple[float, float]:
    import polars as pl

    from starrynight.naming import geometry as names

    got = pl.read_parquet(names.positions_table(out)).sort("site")
    d = np.column_stack([got["y_px"], got["x_px"]]) - true
    err = np.hypot(*(d - np.median(d, axis=0)).T)
    return float(np.median(err)), float(err.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512x512 tiles, 16 and 48 of them")
    parser.add_argument("--sizes", type=int, nargs=2, help="the two tile counts (default 100 300)")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    size = 512 if args.quick else 1480
    counts = args.sizes or ((16, 48) if args.quick else (100, 300))
    print(
        f"tiles {size}x{size} uint16 x {len(CHANNELS)} channels, 10 % overlap; load average "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores"
    )
    work = Path(tempfile.mkdtemp(prefix="bench_stitch_"))
    results = []
    try:
        for n in counts:
            start = time.perf_counter()
            table, true = write_tiles(work / f"tiles{n}", n, size)
            made = time.perf_counter() - start
            info, wall, cpu, rss = _run_child(table, work / f"out{n}")
            median, worst = _error_px(work / f"out{n}", true)
            results.append((n, cpu / n, rss))
            print(
                f"{n:4d} tiles: generated in {made:.0f} s; stitch {info['stitch_s']:.1f} s + crop 5x5 "
                f"{info['crop_s']:.1f} s wall = {wall / n:.2f} s/tile wall, {cpu / n:.2f} CPU s/tile; "
                f"peak RSS {rss:,.0f} MB; "
                f"well {info['shape'][1]}x{info['shape'][0]} px; {info['pairs']} overlaps, "
                f"{info['rejected']} rejected; position error median {median:.2f} px, max {worst:.2f} px"
            )
            shutil.rmtree(work / f"tiles{n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (n1, s1, r1), (n2, s2, r2) = results
    print(f"RSS {r2 / r1:.2f}x for {n2 / n1:.1f}x the tiles (flat = does not grow with the well)")
    minutes = (
        s2 * FULL_WELL / 60
    )  # one process uses one core; the machine's load only slows wall time
    print(
        f"extrapolated {FULL_WELL}-site well: {minutes:.1f} CPU min at {s2:.2f} CPU s/tile (all threads; "
        "an idle 2-core machine needs at most this wall time) "
        f"(target <= 15 min on 2 cores), "
        f"peak RSS ~{r2:,.0f} MB (target <= 4,096 MB); Fiji anchor 4-6 h and 31-36 GB "
        f"(x{240 / max(minutes, 1e-9):.0f}-{360 / max(minutes, 1e-9):.0f} faster, "
        f"x{31_000 / r2:.0f}-{36_000 / r2:.0f} less memory)"
    )


if __name__ == "__main__":
    main()
