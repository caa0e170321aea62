"""Time the synthetic file tree of a 9-plate screen: paths in memory and header-only files on disk.

    .venv/bin/python benchmarks/bench_tree.py [--plates 9 --wells 6 --cp-sites 1364 --sbs-sites 320
                                               --cycles 12] [--out DIR]

Without --out the tree goes to a fresh temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from starrynight.datasets import generate_tree, tree_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("plates", 9), ("wells", 6), ("cp-sites", 1364), ("sbs-sites", 320),
                          ("cycles", 12)):
        parser.add_argument(f"--{flag}", type=int, default=default)
    parser.add_argument("--out", type=Path, help="write here and keep it (default: temporary)")
    args = parser.parse_args()
    sizes = {"plates": args.plates, "wells": args.wells, "cp_sites": args.cp_sites,
             "sbs_sites": args.sbs_sites, "cycles": args.cycles}
    print("tree:", ", ".join(f"{k}={v}" for k, v in sizes.items()))

    start = time.perf_counter()
    paths = tree_paths(**sizes)
    seconds = time.perf_counter() - start
    print(f"tree_paths (memory): {len(paths):,} paths in {seconds:.2f} s = {len(paths) / seconds:,.0f} paths/s")

    own_tmp = args.out is None
    out = Path(tempfile.mkdtemp(prefix="bench_tree_")) if own_tmp else args.out
    try:
        start = time.perf_counter()
        n = generate_tree(out, **sizes)
        seconds = time.perf_counter() - start
        print(f"generate_tree (disk): {n:,} files in {seconds:.2f} s = {n / seconds:,.0f} files/s  [{out}]")
        start = time.perf_counter()
        generate_tree(out, **sizes)
        print(f"generate_tree again (files exist): {time.perf_counter() - start:.2f} s")
    finally:
        if own_tmp:
            start = time.perf_counter()
            shutil.rmtree(out)
            print(f"removed temporary tree in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
