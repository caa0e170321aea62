"""Run the demo screen end to end and report what a run costs and how good it is.

    .venv/bin/python benchmarks/bench_demo.py [--preset demo|tiny] [--cores 2]

Prints: wall time of the run, jobs, CPU efficiency (sum of job CPU time / (wall x cores),
from Snakemake's per-job benchmarks, which miss short-lived grandchildren), core occupancy
(sum of job wall time / (wall x cores)), the machine's CPU use over the whole
`starrynight run` (all processes: jobs, Snakemake itself, anything else running), the share of job time spent starting CellProfiler
(invocations x one measured start-up: a unit validates and runs in one CellProfiler process), and the scores
against the generator's truth (right gene, wrong gene, nuclei count error).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl


def cellprofiler_startup_seconds(pipeline: Path, data_file: Path) -> float:
    """One CellProfiler start-up: `cp validate` loads CellProfiler, the plugins and the pipeline."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "starrynight", "cp", "validate", "-p", str(pipeline),
                    "--data-file", str(data_file)], check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def cp_arm_nuclei_errors(workspace: Path, truth_root: Path) -> pl.DataFrame:
    """Per site: the CP arm's Count_Nuclei (illumination apply + segmentation) vs the truth."""
    from starrynight import naming

    images = pl.concat(
        [pl.read_csv(p, infer_schema_length=0)
         for p in naming.outputs_dir(workspace, "cp_illum_apply").glob(f"*/{naming.cp.measurement_table('Image')}")],
        how="diagonal_relaxed",
    ).select(
        pl.col("Metadata_Plate").alias("plate"), pl.col("Metadata_Well").alias("well"),
        pl.col("Metadata_Site").cast(pl.Int64).alias("site"), pl.col("Count_Nuclei").cast(pl.Float64),
    )
    truth = pl.read_parquet(truth_root / "truth" / "sites.parquet").select("plate", "well", "site", "n_cells")
    return truth.join(images, on=["plate", "well", "site"], how="left").with_columns(
        ((pl.col("Count_Nuclei") - pl.col("n_cells")).abs() / pl.col("n_cells")).alias("rel_error"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    from starrynight import naming
    from starrynight.datasets import generate_dataset
    from starrynight.demo import SCREEN_YAML
    from starrynight.pipelines.screen import run_screen
    from starrynight.scoring import score_tables

    with tempfile.TemporaryDirectory(prefix="sn-demo-") as tmp:
        info = generate_dataset(Path(tmp), args.preset, seed=0)
        config = Path(tmp) / "screen.yaml"
        config.write_text(SCREEN_YAML.format(cores=args.cores))
        import psutil

        cpu_before, run_start = psutil.cpu_times(), time.monotonic()
        handle = run_screen(config)
        cpu_after, run_seconds = psutil.cpu_times(), time.monotonic() - run_start
        machine_busy = ((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)) / (
            run_seconds * psutil.cpu_count())
        summary = json.loads(handle.summary_path.read_text())
        bench = pl.concat(
            [pl.read_csv(p, separator="\t") for p in (handle.working_dir / "benchmarks").rglob("*.tsv")],
            how="diagonal_relaxed",
        )
        wall = summary["ended"] - summary["started"]
        jobs = [j for j in summary["jobs"] if j["status"] != "up_to_date"]
        invocations = sum(1 for j in jobs if j["rule"].endswith("_invoke"))
        ws = info.workspace_path
        startup = cellprofiler_startup_seconds(
            naming.cppipe_path(ws, "cp_illum_calc"), naming.unit_csv(naming.loaddata_dir(ws, "cp_illum_calc"), info.plates[0])
        )
        job_seconds = float(bench["s"].sum())
        cpu = float(bench["cpu_time"].sum())
        score = score_tables(info.root, naming.analysis.cell_table(ws))

        print(f"preset {args.preset}: {info.n_cells} true cells, {len(info.plates)} plate(s) x {len(info.wells)} wells")
        print(f"run wall time:            {wall:8.1f} s  ({summary['status']})")
        print(f"jobs:                     {len(jobs):8d}  ({invocations} CellProfiler invocations)")
        print(f"CPU efficiency:           {cpu / (wall * args.cores):8.2f}  (job CPU {cpu:.0f} s / ({wall:.0f} s x {args.cores} cores))")
        print(f"core occupancy:           {job_seconds / (wall * args.cores):8.2f}  (job wall {job_seconds:.0f} s / ({wall:.0f} s x {args.cores} cores))")
        print(f"machine CPU busy:         {machine_busy:8.2f}  (all processes, over the {run_seconds:.0f} s of index + pipeline + report)")
        print(f"CellProfiler start-up:    {startup:8.1f} s each; share of job time "
              f"{invocations * startup / job_seconds:.0%} (one per invocation, {job_seconds:.0f} s of jobs)")
        sites = cp_arm_nuclei_errors(ws, info.root)
        print(f"CP arm nuclei per site:   {sites['rel_error'].mean():8.1%} mean, {sites['rel_error'].max():.1%} worst "
              f"of {sites.height} sites (Count_Nuclei of illumination apply vs truth; target <= 10 %)")
        print(score.report())


if __name__ == "__main__":
    main()
