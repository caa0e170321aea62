"""The QC report: one self-contained HTML file that says whether a screen worked.

Sections: a header (date, versions, the experiment and step parameters, the screen config),
the headline figures against their pass / warn / fail thresholds, plate maps of the per-well
figures for every plate, illumination functions (every plate, cycle and channel), segmentation
overlays (one site of every well), per-cycle alignment of SBS to cycle 1, barcode quality
(per plate and well), library coverage (cells per guide, 90/10 skew, missing guides), foci per
cell, cells per well, the hit list with a volcano plot, and the run (status, failed jobs,
timing). Each section reads the files the steps wrote (names from the naming package) and says
plainly when they are not there yet; a report written after a failed run says what failed.
Figures are PNGs embedded as data URIs, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from starrynight import naming
from starrynight.config import write_text_atomic
from starrynight.qc import figures as fig_data
from starrynight.qc.figures import WELL_KEYS, QCParameters, read_csvs
from starrynight.qc.stitching import stitched_screen, stitching_section

Section = tuple[str, str]  # (title, html body)
THUMBNAIL_PX = 256  # overlays are downsampled to about this size, one per well


def _figure(draw: Callable, width: float = 8.0, height: float = 3.0) -> str:
    """Render a matplotlib drawing function to an embedded <img>."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), dpi=90)
    try:
        draw(fig)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return _img(buffer.getvalue(), "image/png")


def _img(data: bytes, mime: str, alt: str = "figure") -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}">'


