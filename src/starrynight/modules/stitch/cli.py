"""`starrynight stitch`: the geometry commands (`algorithms/geometry/cli.py`) plus `step`, one
well of the pipeline's stitch step."""

from __future__ import annotations

from pathlib import Path

import click

from starrynight.algorithms.geometry.cli import stitch_group
from starrynight.cli_errors import user_errors

__all__ = ["stitch_group"]


@stitch_group.command("step")
@click.option(
    "--images", required=True, help="Images root (the raw files' OME-XML gives stage positions)."
)
@click.option(
    "--index", "index_path", type=click.Path(dir_okay=False, path_type=Path), required=True
)
@click.option(
    "--experiment-json", "experiment_text", required=True, help="The experiment, as JSON text."
)
@click.option(
    "--parameters-json",
    "parameters_text",
    default="{}",
    show_default=True,
    help="The stitch step's parameters, as JSON text.",
)
@click.option("--plate", required=True)
@click.option("--well", required=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The well's unit folder (manifest.parquet is written last).",
)
@click.argument("manifests", nargs=-1, type=click.Path(path_type=Path))
def step_command(
    images: str, index_path: Path, experiment_text: str, parameters_text: str, plate: str, well: str,
    out: Path, manifests: tuple[Path, ...],
) -> None:  # fmt: skip
    """One well of the pipeline's stitch step, reading the MANIFESTS of cp_illum_apply and
    sbs_illum_apply units that hold its sites."""
    import polars as pl

    from starrynight.config import to_path
    from starrynight.experiments.registry import experiment_from_text
    from starrynight.manifest import read_manifests
    from starrynight.modules.stitch.run import stitch_unit
    from starrynight.modules.stitch.step import StitchParameters

    with user_errors():
        experiment = experiment_from_text(experiment_text)
        params = StitchParameters.model_validate_json(parameters_text)
        rows = stitch_unit(experiment, params, pl.read_parquet(index_path), to_path(images),
                           read_manifests(manifests), plate, well, out)  # fmt: skip
    click.echo(
        f"stitch {plate}/{well}: {rows.filter(pl.col('kind') == 'image').height} crop images -> {out}"
    )
