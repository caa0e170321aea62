"""`starrynight run <pipeline> --config screen.yaml`."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("run")
def run_group() -> None:
    """Run a whole screen from one config file."""


@run_group.command("pcp-generic")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="Screen config (YAML): data paths, experiment init config, parameters, backend.")
@click.option("--compile-only", is_flag=True, help="Write the Snakefile and stop.")
def pcp_generic_command(config_path: Path, compile_only: bool) -> None:
    """Index, infer the experiment, and run the CP + SBS + analysis pipeline."""
    from starrynight.cli_errors import user_errors
    from starrynight.pipelines.screen import run_screen

    with user_errors():
        result = run_screen(config_path, "pcp-generic", compile_only=compile_only)
    if compile_only:
        click.echo(f"compiled: {result}")
    else:
        done, total = result.progress
        click.echo(f"run {result.status}: {done}/{total} jobs; summary {result.summary_path}")
