"""Cost of the index's unusable-file check (empty files, TIFF headers and page directories).

Writes N real multi-plane TIFFs (5 pages of 64x64 uint16, like a 5-channel SBS site) into a
temp dir, a few of them damaged, and times `split_unusable` over their index rows; then the
same rows when they were checked by the previous index (unchanged size and mtime: not read
again), without an images root (sizes only, as on an object store), and the 1M-row
size-only case against the index build's own budget.

    .venv/bin/python benchmarks/bench_usable.py               # 5,000 files
    .venv/bin/python benchmarks/bench_usable.py --files 20000

Figures: files/s of the header check, and the size-only pass in rows/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import tifffile

from starrynight.modules.index.usable import split_unusable


def write_tree(root: Path, files: int) -> pl.DataFrame:
    buffer_path = root / "one.tiff"
    tifffile.imwrite(buffer_path, np.ones((5, 64, 64), np.uint16), photometric="minisblack")
    data = buffer_path.read_bytes()
    keys, sizes = [], []
    for i in range(files):
        key = f"plate/folder{i // 1000}/site{i:06d}.ome.tiff"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        body = data[: len(data) // 2] if i % 1000 == 7 else data  # 0.1 % truncated
        path.write_bytes(body)
        keys.append(key)
        sizes.append(len(body))
    return pl.DataFrame({"key": keys, "size": sizes, "mtime": [1.7e9] * files})


def timed(label: str, rows: int, fn) -> None:
    start = time.perf_counter()
    good, bad = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {rows:>9,} rows  {seconds:6.2f} s  {rows / seconds:>11,.0f} rows/s  "
          f"unusable {bad.height:,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        index = write_tree(root, args.files)
        timed("header check, local TIFFs (cold-ish cache)", index.height,
              lambda: split_unusable(index, root))  # fmt: skip
        timed("header check, local TIFFs (warm cache)", index.height,
              lambda: split_unusable(index, root))  # fmt: skip
        timed("re-index, files unchanged since last index", index.height,
              lambda: split_unusable(index, root, checked=index))  # fmt: skip
        timed("sizes only (no local images root)", index.height,
              lambda: split_unusable(index, None))  # fmt: skip
    big = pl.DataFrame({"key": [f"k{i}.tiff" for i in range(1_000_000)],
                        "size": np.full(1_000_000, 1000), "mtime": np.full(1_000_000, 1.7e9)})  # fmt: skip
    timed("sizes only, 1M rows", big.height, lambda: split_unusable(big, None))


if __name__ == "__main__":
    main()
