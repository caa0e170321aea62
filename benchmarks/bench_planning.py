"""Plan a whole screen, from file tree to Snakemake dry run, and time every stage.

    .venv/bin/python benchmarks/bench_planning.py                 # the 9-plate screen (~281k files)
    .venv/bin/python benchmarks/bench_planning.py --plates 3      # a third of it (linearity check)
    .venv/bin/python benchmarks/bench_planning.py --units-per-job 1 8 32   # cluster submissions

Stages: write the file tree (header-only TIFFs; not counted), inventory, index (which reads
every TIFF header), experiment inference, building the pcp-generic pipeline, compiling the
Snakefile, and Snakemake's dry run. Prints seconds per stage, the planning total and files per
second; target: 60 s or less in total for the 9-plate screen, linear in the number of files.
Each step's LoadData is written by its own job from what the step before published, so it is
part of the run, not of planning. With --units-per-job, one more dry run per bundle size
prints how many jobs (cluster submissions) the screen becomes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl


def _timed(stages: dict[str, float], name: str, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    stages[name] = time.perf_counter() - start
    print(f"  {name:<32} {stages[name]:7.2f} s", flush=True)
    return result


def plan_screen(root: Path, plates: int, wells: int, cp_sites: int, sbs_sites: int, cycles: int,
                bundles: tuple[int, ...] = ()) -> dict[str, float]:  # fmt: skip
    import pipecraft as pc
    from starrynight import naming
    from starrynight.config import DataConfig
    from starrynight.datasets import generate_tree
    from starrynight.experiments.pcp_generic import PCPGenericExperiment
    from starrynight.modules.index.index import build_index
    from starrynight.modules.inventory.inventory import build_inventory
    from starrynight.pipelines.pcp_generic import create_pcp_generic_pipeline

    images, workspace, scratch = root / "images", root / "workspace", root / "scratch"
    files = generate_tree(
        root, plates=plates, wells=wells, cp_sites=cp_sites, sbs_sites=sbs_sites, cycles=cycles
    )
    print(
        f"tree: {files:,} files ({plates} plates x {wells} wells, {cp_sites} CP + {sbs_sites} SBS sites x {cycles} cycles)"
    )
    barcodes = workspace / "barcodes.csv"
    workspace.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"sgRNA": ["ACGT" * 3, "TGCA" * 3], "gene_symbol": ["G1", "nontargeting"]}
    ).with_columns(pl.col("sgRNA").str.slice(0, cycles)).write_csv(barcodes)

    stages: dict[str, float] = {}
    _timed(stages, "inventory", build_inventory, images, workspace)
    _timed(stages, "index", build_index, workspace, images)
    init = {"nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
            "barcode_csv_path": str(barcodes), "image_overlap_percentage": 10,
            # header-only TIFFs carry no OME pixel size; a 10X SBS pixel is 1.99 20X CP pixels
            "geometry": {"cp": {"pixel_size_um": 0.65}, "sbs": {"pixel_size_um": 0.65 * 1.99}}}  # fmt: skip
    experiment = _timed(
        stages,
        "experiment",
        PCPGenericExperiment.from_index,
        naming.index_manifest(workspace),
        init,
    )
    data_config = DataConfig(workspace_path=workspace, images_path=images, scratch_path=scratch)

    _, pipeline = _timed(
        stages, "build pipeline", create_pcp_generic_pipeline, data_config, experiment
    )
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    wd = scratch / "runs" / "plan"
    _timed(stages, "compile", backend.compile, pipeline, working_dir=wd)
    dry = _timed(stages, "dry run", backend.dry_run, pipeline, working_dir=wd)
    total = sum(stages.values())
    print(
        f"  {'TOTAL planning':<32} {total:7.2f} s  ({files / total:,.0f} files/s; {dry.total} jobs planned)"
    )
    for units in bundles:
        bundled = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, units_per_job=units))
        jobs = bundled.dry_run(pipeline, working_dir=scratch / "runs" / f"plan-{units}").total
        print(f"  units_per_job {units:>4}: {jobs:>8,} jobs (cluster submissions)")
    stages["files"] = files
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=9)
    parser.add_argument("--wells", type=int, default=6)
    parser.add_argument("--cp-sites", type=int, default=1364)
    parser.add_argument("--sbs-sites", type=int, default=320)
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument(
        "--linearity", action="store_true", help="also plan a third of the plates and compare"
    )
    parser.add_argument(
        "--units-per-job", type=int, nargs="*", default=[], help="bundle sizes to dry-run"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    runs = [args.plates] + ([max(1, args.plates // 3)] if args.linearity else [])
    results = {}
    for plates in runs:
        with tempfile.TemporaryDirectory(prefix="sn-plan-") as tmp:
            stages = plan_screen(Path(tmp), plates, args.wells, args.cp_sites, args.sbs_sites, args.cycles,
                                 tuple(args.units_per_job))  # fmt: skip
            results[plates] = (stages.pop("files"), sum(stages.values()))
    if len(results) == 2:
        (big_f, big_t), (small_f, small_t) = results[runs[0]], results[runs[1]]
        print(f"linearity: files x{big_f / small_f:.2f} -> time x{big_t / small_t:.2f}")


if __name__ == "__main__":
    main()
