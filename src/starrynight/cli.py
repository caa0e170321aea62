"""`starrynight` command line.

Sub-command groups are imported lazily: every job of a run starts this CLI, so
start-up must not pay for polars, numpy or snakemake unless the command needs them.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# group name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "inventory": "starrynight.modules.inventory.cli:inventory_group",
    "index": "starrynight.modules.index.cli:index_group",
    "exp": "starrynight.experiments.cli:exp_group",
    "demo-data": "starrynight.datasets.cli:demo_data_command",
    "cp": "starrynight.cellprofiler.cli:cp_group",
    "illum": "starrynight.modules.cli_groups:illum_group",
    "segcheck": "starrynight.modules.cp_segcheck.cli:segcheck_group",
    "sbs": "starrynight.modules.cli_groups:sbs_group",
    "analysis": "starrynight.modules.analysis.cli:analysis_group",
    "run": "starrynight.pipelines.cli:run_group",
    "score": "starrynight.scoring.cli:score_command",
    "qc": "starrynight.qc.cli:qc_group",
    "demo": "starrynight.demo:demo_command",
}


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when invoked."""

    def __init__(self, *args, commands: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = COMMANDS if commands is None else commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, target in self.lazy_commands.items() if _available(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None or not _available(target):
            return None
        module_name, attr = target.split(":", 1)
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="starrynight")
def main() -> None:
    """StarryNight: optical pooled screen images to a per-cell table."""


if __name__ == "__main__":
    main()
