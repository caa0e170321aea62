"""`starrynight hits score`."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("hits")
def hits_group() -> None:
    """Phenotypic activity per gene against the controls (copairs)."""


@hits_group.command("score")
@click.option(
    "--guides",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="guide profiles (parquet) from `starrynight profiles build`",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--parameters", default="{}", show_default=True, help="HitsParameters as JSON")
def score_command(guides: Path, out: Path, parameters: str) -> None:
    """Rank genes by mAP against the controls; a hit has a corrected p-value below the FDR."""
    from starrynight.cli_errors import user_errors
    from starrynight.modules.hits.step import HitsParameters, write_hits
    from starrynight.modules.profiles.cli import parse_parameters

    params = parse_parameters(HitsParameters, parameters, "hits")
    with user_errors():
        table = write_hits(guides, out, params)
    click.echo(f"hits: {table.get_column('hit').sum()} of {table.height} genes at FDR {params.fdr}")
