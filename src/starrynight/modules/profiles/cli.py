"""`starrynight profiles build`."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import click
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_parameters(model: type[M], text: str, step: str) -> M:
    """A step's parameters from their JSON; a bad field is one line naming it."""
    try:
        return model.model_validate_json(text)
    except ValidationError as err:
        problems = "; ".join(
            f"{step}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise click.ClickException(f"parameters: {problems}") from None


@click.group("profiles")
def profiles_group() -> None:
    """Guide and gene profiles (pycytominer) from the per-cell table."""


@profiles_group.command("build")
@click.option(
    "--cells",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="the per-cell table (parquet)",
)
@click.option("--guides-out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--genes-out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--summary-out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--parameters", default="{}", show_default=True, help="ProfilesParameters as JSON")
def build_command(
    cells: Path, guides_out: Path, genes_out: Path, summary_out: Path, parameters: str
) -> None:
    """Aggregate per guide per well, normalise to controls per plate, select features, aggregate per gene."""
    from starrynight.cli_errors import user_errors
    from starrynight.modules.profiles.step import ProfilesParameters, write_profiles

    params = parse_parameters(ProfilesParameters, parameters, "profiles")
    with user_errors():
        summary = write_profiles(cells, guides_out, genes_out, summary_out, params)
    click.echo(
        f"profiles: {summary['guide_profiles']} guide-well and {summary['gene_profiles']} gene "
        f"profiles, {summary['features_selected']} of {summary['features_measured']} features"
    )
