"""The QC report: one self-contained HTML file with the pictures a screen is judged by.

Sections: illumination functions per channel (CP per plate, SBS per plate and cycle),
segmentation overlays of sampled sites, per-cycle alignment of SBS to cycle 1, barcode
quality (base frequency per cycle, match-score histogram, share of perfect matches per
well), cells per well, and run timing. Each section reads the files the steps wrote (names
from the naming package) and says plainly when they are not there yet. Figures are PNGs
embedded as data URIs, so the file can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from starrynight import naming
from starrynight.config import write_text_atomic

Section = tuple[str, str]  # (title, html body)


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


def _read_csvs(paths: list[Path]) -> pl.DataFrame:
    frames = [pl.read_csv(p, infer_schema_length=10000) for p in paths if p.stat().st_size > 0]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


# ------------------------------------------------------------------ sections
def illumination_section(workspace: Path) -> Section:
    files = sorted(naming.outputs_dir(workspace, naming.cp.ILLUM_CALC_STEP).glob(f"*/{naming.illum_function_name('*')}"))
    files += sorted(naming.outputs_dir(workspace, naming.sbs.SBS_ILLUM_CALC).glob(f"*/{naming.illum_function_name('*')}"))
    if not files:
        return "Illumination functions", _missing("no illumination functions (cp_illum_calc, sbs_illum_calc)")
    shown = files[:24]

    def draw(fig):
        cols = min(6, len(shown))
        rows = -(-len(shown) // cols)
        for i, path in enumerate(shown):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.imshow(np.load(path), cmap="magma")
            ax.set_title(f"{path.parent.name}\n{path.stem}", fontsize=7)
            ax.axis("off")

    rows = -(-len(shown) // 6)
    note = f"<p>{len(files)} functions; first {len(shown)} shown. Brighter = more light.</p>"
    return "Illumination functions", note + _figure(draw, 10, 2.0 * rows)


def segmentation_section(workspace: Path, max_images: int = 6) -> Section:
    overlays = sorted(naming.outputs_dir(workspace, naming.cp.SEGCHECK_STEP).glob(f"*/{naming.cp.overlay_image_glob()}"))
    if not overlays:
        return "Segmentation overlays", _missing("no overlay images (cp_segcheck)")
    body = "".join(
        f'<figure>{_img(p.read_bytes(), "image/png", p.name)}<figcaption>{html.escape(p.name)}</figcaption></figure>'
        for p in overlays[:max_images]
    )
    counts = _read_csvs(sorted(naming.outputs_dir(workspace, naming.cp.SEGCHECK_STEP).glob(f"*/{naming.cp.measurement_table(naming.cp.IMAGE)}")))
    wanted = [c for c in ("Metadata_Well", "Metadata_Site", "Count_Nuclei", "Count_Cells") if c in counts.columns]
    table = _table(counts.select(wanted)) if wanted else ""
    return "Segmentation overlays", f'<div class="gallery">{body}</div>{table}'


def alignment_section(workspace: Path) -> Section:
    """Per cycle, the shift that registered it to cycle 1 (all channels of a cycle share it) and
    the alignment score: correlation of its aligned nuclear image with cycle 1's."""
    tables = sorted(naming.outputs_dir(workspace, naming.sbs.SBS_ILLUM_APPLY).glob(f"*/{naming.sbs.image_table_file()}"))
    frame = _read_csvs(tables)
    shift_cols = [c for c in frame.columns if re.fullmatch(r"Align_[XY]shift_Aligned\S*Cycle\d+_\S+", c)]
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
    score_cols = {c: int(re.findall(r"Cycle(\d+)", c)[-1])
                  for c in frame.columns if c.startswith("Correlation_Correlation_Aligned")}
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
    foci = _read_csvs(sorted(naming.outputs_dir(workspace, sbs.SBS_PREPROCESS).glob(f"*/{sbs.foci_table_file()}")))
    if foci.is_empty() or sbs.FOCI_CALLED not in foci.columns:
        return "Barcode quality", _missing("no called foci (sbs_preprocess)")
    called = foci.get_column(sbs.FOCI_CALLED).cast(pl.String).drop_nulls()
    length = int(called.str.len_chars().max() or 0)
    bases = "ACGT"
    freq = np.array([[called.str.slice(k, 1).eq(b).mean() or 0.0 for b in bases] for k in range(length)])
    score = foci.get_column(sbs.FOCI_SCORE).cast(pl.Float64).drop_nulls() if sbs.FOCI_SCORE in foci.columns else pl.Series([], dtype=pl.Float64)

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
    if "Metadata_Well" in foci.columns and sbs.FOCI_SCORE in foci.columns:
        per_well = foci.group_by("Metadata_Well").agg(
            pl.len().alias("foci"),
            (pl.col(sbs.FOCI_SCORE).cast(pl.Float64) >= 1.0).mean().alias("perfect match share"),
        ).sort("Metadata_Well")
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


def timing_section(run_summary: Path | None) -> Section:
    if run_summary is None or not run_summary.exists():
        return "Run timing", _missing("no run summary")
    jobs = pl.DataFrame(json.loads(run_summary.read_text()).get("jobs", []))
    if jobs.is_empty():
        return "Run timing", _missing("the run summary lists no jobs")
    cols = jobs.columns
    aggs = [pl.len().alias("jobs")]
    if "wall_s" in cols:
        aggs += [pl.col("wall_s").sum().alias("total wall s"), pl.col("wall_s").max().alias("max wall s")]
    if "max_rss_mb" in cols:
        aggs.append(pl.col("max_rss_mb").max().alias("peak MB"))
    per_rule = jobs.group_by("rule").agg(aggs).sort("rule")
    return "Run timing", _table(per_rule)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
img.figure{max-width:100%} .missing{color:#a60}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em} td,th{border:1px solid #ccc;padding:.2em .5em}
.gallery{display:flex;flex-wrap:wrap;gap:8px} .gallery figure{margin:0;width:32%}
.gallery img{width:100%} figcaption{font-size:.75em;color:#555}
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


def build_report(workspace: Path, run_summary: Path | None = None, out: Path | None = None) -> Path:
    """Write the report (default `naming.qc_report(workspace)`) and return its path."""
    workspace = Path(workspace)
    sections = [
        illumination_section(workspace),
        segmentation_section(workspace),
        alignment_section(workspace),
        barcode_section(workspace),
        cells_section(workspace),
        timing_section(run_summary),
    ]
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
