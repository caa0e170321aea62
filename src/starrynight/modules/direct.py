"""Run a CellProfiler step's three stages in this process's order, without a workflow engine.

For tests and debugging: it calls the same CLI commands the Snakemake jobs call, in order,
so a test can chain real steps on a small dataset quickly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    # like a pipecraft job: this Python's console scripts come first on PATH
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    for node in (loaddata.pipeline, cppipe.pipeline):
        subprocess.run([str(a) for a in node.argv], check=True, env=env)
    outputs = {}
    fanout = invoke.pipeline
    for unit in fanout.units:
        out_dir = Path(fanout.outputs["out"][0].path.replace("{unit}", unit.id))
        argv = [_substitute(arg, unit.inputs, {"out": [out_dir]}, unit.id) for arg in fanout.argv]
        subprocess.run(argv, check=True, env=env)
        outputs[unit.id] = out_dir
    return outputs


def _substitute(
    arg: str, inputs: dict[str, list[Any]], outputs: dict[str, list[Any]], unit: str
) -> str:
    for name, paths in inputs.items():
        arg = arg.replace(f"{{input.{name}}}", str(paths[0]))
    for name, paths in outputs.items():
        arg = arg.replace(f"{{output.{name}}}", str(paths[0]))
    return arg.replace("{unit}", unit)


__all__ = ["parameter_args", "run_step_directly"]