def _missing(what: str) -> str:
    return f'<p class="missing">Not available: {html.escape(what)}.</p>'


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------ sections
def header_section(
    workspace: Path, run_summary: Path | None, screen_config: Path | None
) -> Section:
    """Date, versions, the experiment, the parameters of the steps after analysis, the screen config."""
    from starrynight import __version__

    versions = {"starrynight": __version__}
    summary = _json(run_summary) if run_summary is not None else {}
    versions.update({str(k): str(v) for k, v in (summary.get("versions") or {}).items()})
    rows = [
        ("report written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("workspace", str(workspace)),
    ]
    rows += [(f"version: {k}", v) for k, v in versions.items()]
    body = _pairs(rows)
    experiment = naming.experiment_json(workspace)
    if experiment.is_file():
        body += _details("experiment", experiment.read_text())
    profiles = _json(naming.profiles.profiles_summary(workspace)).get("parameters")
    if profiles:
        body += _details("profiles parameters", json.dumps(profiles, indent=2))
    if screen_config is not None and Path(screen_config).is_file():
        body += _details(f"screen config ({screen_config})", Path(screen_config).read_text())
    return "Screen", body


def _json(path: Path | None) -> dict:
    try:
        return json.loads(Path(path).read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}


def _pairs(rows: list[tuple[str, str]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _details(title: str, text: str) -> str:
    return (
        f"<details><summary>{html.escape(title)}</summary><pre>{html.escape(text)}</pre></details>"
    )


def headline_section(workspace: Path, params: QCParameters) -> Section:
    """The headline figures against their thresholds (the stitch figures on stitched screens only)."""
    shown = fig_data.judge(fig_data.headline(workspace), params)
    if not stitched_screen(workspace):
        shown = [row for row in shown if row[0] not in fig_data.STITCH_HEADLINE]
    rows = "".join(
        f'<tr class="{status}"><td>{name}</td><td>{"n/a" if value is None else _fmt(float(value))}</td>'
        f"<td>{html.escape(t.passes())}</td><td>{html.escape(t.fails())}</td><td>{status}</td></tr>"
        for name, value, t, status in shown
    )  # fmt: skip
    head = "<tr><th>figure</th><th>value</th><th>pass</th><th>fail</th><th>status</th></tr>"
    return "Headline figures", f'<table class="headline">{head}{rows}</table>' + _gates(
        workspace, params
    )


def _gates(workspace: Path, params: QCParameters) -> str:
    """The verdict of every QC gate the parameters set, if it ran."""
    from starrynight.qc.gate import current_verdicts

    rows = [{"gate": v["stage"], **r, "stops the run": r["status"] == "fail" and not r["overridden"]}
            for v in current_verdicts(workspace, params) for r in v["figures"]]  # fmt: skip
    return "<p>QC gates:</p>" + _table(pl.DataFrame(rows)) if rows else ""


def _well_position(well: str) -> tuple[int, int] | None:
    """(row, column) of a well named like `A1` or `B03`; None for other names."""
    found = re.fullmatch(r"([A-Za-z])(\d+)", well)
    return (ord(found.group(1).upper()) - ord("A"), int(found.group(2)) - 1) if found else None


def plate_maps_section(workspace: Path) -> Section:
    """Each per-well figure as a map of every plate (wells at their plate positions)."""
    wells = fig_data.per_well(fig_data.read_cells(workspace), fig_data.read_foci(workspace),
                              fig_data.read_alignment(workspace))  # fmt: skip
    metrics = [c for c in wells.columns if c not in WELL_KEYS]
    if wells.is_empty() or not metrics:
        return "Plate maps", _missing(
            "no per-well figures yet (analysis, sbs_preprocess, sbs_illum_apply)"
        )
    plates = wells.get_column("plate").unique(maintain_order=True).to_list()
    unplaced = sorted({w for w in wells.get_column("well").to_list() if _well_position(w) is None})
    if unplaced:
        return "Plate maps", _missing(
            f"wells not named like A1 cannot be placed: {', '.join(unplaced)}"
        ) + _table(wells)

    def draw(fig):
        for i, plate in enumerate(plates):
            for j, metric in enumerate(metrics):
                ax = fig.add_subplot(len(plates), len(metrics), i * len(metrics) + j + 1)
                values = wells.get_column(metric).drop_nulls()
                limits = (float(values.min()), float(values.max())) if values.len() else (0.0, 1.0)
                _plate_map(ax, wells.filter(pl.col("plate") == plate), metric, limits)
                ax.set_title(f"{plate}: {metric}", fontsize=8)

    return "Plate maps", _figure(draw, 2.6 * len(metrics) + 0.5, 2.2 * len(plates) + 0.4) + _table(
        wells
    )


def _plate_map(ax, wells: pl.DataFrame, metric: str, limits: tuple[float, float]) -> None:
    """One plate's wells at their positions, coloured on the same scale for every plate."""
    positions = [_well_position(w) for w in wells.get_column("well").to_list()]
    values = wells.get_column(metric).to_list()
    rows = max(r for r, _ in positions) + 1
    cols = max(c for _, c in positions) + 1
    grid = np.full((rows, cols), np.nan)
    for (r, c), value in zip(positions, values, strict=True):
        grid[r, c] = np.nan if value is None else value
        ax.text(
            c,
            r,
            "n/a" if value is None else _fmt(float(value)),
            ha="center",
            va="center",
            fontsize=7,
        )
    ax.imshow(
        grid,
        cmap="YlGn",
        vmin=limits[0],
        vmax=limits[1] if limits[1] > limits[0] else limits[0] + 1,
    )
    ax.set_xticks(range(cols), [str(c + 1) for c in range(cols)], fontsize=7)
    ax.set_yticks(range(rows), [chr(ord("A") + r) for r in range(rows)], fontsize=7)


def illumination_section(workspace: Path) -> Section:
    """Every illumination function, one figure per plate (rows: CP, then SBS cycles; columns: channels)."""
    cp_root = naming.outputs_dir(workspace, naming.cp.ILLUM_CALC_STEP)
    sbs_root = naming.outputs_dir(workspace, naming.sbs.SBS_ILLUM_CALC)
    pattern = f"*/{naming.illum_function_name('*')}"
    files = sorted(cp_root.glob(pattern)) + sorted(sbs_root.glob(pattern))
    if not files:
        return "Illumination functions", _missing(
            "no illumination functions (cp_illum_calc, sbs_illum_calc)"
        )
    by_plate: dict[str, dict[str, list[Path]]] = {}
    for path in files:
        plate, *rest = path.parent.name.split(naming.UNIT_SEPARATOR)
        row = ("CP " if path.is_relative_to(cp_root) else "SBS ") + " ".join(rest)
        by_plate.setdefault(plate, {}).setdefault(row.strip(), []).append(path)
    body = f"<p>{len(files)} functions on {len(by_plate)} plate(s), all shown. Brighter = more light.</p>"
    for plate, rows in by_plate.items():
        body += f"<h3>{html.escape(plate)}</h3>" + _illum_grid(rows)
    return "Illumination functions", body


def _illum_grid(rows: dict[str, list[Path]]) -> str:
    cols = max(len(v) for v in rows.values())

    def draw(fig):
        for i, (label, paths) in enumerate(rows.items()):
            for j, path in enumerate(paths):
                image = np.load(path)
                step = max(1, max(image.shape) // 64)  # a thumbnail: the shape, not the pixels
                ax = fig.add_subplot(len(rows), cols, i * cols + j + 1)
                ax.imshow(image[::step, ::step], cmap="magma")
                ax.set_title(f"{label} {path.stem}", fontsize=6)
                ax.axis("off")

    return _figure(draw, 1.4 * cols + 0.5, 1.4 * len(rows) + 0.3)


def _thumbnail(path: Path) -> bytes:
    import matplotlib.image as mpimg

    image = mpimg.imread(path)
    step = max(1, max(image.shape[:2]) // THUMBNAIL_PX)
    buffer = io.BytesIO()
    mpimg.imsave(buffer, image[::step, ::step], format="png")
    return buffer.getvalue()


def segmentation_section(workspace: Path) -> Section:
    """One overlay of every well (its first sampled site, downsampled) and counts per plate and well."""
    root = naming.outputs_dir(workspace, naming.cp.SEGCHECK_STEP)
    overlays = sorted(root.glob(f"*/{naming.cp.overlay_image_glob()}"))
    if not overlays:
        return "Segmentation overlays", _missing("no overlay images (cp_segcheck)")
    first: dict[str, Path] = {}
    for path in overlays:  # a unit folder is a plate's well (or a chunk of it)
        well_key = naming.UNIT_SEPARATOR.join(path.parent.name.split(naming.UNIT_SEPARATOR)[:2])
        first.setdefault(well_key, path)
    body = "".join(
        f"<figure>{_img(_thumbnail(p), 'image/png', p.name)}<figcaption>{html.escape(p.name)}</figcaption></figure>"
        for p in first.values()
    )
    note = f"<p>{len(overlays)} overlays; the first of each of {len(first)} well(s) shown.</p>"
    counts = read_csvs(sorted(root.glob(f"*/{naming.cp.measurement_table(naming.cp.IMAGE)}")))
    table = ""
    if {"Metadata_Plate", "Metadata_Well", "Count_Nuclei"} <= set(counts.columns):
        aggs = [pl.len().alias("sites"), pl.col("Count_Nuclei").mean().alias("mean nuclei")]
        if "Count_Cells" in counts.columns:
            aggs.append(pl.col("Count_Cells").mean().alias("mean cells"))
        table = _table(fig_data.keyed(counts).group_by(WELL_KEYS).agg(aggs).sort(WELL_KEYS))
    return "Segmentation overlays", f'{note}<div class="gallery">{body}</div>{table}'


def alignment_section(workspace: Path) -> Section:
    """Per cycle, the shift that registered it to cycle 1 (all channels of a cycle share it) and
    the alignment score: correlation of its aligned nuclear image with cycle 1's."""
    tables = sorted(
        naming.outputs_dir(workspace, naming.sbs.SBS_ILLUM_APPLY).glob(
            f"*/{naming.sbs.image_table_file()}"
        )
    )
    frame = read_csvs(tables)
    shift_cols = [
        c for c in frame.columns if re.fullmatch(r"Align_[XY]shift_Aligned\S*Cycle\d+_\S+", c)
    ]
    if frame.is_empty() or not shift_cols:
        return "SBS alignment to cycle 1", _missing("no alignment measurements (sbs_illum_apply)")
    long = (
        frame.select(shift_cols).with_row_index("site_row").unpivot(index="site_row")
        .with_columns(
            pl.col("variable").str.extract(r"Align_([XY])shift").alias("axis"),
            pl.col("variable").str.extract(r"Cycle(\d+)").cast(pl.Int64).alias("cycle"),
            pl.col("value").cast(pl.Float64).abs(),
        )
        .unique(["site_row", "axis", "cycle"], maintain_order=True)  # one channel per cycle
    )  # fmt: skip
    summary = (
        long.group_by("cycle").agg(
            pl.col("value").filter(pl.col("axis") == "X").mean().alias("mean |dx| px"),
            pl.col("value").filter(pl.col("axis") == "Y").mean().alias("mean |dy| px"),
            pl.col("value").max().alias("max |shift| px"),
        ).sort("cycle")
    )  # fmt: skip
    # Correlation_Correlation_<cycle-1 aligned nuclei>_<cycle-k aligned nuclei>: the last CycleNN is k
    score_cols = {
        c: int(re.findall(r"Cycle(\d+)", c)[-1])
        for c in frame.columns
        if c.startswith("Correlation_Correlation_Aligned")
    }
    if score_cols:
        scores = pl.concat([
            frame.select(pl.col(c).cast(pl.Float64).alias("score")).with_columns(pl.lit(k).alias("cycle"))
            for c, k in score_cols.items()
        ]).group_by("cycle").agg(pl.col("score").mean().alias("mean score"), pl.col("score").min().alias("min score"))  # fmt: skip
        summary = summary.join(scores, on="cycle", how="left")

    def draw(fig):
        cycles = summary["cycle"].to_numpy()
        ax = fig.add_subplot(1, 2 if score_cols else 1, 1)
        ax.bar(cycles - 0.2, summary["mean |dx| px"].to_numpy(), width=0.4, label="|dx|")
        ax.bar(cycles + 0.2, summary["mean |dy| px"].to_numpy(), width=0.4, label="|dy|")
        ax.set_xlabel("cycle (aligned to cycle 1)")
        ax.set_ylabel("mean shift (px)")
        ax.set_xticks(cycles)
        ax.legend(fontsize=8)
        if score_cols:
            ax = fig.add_subplot(1, 2, 2)
            ax.plot(cycles, summary["mean score"].to_numpy(), "o-", label="mean")
            ax.plot(cycles, summary["min score"].to_numpy(), "v--", label="worst site")
            ax.set_xlabel("cycle")
            ax.set_ylabel("correlation with cycle 1")
            ax.set_xticks(cycles)
            ax.set_ylim(min(0.5, float(np.nanmin(summary["min score"].to_numpy()))), 1.0)
            ax.legend(fontsize=8)

    return "SBS alignment to cycle 1", _figure(draw, 9 if score_cols else 6, 3) + _table(summary)


def barcode_section(workspace: Path) -> Section:
    sbs = naming.sbs
    foci = fig_data.read_foci(workspace)
    if foci.is_empty() or sbs.FOCI_CALLED not in foci.columns:
        return "Barcode quality", _missing("no called foci (sbs_preprocess)")
    called = foci.get_column(sbs.FOCI_CALLED).cast(pl.String).drop_nulls()
    length = int(called.str.len_chars().max() or 0)
    bases = "ACGT"
    freq = np.array(
        [[called.str.slice(k, 1).eq(b).mean() or 0.0 for b in bases] for k in range(length)]
    )
    score = (
        foci.get_column(sbs.FOCI_SCORE).cast(pl.Float64).drop_nulls()
        if sbs.FOCI_SCORE in foci.columns
        else pl.Series([], dtype=pl.Float64)
    )

    def draw(fig):
        ax = fig.add_subplot(1, 2, 1)
        bottom = np.zeros(length)
        for j, base in enumerate(bases):
            ax.bar(np.arange(1, length + 1), freq[:, j], bottom=bottom, label=base)
            bottom += freq[:, j]
        ax.set_xlabel("cycle")
        ax.set_xticks(np.arange(1, length + 1))
        ax.set_ylabel("base frequency")
        ax.legend(fontsize=7, ncol=4)
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.hist(score.to_numpy(), bins=20, range=(0, 1))
        ax2.set_xlabel("library match score")
        ax2.set_ylabel("foci")

    per_well = pl.DataFrame()
    if {"Metadata_Plate", "Metadata_Well", sbs.FOCI_SCORE} <= set(foci.columns):
        per_well = (
            fig_data.keyed(foci)
            .group_by(WELL_KEYS)
            .agg(
                pl.len().alias("foci"),
                (pl.col(sbs.FOCI_SCORE).cast(pl.Float64) >= 1.0)
                .mean()
                .alias("perfect match share"),
            )
            .sort(WELL_KEYS)
        )
    return "Barcode quality", _figure(draw, 10, 3.2) + (_table(per_well) if per_well.height else "")


def cells_section(workspace: Path) -> Section:
    table = naming.analysis.cell_table(workspace)
    if not table.exists():
        return "Cells per well", _missing("no per-cell table (analysis)")
    cells = pl.read_parquet(table)
    gene = "gene" if "gene" in cells.columns else None
    aggs = [pl.len().alias("cells")]
    if gene:
        aggs.append(pl.col(gene).is_not_null().mean().alias("share with a gene"))
    per_well = cells.group_by(["plate", "well"]).agg(aggs).sort(["plate", "well"])

    def draw(fig):
        ax = fig.add_subplot(1, 1, 1)
        labels = [f"{p} {w}" for p, w in per_well.select("plate", "well").iter_rows()]
        ax.bar(labels, per_well["cells"].to_list())
        ax.set_ylabel("cells")

    return "Cells per well", _figure(draw, 8, 3) + _table(per_well)


def library_section(workspace: Path, barcode_csv: Path | None = None) -> Section:
    """Cells per guide over the whole library: distribution, 90/10 skew ratio, missing guides."""
    cells, library = fig_data.read_cells(workspace), fig_data.library_guides(workspace, barcode_csv)
    if cells.is_empty() or "matched_barcode" not in cells.columns:
        return "Library coverage", _missing("no per-cell table with matched barcodes (analysis)")
    if not library:
        return "Library coverage", _missing("no barcode library (experiment barcode_csv_path)")
    guides = fig_data.cells_per_guide(cells, library)
    in_library = guides.filter(pl.col("guide").is_in(library))
    counts = in_library.get_column("cells")
    missing = in_library.filter(pl.col("cells") == 0).get_column("guide").to_list()
    skew = fig_data.skew_ratio(counts)
    outside = guides.height - in_library.height

    def draw(fig):
        ax = fig.add_subplot(1, 1, 1)
        ax.hist(counts.to_numpy(), bins=min(40, max(5, counts.n_unique())))
        ax.set_xlabel("cells per guide")
        ax.set_ylabel("guides")

    facts = [("library guides", str(len(in_library))), ("guides with no cell", str(len(missing))),
             ("median cells per guide", _fmt(float(counts.median() or 0))),
             ("90/10 skew ratio", "unbounded (10th percentile is 0)" if skew is None else _fmt(skew))]  # fmt: skip
    if outside:
        facts.append(("matched guides not in the library", str(outside)))
    listing = (_details(f"missing guides ({len(missing)})", "\n".join(missing)) if missing
               else "<p>Every library guide was seen.</p>")  # fmt: skip
    return "Library coverage", _pairs(facts) + _figure(draw, 6, 2.6) + listing


def foci_section(workspace: Path) -> Section:
    cells = fig_data.read_cells(workspace)
    if cells.is_empty() or "n_foci" not in cells.columns:
        return "Foci per cell", _missing("no per-cell table with foci counts (analysis)")
    foci = cells.get_column("n_foci").cast(pl.Int64).fill_null(0)

    def draw(fig):
        ax = fig.add_subplot(1, 1, 1)
        top = int(foci.max() or 0)
        ax.hist(foci.to_numpy(), bins=np.arange(-0.5, top + 1.5, 1))
        ax.set_xlabel("foci in the cell")
        ax.set_ylabel("cells")

    per_well = cells.group_by(WELL_KEYS).agg(
        pl.col("n_foci").mean().alias("mean foci per cell"), (pl.col("n_foci") == 0).mean().alias("share without foci"),
    ).sort(WELL_KEYS)  # fmt: skip
    return "Foci per cell", _figure(draw, 6, 2.6) + _table(per_well)


def hits_section(workspace: Path) -> Section:
    """The ranked hit table and a volcano-style plot (activity vs significance)."""
    path = naming.profiles.hits_table(workspace)
    if not path.is_file():
        return "Hits", _missing("no hit table (profiles, hits)")
    hits = pl.read_parquet(path)
    if hits.is_empty():
        return "Hits", _missing("the hit table is empty")
    floor = 1.0 / (10 * max(1, hits.height))
    scored = hits.drop_nulls("corrected_p_value")  # a gene with one profile has no statistics

    def draw(fig):
        ax = fig.add_subplot(1, 1, 1)
        y = -np.log10(np.clip(scored.get_column("corrected_p_value").to_numpy(), floor, 1))
        x = scored.get_column("mean_average_precision").to_numpy()
        is_hit = scored.get_column("hit").to_numpy()
        ax.scatter(x[~is_hit], y[~is_hit], c="grey", s=14, label="not a hit")
        ax.scatter(x[is_hit], y[is_hit], c="crimson", s=18, label="hit")
        for gene, xi, yi, h in zip(
            scored.get_column("Metadata_Gene").to_list(), x, y, is_hit, strict=True
        ):
            if h:
                ax.annotate(gene, (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel("mean average precision vs controls")
        ax.set_ylabel("-log10 corrected p")
        ax.legend(fontsize=7)

    n_hits = int(hits.get_column("hit").sum())
    note = f"<p>{n_hits} of {hits.height} genes are hits.</p>"
    return "Hits", note + _figure(draw, 6, 3.4) + _table(hits)


def run_section(run_summary: Path | None, failure: str | None = None) -> Section:
    """The run's status, its failed jobs with their logs, and timing per rule."""
    if run_summary is None or not run_summary.exists():
        body = _missing("no run summary")
        return "Run", (f'<pre class="fail">{html.escape(failure)}</pre>' if failure else "") + body
    summary = json.loads(run_summary.read_text())
    jobs = pl.DataFrame(summary.get("jobs", []))
    status = str(summary.get("status", "unknown"))
    body = f'<p class="{"fail" if failure or status == "failed" else "pass"}">Run status: {html.escape(status)}</p>'
    if failure:
        body += f'<pre class="fail">{html.escape(failure)}</pre>'
    if jobs.is_empty():
        return "Run", body + _missing("the run summary lists no jobs")
    if "status" in jobs.columns:
        failed = jobs.filter(pl.col("status") == "failed")
        if failed.height:
            body += "<p>Failed jobs:</p>" + _table(
                failed.select([c for c in ("rule", "unit", "log") if c in failed.columns])
            )
    cols = jobs.columns
    aggs = [pl.len().alias("jobs")]
    if "wall_s" in cols:
        aggs += [
            pl.col("wall_s").sum().alias("total wall s"),
            pl.col("wall_s").max().alias("max wall s"),
        ]
    if "max_rss_mb" in cols:
        aggs.append(pl.col("max_rss_mb").max().alias("peak MB"))
    per_rule = jobs.group_by("rule").agg(aggs).sort("rule")
    return "Run", body + _table(per_rule)


def failure_from_log(workspace: Path, snakemake_log: Path, params: QCParameters) -> str:
    """What failed, for a report written by the failure handler of a run (the run summary is
    not written yet): the gates that stopped it, then each failed job and its log."""
    from pipecraft.backend import error_line
    from pipecraft.failure import failed_jobs_in_log
    from starrynight.qc.gate import stop_message, stopped_gates

    run_dir = Path(snakemake_log).parents[2]  # <run folder>/.snakemake/log/<file>
    try:
        jobs = failed_jobs_in_log(Path(snakemake_log).read_text(errors="replace"))
    except OSError:
        jobs = []
    lines = [stop_message(v) for v in stopped_gates(workspace, params)]
    lines.append(
        f"pipecraft run in {run_dir} failed: {len(jobs)} failed job(s); Snakemake log: {snakemake_log}"
    )
    for rule, unit, log in jobs:
        said = error_line(run_dir / log) if log else None
        lines.append(f"  rule {rule}" + (f", unit {unit}" if unit else "") + (f": {said}" if said else "")
                     + (f" (log: {run_dir / log})" if log else ""))  # fmt: skip
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
img.figure{max-width:100%} .missing{color:#a60}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em} td,th{border:1px solid #ccc;padding:.2em .5em}
.gallery{display:flex;flex-wrap:wrap;gap:8px} .gallery figure{margin:0;width:32%}
.gallery img{width:100%} figcaption{font-size:.75em;color:#555}
tr.pass td:last-child,.pass{color:#060} tr.warn td:last-child{color:#a60} tr.fail td:last-child,.fail{color:#b00}
details pre{font-size:.8em;background:#f6f6f6;padding:.5em;overflow-x:auto}
.wells{display:flex;flex-wrap:wrap;gap:14px} figure.well{margin:0} .stitch-row{display:flex;gap:6px}
.stitch-row>div{width:170px} .stitch-row p{font-size:.75em;margin:.2em 0}
.preview{position:relative;background:#000} .preview img{display:block;width:100%}
.preview svg{position:absolute;left:0;top:0;width:100%;height:100%} .cellmap svg{position:static;display:block}
rect.tile{fill:none;stroke:#0ff;stroke-width:1;vector-effect:non-scaling-stroke}
polygon.crop{fill:none;stroke:#ff0;stroke-width:1;stroke-dasharray:4 3;vector-effect:non-scaling-stroke}
.cellmap text{fill:#fff;text-anchor:middle;dominant-baseline:middle}
"""

# Marks the page once every image has decoded, so a headless browser can check them.
CHECK_IMAGES = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-broken-images', String(broken.length));
});
"""


def build_report(
    workspace: Path,
    run_summary: Path | None = None,
    out: Path | None = None,
    params: QCParameters | None = None,
    screen_config: Path | None = None,
    failure: str | None = None,
    barcode_csv: Path | None = None,
) -> Path:
    """Write the report (default `naming.qc_report(workspace)`) and return its path. `failure`
    is what went wrong when the run failed (the report then leads with it)."""
    workspace = Path(workspace)
    params = params or QCParameters()
    sections = [
        header_section(workspace, run_summary, screen_config),
        headline_section(workspace, params),
        plate_maps_section(workspace),
        illumination_section(workspace),
        segmentation_section(workspace),
        alignment_section(workspace),
        stitching_section(workspace, params, fig_data.read_cells(workspace), _figure, _img, _table),
        barcode_section(workspace),
        library_section(workspace, barcode_csv),
        foci_section(workspace),
        cells_section(workspace),
        hits_section(workspace),
        run_section(run_summary, failure),
    ]
    sections = [s for s in sections if s is not None]  # a section that does not apply to the screen
    if failure:
        sections.insert(0, ("Run failed", f'<pre class="fail">{html.escape(failure)}</pre>'))
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{b}</section>" for t, b in sections)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>StarryNight QC report</title>"
        f"<style>{STYLE}</style><script>{CHECK_IMAGES}</script></head><body>"
        f"<h1>StarryNight QC report</h1><p>Workspace: <code>{html.escape(str(workspace))}</code></p>"
        f"{body}</body></html>"
    )
    target = Path(out) if out is not None else naming.qc_report(workspace)
    write_text_atomic(target, page)
    return target
