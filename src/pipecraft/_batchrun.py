"""Run one batch of fan-out units inside a single Snakemake job.

Kept free of pipecraft's heavier imports: it starts once per batch. Reads its batch from a
byte range of `jobs/<rule>.batches.jsonl`, executes each unit's argv directly (no shell, so
names stay data) with its own log through the unit's provenance record (an up-to-date unit is
skipped; otherwise its stale outputs are removed first, so a re-run never builds on a partial
output), and writes a Snakemake-style benchmark TSV per unit. Exits non-zero if any unit failed, after
running the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pipecraft.provenance import run_job, wait_limited

BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench_line(seconds: float, max_rss_kb: int, cpu: float) -> str:
    hms = time.strftime("%H:%M:%S", time.gmtime(seconds))
    return f"{seconds:.4f}\t{hms}\t{max_rss_kb / 1024:.2f}\t-\t-\t-\t-\t-\t-\t{cpu:.2f}\n"


def run_unit(rule: str, unit: dict) -> bool:
    """Run one unit; True if it exited 0 and produced every declared output."""
    log = Path(unit["log"])
    bench = Path(unit["bench"])
    log.parent.mkdir(parents=True, exist_ok=True)
    bench.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    env = {**os.environ, **unit["e"]} if unit["e"] else None
    usage = None
    with open(log, "w", encoding="utf-8") as lf:

        def run() -> int:
            nonlocal usage
            lf.flush()
            try:
                proc = subprocess.Popen(unit["a"], stdout=lf, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL)
            except OSError as err:
                lf.write(f"pipecraft: cannot start {unit['a'][0]!r}: {err}\n")
                return 127
            rc, usage = wait_limited(proc, unit.get("t"), lambda line: lf.write(line + "\n"))
            return rc

        stdout, sys.stdout = sys.stdout, lf
        try:
            rc = run_job(unit["c"], unit["i"], [p for p, _ in unit["o"]], run)
        finally:
            sys.stdout = stdout
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
