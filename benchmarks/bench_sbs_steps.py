"""Wall time per stage and per CellProfiler invocation of the three SBS steps.

    .venv/bin/python benchmarks/bench_sbs_steps.py [tiny|demo]

Generates the synthetic dataset in a temp dir, indexes it, then runs sbs_illum_calc,
sbs_illum_apply and sbs_preprocess with default parameters (the same CLI commands the
workflow jobs run) and prints seconds for LoadData, cppipe and every unit's CellProfiler run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starrynight.config import DataConfig
from starrynight.datasets import generate_dataset
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.cellprofiler_step import step_modules
from starrynight.modules.index.index import build_index
from starrynight.modules.sbs_illum_apply import (
    SBSIllumApplyGenCPipeModule,
    SBSIllumApplyGenLoadDataModule,
    SBSIllumApplyInvokeCPModule,
)
from starrynight.modules.sbs_illum_calc import (
    SBSIllumCalcGenCPipeModule,
    SBSIllumCalcGenLoadDataModule,
    SBSIllumCalcInvokeCPModule,
)
from starrynight.modules.sbs_preprocess import (
    SBSPreprocessGenCPipeModule,
    SBSPreprocessGenLoadDataModule,
    SBSPreprocessInvokeCPModule,
)

TRIOS = [
    (SBSIllumCalcGenLoadDataModule, SBSIllumCalcGenCPipeModule, SBSIllumCalcInvokeCPModule),
    (SBSIllumApplyGenLoadDataModule, SBSIllumApplyGenCPipeModule, SBSIllumApplyInvokeCPModule),
    (SBSPreprocessGenLoadDataModule, SBSPreprocessGenCPipeModule, SBSPreprocessInvokeCPModule),
]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(preset: str) -> None:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    with tempfile.TemporaryDirectory(prefix="bench-sbs-") as tmp:
        info = generate_dataset(Path(tmp) / preset, preset, seed=0)
        build_index(info.workspace_path, info.images_path)
        experiment = PCPGenericExperiment.from_index(info.workspace_path / "index.yaml", {
            "nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
            "barcode_csv_path": str(info.barcode_csv), "image_overlap_percentage": 10})  # fmt: skip
        config = DataConfig(workspace_path=info.workspace_path, images_path=info.images_path,
                            scratch_path=info.scratch_path)  # fmt: skip
        total = 0.0
        for trio in TRIOS:
            loaddata, cppipe, invoke = step_modules(trio, config, experiment)
            step = loaddata.step
            t_load = timed([str(a) for a in loaddata.pipeline.argv], env)
            t_pipe = timed([str(a) for a in cppipe.pipeline.argv], env)
            fanout = invoke.pipeline
            runs = []
            for unit in fanout.units:
                out = fanout.outputs["out"][0].path.replace("{unit}", unit.id)
                argv = []
                for arg in fanout.argv:
                    for name, paths in unit.inputs.items():
                        arg = arg.replace(f"{{input.{name}}}", str(paths[0]))
                    argv.append(arg.replace("{output.out}", out))
                runs.append(timed(argv, env))
            total += t_load + t_pipe + sum(runs)
            per_unit = ", ".join(f"{r:.1f}" for r in runs)
            print(f"{step}: loaddata {t_load:.1f} s, cppipe {t_pipe:.1f} s, "
                  f"{len(runs)} CellProfiler runs [{per_unit}] s, mean {sum(runs) / len(runs):.1f} s")  # fmt: skip
        print(f"total {total:.1f} s ({preset}: {len(info.wells)} wells x {info.sbs_sites_per_well} sites x {info.cycles} cycles)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tiny")
