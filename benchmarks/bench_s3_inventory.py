"""Inventory of an S3 prefix holding N keys, against a real S3-speaking server (moto).

The keys follow the default layout (plate/cycle/well/site/channel .tiff names, empty
objects) so the inventory's name checks run as on a real screen. They are written with
s3fs's concurrent `pipe`, then `build_inventory` lists the prefix (paginated ListObjectsV2,
1,000 keys a page) and writes the parquet, as `starrynight inventory gen` does. Prints keys/s.

    .venv/bin/python benchmarks/bench_s3_inventory.py               # 100,000 keys
    .venv/bin/python benchmarks/bench_s3_inventory.py --keys 20000

The server runs in this machine's loopback, so the figure is the client's and moto's cost
per page, not a real network's latency.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import polars as pl

from starrynight import naming
from starrynight.config import RemotePath
from starrynight.modules.inventory.inventory import build_inventory

OPTIONS = {"key": "AKIABENCHMARK0000000", "secret": "benchmark-secret"}


def keys(n: int) -> list[str]:
    """n image keys of the default layout."""
    out = []
    for i in range(n):
        plate, rest = divmod(i, 30_000)
        well, site = divmod(rest, 1_000)
        out.append(
            f"Plate{plate + 1}/20X_CP_Plate{plate + 1}/Well{well:02d}_Site{site:04d}_DAPI.tiff"
        )
    return out


def start_server() -> tuple[subprocess.Popen, str]:
    """moto's S3 server on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    import s3fs

    proc, url = start_server()
    try:
        options = {"endpoint_url": url, **OPTIONS}
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
        fs.mkdir("bench")
        names = keys(args.keys)
        start = time.perf_counter()
        for i in range(0, len(names), 5_000):
            fs.pipe({f"bench/screen/images/{k}": b"" for k in names[i : i + 5_000]})
        print(f"uploaded {len(names):,} keys in {time.perf_counter() - start:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            images = RemotePath("s3://bench/screen/images", options)
            start = time.perf_counter()
            build_inventory(images, Path(tmp))
            took = time.perf_counter() - start
            listed = pl.read_parquet(naming.inventory_table(Path(tmp))).height
        assert listed == len(names), f"inventory listed {listed:,} of {len(names):,} keys"
        print(f"inventory of {listed:,} keys: {took:.2f} s, {listed / took:,.0f} keys/s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    main()
