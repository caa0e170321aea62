"""`starrynight demo`: generate the synthetic demo screen and run the whole pipeline on it."""

from __future__ import annotations

import time
from pathlib import Path

import click

SCREEN_YAML = """\
# The demo screen, as a user would configure their own (see docs/getting-started.md).
workspace_path: workspace
images_path: images
scratch_path: scratch
index_preset: default
experiment:
  nuclear_channel: DAPI
  cell_channel: CellMask
  mito_channel: MitoTracker
  barcode_csv_path: workspace/barcodes.csv
  image_overlap_percentage: 10
backend:
  cores: {cores}
"""


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the demo dataset, workspace and runs.",
)
@click.option("--preset", default="demo", show_default=True, help="Dataset size: tiny or demo.")
@click.option("--cores", type=int, default=2, show_default=True)
def demo_command(out: Path, preset: str, cores: int) -> None:
    """Generate the synthetic demo screen, run the full pipeline, and summarise the result."""
    from starrynight import naming
    from starrynight.cli_errors import user_errors
    from starrynight.datasets import generate_dataset
    from starrynight.pipelines.screen import run_screen

    start = time.monotonic()
    with user_errors():
        click.echo(f"demo: generating the {preset!r} synthetic screen in {out}/ ...")
        info = generate_dataset(out, preset, seed=0)
        config = naming.screen_config(out)
        config.write_text(SCREEN_YAML.format(cores=cores))
        click.echo(f"demo: running the pcp-generic pipeline ({config}) ...")
        handle = run_screen(config, "pcp-generic")
    elapsed = time.monotonic() - start
    click.echo(summary_text(info.workspace_path, handle.summary_path, elapsed))


def summary_text(workspace: Path, run_summary: Path, elapsed: float) -> str:
    """Where the results are, and what they say, in a few lines."""
    import polars as pl

    from starrynight import naming

    table = naming.analysis.cell_table(workspace)
    cells = pl.read_parquet(table)
    matched = cells.filter(pl.col("gene").is_not_null()).height
    lines = [
        "",
        "demo finished",
        f"  per-cell table: {table}",
        f"  run summary:    {run_summary}",
        f"  cells: {cells.height}; with a matched barcode: {matched} ({matched / max(cells.height, 1):.0%})",
        f"  wall time: {elapsed:.0f} s",
    ]
    report = naming.qc_report(workspace)
    if report.exists():
        lines.insert(3, f"  QC report:      {report}")
    hits = naming.profiles.hits_table(workspace)
    if hits.exists():
        called = pl.read_parquet(hits).filter("hit").get_column("Metadata_Gene").to_list()
        lines.insert(-1, f"  hit genes ({hits}): {', '.join(called) or 'none'}")
    return "\n".join(lines)
