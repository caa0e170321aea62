"""`starrynight` command line.

Sub-command groups are imported lazily: every job of a run starts this CLI, so
start-up must not pay for polars, numpy or snakemake unless the command needs them.
"""

from __future__ import annotations

import importlib

import click

# group name -> "module:attribute" of a click command or group, or of a CellProfiler step
# declaration (whose `loaddata` and `cppipe` commands are built from it).
COMMANDS: dict[str, str] = {
    "inventory": "starrynight.modules.inventory.cli:inventory_group",
    "index": "starrynight.modules.index.cli:index_group",
    "exp": "starrynight.experiments.cli:exp_group",
    "demo-data": "starrynight.datasets.cli:demo_data_command",
    "cp": "starrynight.cellprofiler.cli:cp_group",
    "illum": "starrynight.modules.cli_groups:illum_group",
    "segcheck": "starrynight.modules.cp_segcheck.step:CP_SEGCHECK",
    "sbs": "starrynight.modules.cli_groups:sbs_group",
    "step": "starrynight.modules.cli_groups:step_group",
    "analysis": "starrynight.modules.analysis.cli:analysis_group",
    "run": "starrynight.pipelines.cli:run_group",
    "profiles": "starrynight.modules.profiles.cli:profiles_group",
    "hits": "starrynight.modules.hits.cli:hits_group",
    "score": "starrynight.scoring.cli:score_command",
    "qc": "starrynight.qc.cli:qc_group",
    "demo": "starrynight.demo:demo_command",
    "stitch": "starrynight.modules.stitch.cli:stitch_group",
}

# one-line help shown by `--help` (kept here so listing commands imports none of them)
COMMAND_HELP: dict[str, str] = {
    "inventory": "List every file under the images root into parquet.",
    "index": "Parse image paths into plates, wells, sites, cycles, channels.",
    "exp": "Configure an experiment from the index and an init config.",
    "demo-data": "Generate a synthetic screen with ground truth.",
    "cp": "Validate and run CellProfiler pipelines.",
    "illum": "Cell Painting illumination: calculate, apply + segment.",
    "segcheck": "Cell Painting segmentation check (overlays, counts).",
    "sbs": "SBS arm: illumination, cycle alignment, barcode calling.",
    "step": "A CellProfiler step declared outside the CLI tree.",
    "analysis": "CP-SBS registration, phenotypes, foci -> cells, table.",
    "run": "Run a whole screen from one config file.",
    "profiles": "Guide and gene profiles normalised to controls.",
    "hits": "Genes ranked by phenotypic activity (mAP, FDR).",
    "score": "Compare a per-cell table with the ground truth.",
    "qc": "Quality control: the HTML report.",
    "demo": "Generate the demo screen and run the whole pipeline.",
    "stitch": "Stitch wells, register CP and SBS, cut matching crops.",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when invoked."""

    def __init__(
        self,
        *args,
        commands: dict[str, str] | None = None,
        command_help: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = COMMANDS if commands is None else commands
        self.command_help = COMMAND_HELP if command_help is None else command_help

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy_commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":", 1)
        command = getattr(importlib.import_module(module_name), attr)
        if isinstance(command, click.Command):
            return command
        from starrynight.modules.cellprofiler_step import step_cli

        return step_cli(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List sub-commands with their one-line help without importing them."""
        rows = [(name, self.command_help.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="starrynight")
def main() -> None:
    """StarryNight: optical pooled screen images to a per-cell table."""


if __name__ == "__main__":
    main()
