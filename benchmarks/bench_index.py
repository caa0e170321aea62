"""Index parsing and experiment inference at scale, on synthetic paths built in memory.

Paths follow the default layout (SPEC 4.1) at real-screen proportions: 6 wells per plate,
1,364 CP sites and 320 SBS sites per well, 12 SBS cycles (~31k files per plate), plus a few
non-image files per plate. Index and experiment use no files (besides a temporary index parquet and barcode CSV); the
inventory is timed on a real tree of empty files (--tree-files, default 20,000) in a temp dir.

    .venv/bin/python benchmarks/bench_index.py            # 100k and 1M paths
    .venv/bin/python benchmarks/bench_index.py --sizes 100000

Targets (issue #3): >= 100k paths/s, 1M paths in <= 10 s and <= 2 GB.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psutil

from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.index.parse import get_parser, parse_keys
from starrynight.modules.inventory.inventory import build_inventory

WELLS = ["A1", "A2", "A3", "B1", "B2", "B3"]
CP_SITES, SBS_SITES, CYCLES = 1364, 320, 12
FILES_PER_PLATE = len(WELLS) * (CP_SITES + CYCLES * SBS_SITES)
BATCH = "cpg0999-broad-asma/broad/BATCH1/images"


def _grid(**columns: list[Any]) -> pl.DataFrame:
    frame = pl.DataFrame({"_": [0]})
    for name, values in columns.items():
        frame = frame.join(pl.DataFrame({name: values}), how="cross")
    return frame.drop("_")


def synthetic_inventory(plates: int) -> pl.DataFrame:
    """An inventory frame (key, size, mtime) of `plates` plates in the default layout."""
    plate_names = [f"Plate_{i + 1}-A" for i in range(plates)]
    name = pl.format(
        "Well{}_Point{}_{}_Channel{}_Seq{}.ome.tiff",
        "well", "well", pl.col("site").cast(pl.String).str.zfill(4), "channels",
        pl.col("seq").cast(pl.String).str.zfill(4),
    )  # fmt: skip
    cp = _grid(plate=plate_names, well=WELLS, site=list(range(CP_SITES))).with_columns(
        channels=pl.lit("PhalloAF750,ZO1-AF488,DAPI"),
        seq=pl.col("well").rank("dense") * CP_SITES + pl.col("site"),
    )
    cp_keys = cp.select(
        key=pl.format("{}/{}/20X_CP_{}_20240319_122800_179/", pl.lit(BATCH), "plate", "plate")
        + name
    )
    sbs = _grid(
        plate=plate_names, cycle=list(range(1, CYCLES + 1)), well=WELLS, site=list(range(SBS_SITES))
    ).with_columns(
        channels=pl.lit("405 nm,477 nm,G,T,A,C"),
        seq=pl.col("well").rank("dense") * SBS_SITES + pl.col("site"),
    )
    sbs_keys = sbs.select(
        key=pl.format("{}/{}/10X_c{}_SBS-{}/", pl.lit(BATCH), "plate", "cycle", "cycle") + name
    )
    extras = pl.DataFrame(
        {"key": [f"{BATCH}/{p}/{f}" for p in plate_names for f in (".DS_Store", "metadata.xml")]}
    )
    keys = pl.concat([cp_keys, sbs_keys, extras])
    return keys.with_columns(size=pl.lit(1_000_000, pl.Int64), mtime=pl.lit(1.7e9))


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Run fn; return (result, wall seconds, CPU seconds, peak RSS in MB above the level before).

    CPU seconds (all threads) tell a slow machine from a busy one: on a shared machine wall
    time grows while CPU time stays put."""
    process = psutil.Process()
    base = process.memory_info().rss
    peak = base
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop.set()
    sampler.join()
    peak = max(peak, process.memory_info().rss)
    return result, seconds, cpu, (peak - base) / 1e6


def bench(target: int, workdir: Path) -> None:
    plates = max(1, round(target / FILES_PER_PLATE))
    inventory = synthetic_inventory(plates)
    n = inventory.height
    parser = get_parser("default")
    (index, unparsed), seconds, cpu, mem = measure(lambda: parse_keys(inventory, parser))
    assert index.height == n - 2 * plates and unparsed.height == 2 * plates
    rss = psutil.Process().memory_info().rss / 1e6
    print(
        f"index      {n:>9,} paths ({plates:>2} plates): {seconds:6.2f} s (CPU {cpu:5.2f} s)  "
        f"{n / seconds:>9,.0f} paths/s  peak +{mem:,.0f} MB (process RSS {rss:,.0f} MB)"
    )
    table = workdir / f"index_{n}.parquet"
    index.write_parquet(table)
    barcodes = workdir / "barcodes.csv"
    barcodes.write_text("sgRNA,gene_symbol\nACGTACGTACGT,G1\nTTTTACGTACGA,G2\n")
    init = {
        "nuclear_channel": "DAPI", "cell_channel": "PhalloAF750", "mito_channel": "ZO1-AF488",
        "barcode_csv_path": str(barcodes), "image_overlap_percentage": 10,
        "sbs": {"nuclear_channel": "405 nm"},
    }  # fmt: skip
    exp, seconds, cpu, mem = measure(lambda: PCPGenericExperiment.from_index(table, init))
    assert len(exp.plates) == plates and exp.sbs.cycles == list(range(1, CYCLES + 1))
    assert exp.cp.sites_per_well == CP_SITES and exp.sbs.sites_per_well == SBS_SITES
    print(
        f"experiment {n:>9,} rows  (from parquet): {seconds:6.2f} s (CPU {cpu:5.2f} s)  "
        f"{n / seconds:>9,.0f} rows/s   peak +{mem:,.0f} MB"
    )


def bench_inventory(files: int, workdir: Path) -> None:
    """List a real tree of empty files twice: first build, then an unchanged re-run."""
    images = workdir / "tree"
    keys = synthetic_inventory(1).get_column("key").head(files).to_list()
    for folder in {k.rsplit("/", 1)[0] for k in keys}:
        (images / folder).mkdir(parents=True, exist_ok=True)
    for key in keys:
        (images / key).touch()
    for label in ("first build", "unchanged re-run"):
        _, seconds, cpu, _ = measure(lambda: build_inventory(images, workdir / "ws"))
        print(
            f"inventory  {len(keys):>9,} files, {label:<17}{seconds:6.2f} s (CPU {cpu:5.2f} s)  "
            f"{len(keys) / seconds:>9,.0f} files/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--tree-files", type=int, default=20_000, help="files of a real tree to inventory (0: skip)"
    )
    args = parser.parse_args()
    print(f"polars {pl.__version__}, {psutil.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        if args.tree_files:
            bench_inventory(args.tree_files, Path(tmp))
        for size in args.sizes:
            bench(size, Path(tmp))


if __name__ == "__main__":
    main()
