"""`starrynight score --truth ... --cells ...`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("score")
@click.option("--truth", type=click.Path(path_type=Path), required=True,
              help="dataset root, its truth/ folder, or a truth cells parquet")
@click.option("--cells", type=click.Path(path_type=Path), required=True, help="per-cell table (parquet)")
@click.option("--radius", type=float, default=8.0, show_default=True,
              help="largest nucleus-centroid distance (px) of a matched cell")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="also write the full score (with per-site counts) as JSON")
@click.option("--hits", "hits_path", type=click.Path(path_type=Path), default=None,
              help="also score this hit table (hits/hits.parquet) against the true phenotypes")
def score_command(truth: Path, cells: Path, radius: float, json_path: Path | None, hits_path: Path | None) -> None:
    """Compare a per-cell table with the synthetic dataset's ground truth."""
    from starrynight.cli_errors import user_errors
    from starrynight.scoring.hits import score_hit_files
    from starrynight.scoring.score import score_tables

    with user_errors():
        score = score_tables(truth, cells, radius)
        click.echo(score.report())
        if hits_path is not None:
            click.echo(score_hit_files(hits_path, truth).report())
        if json_path is not None:
            score.write_json(json_path)
            click.echo(f"wrote {json_path}")
