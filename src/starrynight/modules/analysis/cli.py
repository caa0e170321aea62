"""`starrynight analysis loaddata|cppipe|join|table`."""

from __future__ import annotations

from pathlib import Path

import click

from starrynight.modules.analysis.step import ANALYSIS_STEP
from starrynight.modules.cellprofiler_step import step_cli

analysis_group = step_cli(ANALYSIS_STEP)
analysis_group.help = (
    "Analysis: LoadData and pipeline generation, foci-to-cell join per unit, the per-cell table."
)


@analysis_group.command("join")
@click.option("--cp-dir", type=click.Path(path_type=Path), required=True,
              help="an analysis unit folder (CellProfiler tables and cell labels)")
@click.option("--out-dir", type=click.Path(path_type=Path), required=True)
@click.option("--focus-reach", type=float, default=0.0, show_default=True,
              help="foci up to this many px outside a cell outline count for the nearest cell")
@click.option("--min-match-score", type=click.FloatRange(0, 1), default=None,
              help="lowest match score (fraction of cycles agreeing) a focus needs to vote "
                   "[default: 0.66]")
@click.option("--stitch-manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the well's stitch manifest: the unit holds that well's crops (stitched screen)")
@click.argument("foci_manifests", nargs=-1, type=click.Path(path_type=Path))
def join_command(
    cp_dir: Path, out_dir: Path, focus_reach: float, min_match_score: float | None,
    stitch_manifest: Path | None, foci_manifests: tuple[Path, ...],
) -> None:  # fmt: skip
    """Assign the foci the FOCI_MANIFESTS (of sbs_preprocess units) list to the unit's cells."""
    from starrynight.cli_errors import user_errors
    from starrynight.modules.analysis.join import MIN_MATCH_SCORE, write_unit_cells

    score = MIN_MATCH_SCORE if min_match_score is None else min_match_score
    with user_errors():
        path = write_unit_cells(cp_dir, foci_manifests, out_dir, focus_reach, score, stitch_manifest)
        click.echo(f"analysis join: wrote {path}")


@analysis_group.command("table")
@click.option("--output", type=click.Path(path_type=Path), required=True)
@click.argument("unit_dirs", nargs=-1, type=click.Path(path_type=Path))
def table_command(output: Path, unit_dirs: tuple[Path, ...]) -> None:
    """Concatenate the joined units (analysis_join unit folders) into the per-cell table."""
    from starrynight.cli_errors import user_errors
    from starrynight.modules.analysis.join import write_cell_table

    with user_errors():
        table = write_cell_table(unit_dirs, output)
        click.echo(f"analysis table: {table.height} cells -> {output}")
