"""pipecraft planning and execution speed. Run: .venv/bin/python benchmarks/bench_pipecraft.py

1. compile + Snakemake dry run of one fan-out of 1k, 10k and 100k units (plus a downstream
   command), batched as pipecraft does by default (above 5,000 units), and the 100k/10k ratio;
2. the same with batching disabled (max_jobs_per_fanout huge: one Snakemake job per unit) at
   1k and 10k, so the un-batched per-job cost shows beside the batched figures;
3. the same dry run for a rule-per-unit Snakefile generated here (the design pipecraft
   avoids) at 1k and 2k rules, extrapolated to 10k with the measured growth exponent; with
   `--full` the 10k rule-per-unit Snakefile is measured directly (about 10 minutes);
4. execution of 2,000 trivial jobs on 2 cores: one Snakemake job per unit, and batched.

`--quick` runs every part at small sizes (a check that the script works, not a measurement);
`--sizes`, `--unbatched-sizes`, `--rule-sizes` and `--exec-units` set sizes explicitly.
Work happens under bench-output/pipecraft/ (git-ignored). Prints seconds, rates and ratios.
"""

from __future__ import annotations

import argparse
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


NO_BATCHING = 10**9


def plan_fanout(n: int, batched: bool = True) -> tuple[float, float, float, int]:
    wd = fresh(f"fanout-{n}" + ("" if batched else "-unbatched"))
    pipeline = fanout_pipeline(wd, n)
    cfg = pc.SnakemakeBackendConfig(cores=2, progress=False)
    if not batched:
        cfg = cfg.model_copy(update={"max_jobs_per_fanout": NO_BATCHING})
    backend = pc.SnakemakeBackend(cfg)
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
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False))
    t0 = time.perf_counter()
    handle = backend.run(fan, working_dir=wd)
    elapsed = time.perf_counter() - t0
    done = handle.summary()["counts"].get("succeeded", 0)
    assert done == n, handle.summary()["counts"]
    return elapsed, done


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true",
                    help="also measure the rule-per-unit Snakefile at 10k rules (about 10 min) "
                         "instead of extrapolating")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes everywhere: checks that the script works, measures nothing")
    ap.add_argument("--sizes", type=sizes, help="fan-out sizes, batched as by default "
                    "(default 1000,10000,100000)")
    ap.add_argument("--unbatched-sizes", type=sizes,
                    help="fan-out sizes with batching disabled (default 1000,10000)")
    ap.add_argument("--rule-sizes", type=sizes,
                    help="rule-per-unit Snakefile sizes measured (default 1000,2000)")
    ap.add_argument("--exec-units", type=int, help="trivial units executed (default 2000)")
    args = ap.parse_args(argv)
    small = args.quick
    args.sizes = args.sizes or ([100, 1_000] if small else [1_000, 10_000, 100_000])
    args.unbatched_sizes = args.unbatched_sizes or ([100, 1_000] if small else [1_000, 10_000])
    args.rule_sizes = args.rule_sizes or ([100, 200] if small else [1_000, 2_000])
    if args.full and 10_000 not in args.rule_sizes:
        args.rule_sizes = [*args.rule_sizes, 10_000]
    args.exec_units = args.exec_units or (100 if small else 2_000)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f} (the machine has {os.cpu_count()} "
          "cores; wall times grow with load, Snakemake CPU seconds much less)")
    if args.quick:
        print("--quick: small sizes, a check that the script works; the figures mean little")

    print("== compile + dry run, one fan-out (+1 downstream command), 2 cores, batched as by "
          "default (above 5,000 units)")
    batched: dict[int, float] = {}
    for n in args.sizes:
        c, d, cpu, jobs = plan_fanout(n)
        batched[n] = c + d
        print(f"fan-out {n:>7} units: compile {c:6.2f} s + dry run {d:6.2f} s = {c + d:6.2f} s "
              f"(Snakemake CPU {cpu:.1f} s; {jobs} Snakemake jobs)")
    ns = sorted(batched)
    for a, b in zip(ns, ns[1:], strict=False):
        note = " (target <= 15x; 100k target <= 60 s)" if (a, b) == (10_000, 100_000) else ""
        print(f"ratio {label(b)}/{label(a)}: {batched[b] / batched[a]:.2f}x{note}")

    print("== the same with batching disabled (max_jobs_per_fanout huge): one Snakemake job per "
          "unit")
    unbatched: dict[int, float] = {}
    for n in args.unbatched_sizes:
        c, d, cpu, jobs = plan_fanout(n, batched=False)
        unbatched[n] = c + d
        print(f"fan-out {n:>7} units unbatched: compile {c:6.2f} s + dry run {d:6.2f} s = "
              f"{c + d:6.2f} s (Snakemake CPU {cpu:.1f} s; {jobs} Snakemake jobs; "
              f"{1000 * (c + d) / n:.2f} ms per unit)")
    ns = sorted(unbatched)
    for a, b in zip(ns, ns[1:], strict=False):
        print(f"unbatched ratio {label(b)}/{label(a)}: {unbatched[b] / unbatched[a]:.2f}x "
              f"(linear would be {b / a:.0f}x)")
    for n in ns:
        if n in batched:
            print(f"unbatched / batched at {label(n)}: {unbatched[n] / batched[n]:.2f}x")

    print("== rule-per-unit Snakefile (generated here), dry run")
    rule: dict[int, float] = {}
    for n in sorted(args.rule_sizes):
        r, c = plan_rule_per_unit(n)
        rule[n] = r
        print(f"rule-per-unit {label(n)} rules: {r:.2f} s measured (Snakemake CPU {c:.1f} s)")
    ns = sorted(rule)
    if len(ns) >= 2:
        a, b = ns[-2], ns[-1]
        k = math.log(rule[b] / rule[a], b / a)
        print(f"growth exponent {label(a)} -> {label(b)}: {k:.2f} (1 = linear, 2 = quadratic)")
    if 10_000 in rule:
        r10, how = rule[10_000], "measured"
    elif len(ns) >= 2:
        big = ns[-1]
        r10 = rule[big] * (10_000 / big) ** k
        how = (f"EXTRAPOLATED from {label(ns[-2])} and {label(big)}, not measured; "
               "--full measures it (about 10 min)")
    else:
        r10, how = None, "not available (give two --rule-sizes or --full)"
    print(f"rule-per-unit 10k: {f'{r10:.0f} s' if r10 is not None else '-'} ({how})")
    if r10 is not None:
        for name, table in (("batched fan-out", batched), ("unbatched fan-out", unbatched)):
            if 10_000 in table:
                target = " (target >= 10x)" if name == "batched fan-out" else ""
                print(f"speed-up at 10k, {name} vs rule-per-unit ({how.split(',')[0]}): "
                      f"{r10 / table[10_000]:.1f}x{target}")
    for n in ns:
        for name, table in (("batched", batched), ("unbatched", unbatched)):
            if n in table:
                print(f"at {label(n)} (both measured): rule-per-unit / {name} fan-out "
                      f"{rule[n] / table[n]:.1f}x")

    n_exec = args.exec_units
    print(f"== execution of {n_exec:,} trivial jobs, 2 cores")
    for batch in (1, 20, 100):
        secs, done = execute(n_exec, batch)
        what = "one Snakemake job per unit" if batch == 1 else f"batches of {batch} units"
        print(f"{what}: {done} units in {secs:.1f} s = {done / secs:.1f} units/s "
              "(target >= 30/s)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
