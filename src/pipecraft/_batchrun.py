"""Run one batch of fan-out units inside a single Snakemake job.

Kept free of pipecraft's heavier imports: it starts once per batch. Reads its batch from a
byte range of `jobs/<rule>.batches.jsonl`, executes each unit's argv directly (no shell, so
names stay data) with its own log, removes stale outputs first (a re-run never builds on a partial output), and
writes a Snakemake-style benchmark TSV per unit. Exits non-zero if any unit failed, after
running the others.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _clear(path: str) -> None:
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)


def _bench_line(seconds: float, max_rss_kb: int, cpu: float) -> str:
    hms = time.strftime("%H:%M:%S", time.gmtime(seconds))
    return f"{seconds:.4f}\t{hms}\t{max_rss_kb / 1024:.2f}\t-\t-\t-\t-\t-\t-\t{cpu:.2f}\n"


def run_unit(rule: str, unit: dict) -> bool:
    """Run one unit; True if it exited 0 and produced every declared output."""
    for path, _kind in unit["o"]:
        _clear(path)
    log = Path(f"logs/{rule}/{unit['id']}.log")
    bench = Path(f"benchmarks/{rule}/{unit['id']}.tsv")
    log.parent.mkdir(parents=True, exist_ok=True)
    bench.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    env = {**os.environ, **unit["e"]} if unit["e"] else None
    with open(log, "wb") as lf:
        try:
            proc = subprocess.Popen(unit["a"], stdout=lf, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
        except OSError as err:
            lf.write(f"pipecraft: cannot start {unit['a'][0]!r}: {err}\n".encode())
            rc, usage = 127, None
        else:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    missing = [p for p, _ in unit["o"] if not os.path.exists(p)]
    ok = rc == 0 and not missing
    if ok and usage is not None:
        bench.write_text(BENCH_HEADER + _bench_line(seconds, usage.ru_maxrss,
                                                    usage.ru_utime + usage.ru_stime))
    reason = f"exit {rc}" if rc else f"missing outputs {missing!r}"
    print(f"pipecraft-unit\t{unit['id']}\t{'ok' if ok else 'failed'}\t{seconds:.3f}\t"
          f"{'' if ok else reason}", flush=True)
    return ok


def main(argv: list[str]) -> int:
    path, offset, length = argv
    with open(path, "rb") as f:
        f.seek(int(offset))
        spec = json.loads(f.read(int(length)))
    results = [run_unit(spec["rule"], u) for u in spec["units"]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
