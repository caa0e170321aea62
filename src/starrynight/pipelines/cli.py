"""`starrynight run <pipeline> --config screen.yaml`."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("run")
def run_group() -> None:
    """Run a whole screen from one config file."""


def _profile_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """The profile folder, absolute; a bad one is a usage error naming it."""
    if value is None:
        return None
    from pipecraft.profile import read_profile

    try:
        read_profile(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None
    return value.expanduser().resolve()


@run_group.command("pcp-generic")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="Screen config (YAML): data paths, experiment init config, parameters, backend.")
@click.option("--compile-only", is_flag=True, help="Write the Snakefile and stop.")
@click.option("--profile", type=click.Path(path_type=Path), callback=_profile_folder,
              help="A Snakemake profile folder (with config.yaml), e.g. profiles/slurm; replaces "
                   "the config's backend.profile.")  # fmt: skip
@click.option("--units-per-job", type=click.IntRange(min=1),
              help="Bundle this many units of a step into one job (one cluster submission); "
                   "replaces the config's backend.units_per_job.")  # fmt: skip
def pcp_generic_command(config_path: Path, compile_only: bool, profile: Path | None,
                        units_per_job: int | None) -> None:
    """Index, infer the experiment, and run the CP + SBS + analysis pipeline."""
    from starrynight.cli_errors import user_errors
    from starrynight.pipelines.screen import run_screen

    backend = {"profile": profile, "units_per_job": units_per_job}
    with user_errors():
        result = run_screen(config_path, "pcp-generic", compile_only=compile_only,
                            backend={k: v for k, v in backend.items() if v is not None})
    if compile_only:
        click.echo(f"compiled: {result}")
    else:
        click.echo(f"run {result.status}: {run_counts(result.summary() or {})}; "
                   f"summary {result.summary_path}")


def run_counts(summary: dict) -> str:
    """'N jobs ran, M up to date' (or 'up to date: nothing to do') from a run summary."""
    jobs = summary.get("jobs", [])
    ran = sum(j["status"] == "succeeded" for j in jobs)
    failed = sum(j["status"] == "failed" for j in jobs)
    if not ran and not failed:
        return "up to date: nothing to do"
    parts = [f"{ran} jobs ran", f"{sum(j['status'] == 'up_to_date' for j in jobs)} up to date"]
    return ", ".join(parts + ([f"{failed} failed"] if failed else []))
