"""Run a CellProfiler step's three stages in this process's order, without a workflow engine.

For tests and debugging: it calls the same CLI commands the Snakemake jobs call, in order,
so a test can chain real steps on a small dataset quickly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from starrynight.modules.cellprofiler_step import (
    GenCPipeModule,
    GenLoadDataModule,
    InvokeCPModule,
    parameter_args,
)


def run_step_directly(
    loaddata: GenLoadDataModule, cppipe: GenCPipeModule, invoke: InvokeCPModule
) -> dict[str, Path]:
    """Run LoadData generation, pipeline generation and CellProfiler for every unit.

    Returns unit id -> output folder. Raises CalledProcessError naming the failing command.
    """
    import pipecraft as pc

    # like a pipecraft job: this Python's console scripts come first on PATH
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    for node in (loaddata.pipeline, cppipe.pipeline):
        subprocess.run(pc.job_argv(node), check=True, env=env)
    outputs = {}
    fanout = invoke.pipeline
    for unit in fanout.units:
        subprocess.run(pc.job_argv(fanout, unit.id), check=True, env=env)
        outputs[unit.id] = Path(fanout.outputs["out"][0].path.replace("{unit}", unit.id))
    return outputs


__all__ = ["parameter_args", "run_step_directly"]
