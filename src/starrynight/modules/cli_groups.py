"""CLI groups that gather the step commands: `starrynight illum ...`, `starrynight sbs ...`."""

import click

from starrynight.cli import LazyGroup


@click.group(cls=LazyGroup, commands={
    "calc": "starrynight.modules.cp_illum_calc.cli:cli",
    "apply": "starrynight.modules.cp_illum_apply.cli:cli",
}, command_help={
    "calc": "Illumination functions per plate (LoadData, pipeline).",
    "apply": "Correct, segment and measure per well (LoadData, pipeline).",
})  # fmt: skip
def illum_group() -> None:
    """Cell Painting illumination: calculate per plate, apply per well (with segmentation)."""


@click.group(cls=LazyGroup, commands={
    "illum-calc": "starrynight.modules.sbs_illum_calc.cli:cli",
    "illum-apply": "starrynight.modules.sbs_illum_apply.cli:cli",
    "preprocess": "starrynight.modules.sbs_preprocess.cli:cli",
}, command_help={
    "illum-calc": "Illumination functions per plate and cycle.",
    "illum-apply": "Correct and align every cycle to cycle 1.",
    "preprocess": "Compensate colours, find foci, call barcodes.",
})  # fmt: skip
def sbs_group() -> None:
    """Sequencing-by-synthesis arm: illumination, cycle alignment, barcode calling."""
