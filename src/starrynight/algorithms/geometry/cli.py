"""`starrynight stitch`: stitch one arm of a well, register SBS to CP, cut matching crops.

Every input is explicit (tile files and their sites, channel order, pixel size or layout), so
a pipeline step only has to list a well's files and call these commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from starrynight.cli_errors import user_errors


def _ints(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected comma-separated integers", param_hint=option
        ) from None


@click.group("stitch")
def stitch_group() -> None:
    """Stitch wells, register the arms, crop matched tiles."""


@stitch_group.command("well")
@click.option(
    "--tiles",
    "tiles_csv",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="CSV with columns site,path: one row per tile file of this arm of this well.",
)
@click.option("--channels", required=True, help="Channel names in plane order, comma-separated.")
@click.option(
    "--register-channel", required=True, help="Channel whose overlaps are registered (nuclei)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for well.ome.zarr, positions.parquet and stitch.json.",
)
@click.option(
    "--pixel-size", type=float, help="µm per pixel; default: the files' OME PhysicalSizeX."
)
@click.option(
    "--rows",
    help="Sites per acquisition row, e.g. 4,6,8,8,6,4 (used when the files carry no "
    "stage positions); default: inferred from the site count.",
)
@click.option("--order", type=click.Choice(["snake", "raster"]), default="snake", show_default=True)
@click.option(
    "--overlap",
    type=click.FloatRange(0, 100, max_open=True),
    default=10.0,
    show_default=True,
    help="Overlap between neighbouring tiles, percent.",
)
@click.option(
    "--expected-sites",
    type=click.IntRange(min=1),
    help="Sites the well should have; absent ones are reported (default: the layout's count).",
)
@click.option(
    "--positions",
    "given",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Fuse at the positions of an earlier stitch (e.g. SBS cycle 1) instead of registering.",
)
@click.option(
    "--align/--no-align",
    default=False,
    show_default=True,
    help="With --positions: first register each tile to the same site of that stitch (for raw, "
    "not yet cycle-aligned SBS tiles).",
)
def stitch_well_command(
    tiles_csv: Path,
    channels: str,
    register_channel: str,
    out: Path,
    pixel_size: float | None,
    rows: str | None,
    order: str,
    overlap: float,
    expected_sites: int | None,
    given: Path | None,
    align: bool,
) -> None:
    """Stitch one arm of one well into a chunked OME-Zarr."""
    import polars as pl

    from starrynight.algorithms.geometry.acquisition import (
        AcquisitionLayout,
        GeometryError,
        infer_rows,
    )
    from starrynight.algorithms.geometry.well import TileFile, stitch_well
    from starrynight.naming import geometry as names

    with user_errors():
        try:
            table = pl.read_csv(tiles_csv, schema_overrides={"site": pl.Int64, "path": pl.String})
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"{tiles_csv}: {error}") from None
        missing = {"site", "path"} - set(table.columns)
        if missing:
            raise ValueError(
                f"{tiles_csv}: missing column(s) {', '.join(sorted(missing))} (need site,path)"
            )
        tiles = [
            TileFile(site=r["site"], path=Path(r["path"])) for r in table.iter_rows(named=True)
        ]
        row_counts = _ints(rows, "--rows")
        if (
            row_counts is None
        ):  # a layout from the site count, needed only if tiles lack stage positions
            try:
                row_counts = infer_rows(
                    expected_sites or (max(t.site for t in tiles) + 1 if tiles else 0)
                )
            except GeometryError:
                row_counts = None
        layout = (
            AcquisitionLayout(rows=row_counts, order=order, overlap_percentage=overlap)
            if row_counts
            else None
        )
        report = stitch_well(
            tiles,
            channels.split(","),
            register_channel,
            names.stitched_well(out),
            names.positions_table(out),
            names.stitch_report(out),
            pairs_out=names.pairs_table(out),
            pixel_size_um=pixel_size,
            layout=layout,
            expected_sites=expected_sites,
            given_positions=given,
            align=align,
        )
    click.echo(
        f"{report.tiles} tiles ({report.positions_from} positions), {report.pairs} overlaps, "
        f"{report.pairs_rejected} rejected; well {report.shape[1]}x{report.shape[0]} px -> {out}"
    )
    if report.missing_sites:
        click.echo(
            f"missing site(s): {', '.join(map(str, report.missing_sites))} (stitched without them)"
        )


@stitch_group.command("register")
@click.option(
    "--cp",
    "cp_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The CP arm's stitch folder.",
)
@click.option(
    "--sbs",
    "sbs_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The SBS arm's stitch folder (cycle 1).",
)
@click.option("--cp-channel", required=True, help="CP nuclear channel.")
@click.option("--sbs-channel", required=True, help="SBS nuclear channel.")
@click.option(
    "--search",
    type=click.FloatRange(min=1),
    default=100.0,
    show_default=True,
    help="How far (µm) the arms may be apart before registration.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for registration.json.",
)
def register_command(
    cp_dir: Path, sbs_dir: Path, cp_channel: str, sbs_channel: str, search: float, out: Path
) -> None:
    """Register the stitched SBS well to the stitched CP well on their nuclei."""
    from starrynight.algorithms.geometry.io import WellImage
    from starrynight.algorithms.geometry.register import register_wells
    from starrynight.config import write_text_atomic
    from starrynight.naming import geometry as names

    with user_errors():
        cp = WellImage(names.stitched_well(cp_dir))
        sbs = WellImage(names.stitched_well(sbs_dir))
        reg = register_wells(cp, sbs, cp_channel, sbs_channel, search)
        target = names.registration_file(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, reg.model_dump_json(indent=2) + "\n")
    t = reg.transform
    click.echo(
        f"SBS -> CP: shift ({t.ty:.2f}, {t.tx:.2f}) µm, rotation {t.angle_deg:.4f}°; {reg.matched} of "
        f"{reg.sbs_nuclei} nuclei matched, median residual {reg.median_residual_cp_px:.2f} CP px"
    )


@stitch_group.command("crop")
@click.option(
    "--cp", "cp_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True
)
@click.option(
    "--sbs",
    "sbs_dirs",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    multiple=True,
    help="The SBS stitch folder of each cycle, in cycle order (repeat).",
)
@click.option(
    "--registration", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True
)
@click.option("--tiles-per-side", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--margin",
    type=click.IntRange(min=0),
    default=64,
    show_default=True,
    help="CP pixels added around each crop's core.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def crop_command(
    cp_dir: Path,
    sbs_dirs: tuple[Path, ...],
    registration: Path,
    tiles_per_side: int,
    margin: int,
    out: Path,
) -> None:
    """Cut matching CP and SBS crops (CP pixel grid) with a margin; write crops.parquet."""
    from starrynight.algorithms.geometry.crop import crop_grid, write_crops
    from starrynight.algorithms.geometry.io import WellImage
    from starrynight.algorithms.geometry.register import Registration
    from starrynight.naming import geometry as names

    with user_errors():
        cp = WellImage(names.stitched_well(cp_dir))
        cycles = [WellImage(names.stitched_well(d)) for d in sbs_dirs]
        try:
            reg = Registration.model_validate(json.loads(registration.read_text()))
        except ValueError as error:
            raise ValueError(f"{registration}: not a registration file ({error})") from None
        crops = crop_grid(cp.shape, tiles_per_side, margin)
        write_crops(cp, cycles, reg.transform, crops, out)
    click.echo(f"{len(crops)} crops ({1 + len(cycles)} stacks each) -> {out}")
