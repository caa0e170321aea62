"""Index generation and experiment inference at scale, on synthetic paths of an exact count.

Paths follow the default layout (SPEC 4.1) at real-screen proportions: 6 wells per plate,
320 SBS sites per well and cycle, 12 SBS cycles, about 1,364 CP sites per well, plus a few
non-image files per plate (`.DS_Store`, `metadata.xml`, notes). For a target of N paths the
plate count is N / 31,224 rounded, and the CP sites per well and the number of non-image
files are set so that the inventory has exactly N paths (100,000: 3 plates, 1,715 CP sites
per well, 10 non-image files; 1,000,000: 32 plates, 1,368 CP sites, 64 non-image files).

`index gen` is timed end to end as `starrynight index gen -w <workspace>` runs it
(`build_index`): read the inventory parquet, parse, write index + unparsed parquet and
index.yaml. It runs twice: channel names without `_` (the parser's fast path) and with `_`
(e.g. `Phallo_AF750`, which only the slower permissive pattern reads). The experiment is
inferred from the written index. The inventory is timed on a real tree of header-only files
(--tree-files, default 20,000) in a temp dir.

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
import yaml

from starrynight import naming
from starrynight.config import write_parquet_atomic
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.index.index import build_index
from starrynight.modules.inventory.inventory import build_inventory

WELLS = ["A1", "A2", "A3", "B1", "B2", "B3"]
CP_SITES, SBS_SITES, CYCLES = 1364, 320, 12
FILES_PER_PLATE = len(WELLS) * (CP_SITES + CYCLES * SBS_SITES)
MIN_EXTRAS = (".DS_Store", "metadata.xml")  # non-image files of every plate
BATCH = "cpg0999-broad-asma/broad/BATCH1/images"
CHANNELS = {  # variant -> (CP channels, SBS channels)
    "plain": ("PhalloAF750,ZO1-AF488,DAPI", "405 nm,477 nm,G,T,A,C"),
    "with _": ("Phallo_AF750,ZO1_AF488,DAPI", "405_nm,477_nm,G,T,A,C"),
}


def _grid(**columns: list[Any]) -> pl.DataFrame:
    frame = pl.DataFrame({"_": [0]})
    for name, values in columns.items():
        frame = frame.join(pl.DataFrame({name: values}), how="cross")
    return frame.drop("_")


def layout(target: int) -> tuple[int, int, int]:
    """(plates, CP sites per well, non-image files) giving exactly `target` paths."""
    plates = max(1, round(target / FILES_PER_PLATE))
    per_well = (target - plates * len(MIN_EXTRAS)) // (plates * len(WELLS))
    cp_sites = per_well - CYCLES * SBS_SITES
    if cp_sites < 1:
        raise SystemExit(f"--sizes {target}: too small for {CYCLES} cycles x {SBS_SITES} sites")
    extras = target - plates * len(WELLS) * per_well
    return plates, cp_sites, extras


def synthetic_inventory(target: int, variant: str = "plain") -> pl.DataFrame:
    """An inventory frame (key, size, mtime) of exactly `target` paths in the default layout."""
    plates, cp_sites, n_extras = layout(target)
    cp_channels, sbs_channels = CHANNELS[variant]
    plate_names = [f"Plate_{i + 1}-A" for i in range(plates)]
    name = pl.format(
        "Well{}_Point{}_{}_Channel{}_Seq{}.ome.tiff",
        "well", "well", pl.col("site").cast(pl.String).str.zfill(4), "channels",
        pl.col("seq").cast(pl.String).str.zfill(4),
    )  # fmt: skip
    cp = _grid(plate=plate_names, well=WELLS, site=list(range(cp_sites))).with_columns(
        channels=pl.lit(cp_channels),
        seq=pl.col("well").rank("dense") * cp_sites + pl.col("site"),
    )
    cp_keys = cp.select(
        key=pl.format("{}/{}/20X_CP_{}_20240319_122800_179/", pl.lit(BATCH), "plate", "plate")
        + name
    )
    sbs = _grid(
        plate=plate_names, cycle=list(range(1, CYCLES + 1)), well=WELLS, site=list(range(SBS_SITES))
    ).with_columns(
        channels=pl.lit(sbs_channels),
        seq=pl.col("well").rank("dense") * SBS_SITES + pl.col("site"),
    )
    sbs_keys = sbs.select(
        key=pl.format("{}/{}/10X_c{}_SBS-{}/", pl.lit(BATCH), "plate", "cycle", "cycle") + name
    )
    extra_names = [f"{BATCH}/{p}/{f}" for p in plate_names for f in MIN_EXTRAS]
    extra_names += [
        f"{BATCH}/{plate_names[i % plates]}/notes_{i}.txt"
        for i in range(n_extras - len(extra_names))
    ]
    keys = pl.concat([cp_keys, sbs_keys, pl.DataFrame({"key": extra_names})])
    assert keys.height == target, (keys.height, target)
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
    plates, cp_sites, extras = layout(target)
    for variant in CHANNELS:
        inventory = synthetic_inventory(target, variant)
        n = inventory.height
        ws = workdir / f"ws_{n}_{variant.replace(' ', '')}"
        write_parquet_atomic(inventory, naming.inventory_table(ws))
        del inventory
        manifest_path, seconds, cpu, mem = measure(lambda ws=ws: build_index(ws))
        counts = yaml.safe_load(manifest_path.read_text())["counts"]
        assert (counts["files"], counts["indexed"]) == (n, n - extras), counts
        rss = psutil.Process().memory_info().rss / 1e6
        print(
            f"index gen  {n:>9,} paths ({plates:>2} plates, channels {variant:<6}): "
            f"{seconds:6.2f} s (CPU {cpu:5.2f} s)  {n / seconds:>9,.0f} paths/s  "
            f"peak +{mem:,.0f} MB (process RSS {rss:,.0f} MB)"
        )
        if variant != "plain":
            continue
        barcodes = workdir / "barcodes.csv"
        barcodes.write_text("sgRNA,gene_symbol\nACGTACGTACGT,G1\nTTTTACGTACGA,G2\n")
        init = {
            "nuclear_channel": "DAPI", "cell_channel": "PhalloAF750", "mito_channel": "ZO1-AF488",
            "barcode_csv_path": str(barcodes), "image_overlap_percentage": 10,
            "sbs": {"nuclear_channel": "405 nm"},
        }  # fmt: skip
        exp, seconds, cpu, mem = measure(
            lambda m=manifest_path, i=init: PCPGenericExperiment.from_index(m, i)
        )
        assert len(exp.plates) == plates and exp.sbs.cycles == list(range(1, CYCLES + 1))
        assert exp.cp.sites_per_well == cp_sites and exp.sbs.sites_per_well == SBS_SITES
        rows = n - extras
        print(
            f"experiment {rows:>9,} rows  (from index.yaml):              {seconds:6.2f} s "
            f"(CPU {cpu:5.2f} s)  {rows / seconds:>9,.0f} rows/s   peak +{mem:,.0f} MB"
        )


def bench_inventory(files: int, workdir: Path) -> None:
    """List a real tree of header-only files twice: first build, then an unchanged re-run."""
    images = workdir / "tree"
    keys = synthetic_inventory(FILES_PER_PLATE + len(MIN_EXTRAS)).get_column("key").head(files)
    keys = keys.to_list()
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
