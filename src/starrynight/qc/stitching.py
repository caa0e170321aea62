"""The report's section on stitched wells, drawn from what the stitch step published.

Per well: the preview of each arm with every acquired tile's placed box and the crop cores
laid over it (an SVG over the embedded PNG, so outlines stay sharp and the file small), and
the cells per crop as a map of the same grid. Over the screen: the tile-overlap residuals
(accepted and rejected pairs) and the CP<->SBS registration per well against the thresholds,
with the tables behind them. Wells are grouped by plate, every well shown.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from starrynight import naming
from starrynight.naming import stitch as stitch_names
from starrynight.qc.figures import QCParameters
from starrynight.qc.stitch_data import ARMS, StitchedWell, stitch_table, stitched_wells

Section = tuple[str, str]
TITLE = "Stitched wells"
#: rejected pairs can disagree by a tile's width; the histogram shows them up to this residual
RESIDUAL_AXIS_PX = 5.0


def stitched_screen(workspace: Path) -> bool:
    """Whether the workspace is a stitched screen: its experiment pairs the arms by stitching,
    or stitch units exist."""
    from starrynight.experiments.pcp_generic import PCPGenericExperiment
    from starrynight.modules.stitch.step import stitched

    path = naming.experiment_json(workspace)
    if path.is_file():
        try:
            if stitched(PCPGenericExperiment.from_json(path)):
                return True
        except (ValueError, OSError):
            pass
    return naming.outputs_dir(workspace, stitch_names.STITCH).is_dir()


def expected_wells(workspace: Path) -> list[tuple[str, str]]:
    """(plate, well) of every well of the experiment, [] when there is none yet."""
    from starrynight.experiments.pcp_generic import PCPGenericExperiment

    path = naming.experiment_json(workspace)
    try:
        experiment = PCPGenericExperiment.from_json(path) if path.is_file() else None
    except (ValueError, OSError):
        experiment = None
    return [(p, w) for p in experiment.plates for w in experiment.wells[p]] if experiment else []


def _colour(value: float, low: float, high: float) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    t = 0.5 if high <= low else (value - low) / (high - low)
    return to_hex(colormaps["viridis"](float(np.clip(t, 0, 1))))


def _points(polygon: Sequence[Sequence[float]]) -> str:
    """SVG points of (y, x) corners."""
    return " ".join(f"{x:.1f},{y:.1f}" for y, x in polygon)


def preview_svg(arm: dict, image: str) -> str:
    """One arm's preview (`image`: an <img>) under its tile boxes (cyan, missing sites listed
    apart) and crop cores (yellow, dashed), all in the arm's well pixels."""
    step = arm["preview_step"]
    h, w = (-(-n // step) * step for n in arm["well_shape"])  # the preview spans whole steps
    tiles = "".join(
        f'<rect class="tile" x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}">'
        f"<title>site {t['site']}</title></rect>"
        for t in arm["tile_boxes"]
        for y0, x0, y1, x1 in [t["box"]]
    )
    crops = "".join(
        f'<polygon class="crop" points="{_points(c)}"><title>crop {html.escape(i)}</title></polygon>'
        for c, i in zip(arm["crop_cores"], arm["crop_ids"], strict=True)
    )
    return (
        f'<div class="preview">{image}<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none">'
        f"{tiles}{crops}</svg></div>"
    )


def cells_map_svg(arm: dict, counts: dict[str, int], limits: tuple[float, float]) -> str:
    """The crop grid of the CP arm, each core coloured by its cells (same scale in every well)."""
    step = arm["preview_step"]
    h, w = (-(-n // step) * step for n in arm["well_shape"])
    cells = []
    for core, crop in zip(arm["crop_cores"], arm["crop_ids"], strict=True):
        n = counts.get(crop, 0)
        (y0, x0), (y1, x1) = core[0], core[2]
        size = min(y1 - y0, x1 - x0) / 3
        cells.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
            f'fill="{_colour(n, *limits)}"><title>crop {html.escape(crop)}: {n} cells</title></rect>'
            f'<text x="{(x0 + x1) / 2:.1f}" y="{(y0 + y1) / 2:.1f}" font-size="{size:.1f}">{n}</text>'
        )
    return f'<div class="preview cellmap"><svg viewBox="0 0 {w} {h}">{"".join(cells)}</svg></div>'


def cells_per_tile(cells: pl.DataFrame) -> pl.DataFrame:
    """plate, well, tile -> cells, from a per-cell table with a `tile` column (else empty)."""
    if cells.is_empty() or "tile" not in cells.columns:
        return pl.DataFrame(
            schema={"plate": pl.String, "well": pl.String, "tile": pl.String, "cells": pl.UInt32}
        )
    return (
        cells.group_by("plate", "well", "tile")
        .agg(pl.len().alias("cells"))
        .sort("plate", "well", "tile")
    )


def well_card(well: StitchedWell, counts: dict[str, int], limits: tuple[float, float],
              img: Callable[[bytes, str, str], str], verdict: str) -> str:  # fmt: skip
    """One well: both arms' previews with their outlines, and its cells per crop."""
    arms = well.summary["arms"]
    panels = []
    for arm in ARMS:
        info, preview = arms[arm], well.previews.get(arm)
        image = (
            img(preview.read_bytes(), "image/png", f"{well.plate} {well.well} {arm} preview")
            if preview
            else ""
        )
        missing = f", missing sites {info['missing_sites']}" if info["missing_sites"] else ""
        panels.append(
            f"<div>{preview_svg(info, image)}<p>{arm}: {info['tiles']} tiles{missing}</p></div>"
        )
    if counts:
        panels.append(
            f"<div>{cells_map_svg(arms['CP'], counts, limits)}<p>cells per crop</p></div>"
        )
    reg = well.summary["registration"]
    caption = (f"{well.plate} {well.well}: CP↔SBS {reg['median_residual_cp_px']:.2f} CP px median residual, "
               f"{reg['matched_nuclei']} nuclei matched ({verdict})")  # fmt: skip
    anchor = html.escape(f"stitch-{well.plate}-{well.well}", quote=True)
    return (f'<figure class="well" id="{anchor}"><figcaption>{html.escape(caption)}</figcaption>'
            f'<div class="stitch-row">{"".join(panels)}</div></figure>')  # fmt: skip


def _statuses(table: pl.DataFrame, params: QCParameters) -> pl.DataFrame:
    """The per-well table with each stitch figure's status."""
    return table.with_columns(
        pl.col("registration_residual_cp_px")
        .map_elements(params.registration_residual_cp_px.status, return_dtype=pl.String)
        .alias("registration status"),
        pl.col("matched_nuclei")
        .map_elements(params.registration_matched_nuclei.status, return_dtype=pl.String)
        .alias("matched nuclei status"),
    )


def stitching_section(
    workspace: Path, params: QCParameters, cells: pl.DataFrame,
    figure: Callable[..., str], img: Callable[[bytes, str, str], str], table: Callable[[pl.DataFrame], str],
) -> Section | None:  # fmt: skip
    """The section, or None for a screen whose arms image the same fields."""
    if not stitched_screen(workspace):
        return None
    wells = stitched_wells(workspace)
    expected = expected_wells(workspace)
    done = {(w.plate, w.well) for w in wells}
    absent = [f"{p} {w}" for p, w in expected if (p, w) not in done]
    note = (
        f"<p>{len(wells)} of {len(expected) or len(wells)} well(s) stitched, all shown below.</p>"
    )
    if absent:
        note += f'<p class="fail">Not stitched (the step failed or has not run): {html.escape(", ".join(absent))}</p>'
    if not wells:
        return TITLE, note + '<p class="missing">Not available: no stitched well (stitch).</p>'
    per_well = _statuses(stitch_table(wells), params)
    tiles = cells_per_tile(cells)
    limits = (0.0, float(tiles.get_column("cells").max() or 1)) if tiles.height else (0.0, 1.0)
    body = note + _registration_figure(per_well, params, figure) + table(per_well)
    body += _pairs_figure(wells, figure) + _rejected(wells, table)
    for plate in dict.fromkeys(w.plate for w in wells):
        cards = []
        for w in (w for w in wells if w.plate == plate):
            counts = dict(tiles.filter((pl.col("plate") == w.plate) & (pl.col("well") == w.well))
                          .select("tile", "cells").iter_rows())  # fmt: skip
            verdict = params.registration_residual_cp_px.status(
                w.summary["registration"]["median_residual_cp_px"]
            )
            cards.append(well_card(w, counts, limits, img, verdict))
        body += (f"<details open><summary>{html.escape(plate)}: {len(cards)} well(s)</summary>"
                 f'<div class="wells">{"".join(cards)}</div></details>')  # fmt: skip
    legend = ("<p>Previews: the nuclear channel of each stitched arm; cyan boxes are the acquired tiles "
              "where the stitch placed them, yellow dashed lines the crop cores analysis ran on (in SBS, "
              "mapped through the registration). Cells per crop share one colour scale "
              f"(0 to {limits[1]:.0f}).</p>")  # fmt: skip
    return TITLE, body + legend


def _registration_figure(
    per_well: pl.DataFrame, params: QCParameters, figure: Callable[..., str]
) -> str:
    labels = [f"{p} {w}" for p, w in per_well.select("plate", "well").iter_rows()]
    residual = params.registration_residual_cp_px
    matched = params.registration_matched_nuclei

    def draw(fig):
        ax = fig.add_subplot(1, 2, 1)
        ax.bar(labels, per_well.get_column("registration_residual_cp_px").to_list())
        ax.axhline(residual.warn, color="orange", ls="--", label=f"warn above {residual.warn:g}")
        ax.axhline(residual.fail, color="crimson", ls="--", label=f"fail above {residual.fail:g}")
        ax.set_ylabel("CP↔SBS median residual (CP px)")
        ax.legend(fontsize=7)
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.bar(labels, per_well.get_column("matched_nuclei").to_list())
        ax2.axhline(matched.warn, color="orange", ls="--", label=f"warn below {matched.warn:g}")
        ax2.axhline(matched.fail, color="crimson", ls="--", label=f"fail below {matched.fail:g}")
        ax2.set_ylabel("nuclei matched")
        ax2.legend(fontsize=7)
        for a in (ax, ax2):
            a.tick_params(axis="x", labelrotation=90 if len(labels) > 8 else 0, labelsize=7)

    return figure(draw, min(16.0, 6 + 0.25 * len(labels)), 3.0)


def _pairs_figure(wells: list[StitchedWell], figure: Callable[..., str]) -> str:
    def draw(fig):
        for k, arm in enumerate(ARMS):
            pairs = [w.pairs[arm] for w in wells if arm in w.pairs and w.pairs[arm].height]
            ax = fig.add_subplot(1, len(ARMS), k + 1)
            frame = (
                pl.concat(pairs)
                if pairs
                else pl.DataFrame(schema={"accepted": pl.Boolean, "residual_px": pl.Float64})
            )
            bins = np.linspace(0, RESIDUAL_AXIS_PX, 26)
            for accepted, colour, label in (
                (True, "steelblue", "accepted"),
                (False, "crimson", "rejected"),
            ):
                values = (
                    frame.filter(pl.col("accepted") == accepted)
                    .get_column("residual_px")
                    .to_numpy()
                )
                ax.hist(np.clip(values, 0, RESIDUAL_AXIS_PX), bins=bins, color=colour, alpha=0.7,
                        label=f"{label} ({len(values)})")  # fmt: skip
            ax.set_xlabel(f"{arm} tile-pair residual (px; clipped at {RESIDUAL_AXIS_PX:g})")
            ax.set_ylabel("tile pairs")
            ax.legend(fontsize=7)

    return figure(draw, 9.0, 2.8)


def _rejected(wells: list[StitchedWell], table: Callable[[pl.DataFrame], str]) -> str:
    rows = [
        pl.concat([w.pairs[arm].filter(~pl.col("accepted")).select(
            pl.lit(w.plate).alias("plate"), pl.lit(w.well).alias("well"), pl.lit(arm).alias("arm"),
            "site_a", "site_b", "reason", "residual_px", "score") for arm in ARMS if arm in w.pairs])
        for w in wells
    ]  # fmt: skip
    rejected = pl.concat(rows) if rows else pl.DataFrame()
    if rejected.is_empty():
        return "<p>No tile pair was rejected.</p>"
    return (f"<details><summary>rejected tile pairs ({rejected.height})</summary>"
            f"{table(rejected)}</details>")  # fmt: skip
