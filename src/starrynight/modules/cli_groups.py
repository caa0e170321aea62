"""CLI groups that gather the step commands: `starrynight illum ...`, `starrynight sbs ...`."""

import click

from starrynight.cli import LazyGroup


@click.group(cls=LazyGroup, commands={
    "calc": "starrynight.modules.cp_illum_calc.step:CP_ILLUM_CALC",
    "apply": "starrynight.modules.cp_illum_apply.step:CP_ILLUM_APPLY",
}, command_help={
    "calc": "Illumination functions per plate (LoadData, pipeline).",
    "apply": "Correct, segment and measure per well (LoadData, pipeline).",
})  # fmt: skip
def illum_group() -> None:
    """Cell Painting illumination: calculate per plate, apply per well (with segmentation)."""


@click.group(cls=LazyGroup, commands={
    "illum-calc": "starrynight.modules.sbs_illum_calc.step:SBS_ILLUM_CALC",
    "illum-apply": "starrynight.modules.sbs_illum_apply.step:SBS_ILLUM_APPLY",
    "preprocess": "starrynight.modules.sbs_preprocess.step:SBS_PREPROCESS",
}, command_help={
    "illum-calc": "Illumination functions per plate and cycle.",
    "illum-apply": "Correct and align every cycle to cycle 1.",
    "preprocess": "Compensate colours, find foci, call barcodes.",
})  # fmt: skip
def sbs_group() -> None:
    """Sequencing-by-synthesis arm: illumination, cycle alignment, barcode calling."""


class DeclaredStepGroup(click.Group):
    """Commands of a CellProfiler step declared outside the CLI tree (a plugin, a test): the
    subcommand is the declaration itself, "package.module:NAME" or "/path/to/file.py:NAME"."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return []

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from starrynight.modules.cellprofiler_step import CPStep, _load, step_cli

        if ":" not in cmd_name:
            return None
        step = _load(cmd_name)
        if not isinstance(step, CPStep):
            raise click.UsageError(f"{cmd_name} is not a CellProfiler step declaration")
        return step_cli(step)


step_group = DeclaredStepGroup(
    name="step",
    help="A step declared outside the CLI tree: "
    "`starrynight step <module:NAME|file.py:NAME> loaddata|cppipe ...`.",
)
