"""pipecraft planning and execution speed. Run: .venv/bin/python benchmarks/bench_pipecraft.py

1. compile + Snakemake dry run of one fan-out of 1k, 10k and 100k units (plus a downstream
   command), and the 100k/10k ratio;
2. the same dry run for a rule-per-unit Snakefile generated here (the design pipecraft
   avoids) at 1k and 2k rules, extrapolated to 10k with the measured growth exponent;
3. execution of 2,000 trivial jobs on 2 cores: one Snakemake job per unit, and batched.

Work happens under bench-output/pipecraft/ (git-ignored). Prints seconds, rates and ratios.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pipecraft as pc

ROOT = Path(__file__).resolve().parent.parent / "bench-output" / "pipecraft"


def fresh(name: str) -> Path:
    wd = ROOT / name
    shutil.rmtree(wd, ignore_errors=True)
    wd.mkdir(parents=True)
    return wd


def fanout_pipeline(wd: Path, n: int, batch_size: int | None = None) -> pc.Seq:
    src = wd / "input.txt"
    src.write_text("x\n")
    fan = pc.FanOut(
        name="work", argv=["cp", "{input.src}", "{output.out}"],
        units=[pc.Unit(id=f"u{i:06d}", inputs={"src": [str(src)]}) for i in range(n)],
        outputs={"out": pc.file(str(wd / "out" / "{unit}.txt"))}, batch_size=batch_size)
    after = pc.Command(name="report", argv=["touch", "{output.done}"],
                       outputs={"done": [pc.file(str(wd / "report.txt"))]})
    return pc.Seq([fan, after])


def child_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def plan_fanout(n: int) -> tuple[float, float, float, int]:
    wd = fresh(f"fanout-{n}")
    pipeline = fanout_pipeline(wd, n)
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    t0 = time.perf_counter()
    backend.compile(pipeline, working_dir=wd)
    t1, cpu = time.perf_counter(), child_cpu()
    result = backend.dry_run(pipeline, working_dir=wd)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, child_cpu() - cpu, sum(result.jobs.values())


def plan_rule_per_unit(n: int) -> tuple[float, float]:
    wd = fresh(f"rule-per-unit-{n}")
    (wd / "input.txt").write_text("x\n")
    rules = [f'rule u{i:06d}:\n    input: "input.txt"\n    output: "out/u{i:06d}.txt"\n'
             f'    log: "logs/u{i:06d}.log"\n    shell: "cp {{input}} {{output}}"\n'
             for i in range(n)]
    head = "rule all:\n    input: [" + ", ".join(f'"out/u{i:06d}.txt"' for i in range(n)) + "]\n"
    (wd / "Snakefile").write_text(head + "\n".join(rules))
    t0, cpu = time.perf_counter(), child_cpu()
    subprocess.run([sys.executable, "-m", "snakemake", "-c2", "--dry-run", "--quiet", "all"],
                   cwd=wd, check=True, capture_output=True)
    return time.perf_counter() - t0, child_cpu() - cpu


def execute(n: int, batch_size: int | None) -> tuple[float, int]:
    wd = fresh(f"exec-{n}-{batch_size}")
    fan = pc.FanOut(name="trivial", argv=["touch", "{output.out}"],
                    units=[pc.Unit(id=f"u{i:05d}") for i in range(n)],
                    outputs={"out": pc.file(str(wd / "out" / "{unit}"))}, batch_size=batch_size)
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    t0 = time.perf_counter()
    handle = backend.run(fan, working_dir=wd)
    elapsed = time.perf_counter() - t0
    done = handle.summary()["counts"].get("succeeded", 0)
    assert done == n, handle.summary()["counts"]
    return elapsed, done


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} (the machine has {os.cpu_count()} "
          "cores; wall times grow with load, Snakemake CPU seconds much less)")
    print("== compile + dry run, one fan-out (+1 downstream command), 2 cores")
    times = {}
    for n in (1_000, 10_000, 100_000):
        c, d, cpu, jobs = plan_fanout(n)
        times[n] = c + d
        print(f"fan-out {n:>7} units: compile {c:6.2f} s + dry run {d:6.2f} s = {c + d:6.2f} s "
              f"(Snakemake CPU {cpu:.1f} s; {jobs} Snakemake jobs)")
    print(f"ratio 100k/10k: {times[100_000] / times[10_000]:.2f}x (target <= 15x; "
          f"100k target <= 60 s)")

    print("== rule-per-unit Snakefile (generated here), dry run")
    (r1, c1), (r2, c2) = plan_rule_per_unit(1_000), plan_rule_per_unit(2_000)
    k = math.log(r2 / r1, 2)
    r10 = r2 * 5 ** k
    print(f"rule-per-unit 1k: {r1:.2f} s (CPU {c1:.1f} s), 2k: {r2:.2f} s (CPU {c2:.1f} s), "
          f"growth exponent {k:.2f}; 10k extrapolated (not measured): {r10:.0f} s")
    print(f"speed-up at 10k (pipecraft fan-out vs rule-per-unit): {r10 / times[10_000]:.1f}x "
          f"(target >= 10x); at 1k measured: {r1 / times[1_000]:.1f}x")

    print("== execution of 2,000 trivial jobs, 2 cores")
    for batch in (1, 20, 100):
        secs, done = execute(2_000, batch)
        label = "one Snakemake job per unit" if batch == 1 else f"batches of {batch} units"
        print(f"{label}: {done} units in {secs:.1f} s = {done / secs:.1f} units/s "
              "(target >= 30/s)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
