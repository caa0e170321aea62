"""LoadData CSV building blocks shared by every CellProfiler step.

CellProfiler reads its images through a LoadData CSV: one row per image set, `Metadata_*`
columns, then `FileName_<Image>`, `PathName_<Image>` and `Frame_<Image>` per image (SPEC 4.5).
Everything here is vectorised over the index (polars), so generating LoadData stays linear
in the number of images.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from starrynight import naming
from starrynight.config import write_text_atomic

Granularity = Literal["plate", "well", "site"]
METADATA_KEYS = ("Batch", "Plate", "Well", "Site", "Cycle")
_INDEX_FIELD = {
    "Batch": "batch",
    "Plate": "plate",
    "Well": "well",
    "Site": "site",
    "Cycle": "cycle",
}


class LoadDataError(ValueError):
    """The index cannot give a complete image set (a channel, site or cycle is missing)."""


def image_name(channel: str, prefix: str = "Orig", suffix: str = "") -> str:
    """A CellProfiler image name for a channel: letters, digits and `_` only."""
    cleaned = re.sub(r"\W+", "_", channel).strip("_") or "channel"
    return f"{prefix}{cleaned}{suffix}"


def channel_rows(
    index: pl.DataFrame, arm: str, cycles: Sequence[int] | None = None
) -> pl.DataFrame:
    """One row per (image file, channel) of an arm, with the channel's plane (`frame`)."""
    images = index.filter(pl.col("is_image") & (pl.col("arm") == arm))
    if cycles is not None:
        images = images.filter(pl.col("cycle").is_in(list(cycles)))
    return (
        images.select(
            "batch", "plate", "well", "site", "cycle", "key", "channels",
            pl.int_ranges(pl.col("channels").list.len()).alias("frame"),
        )
        .explode(["channels", "frame"])
        .rename({"channels": "channel"})
    )  # fmt: skip


def unit_ids(
    plate: pl.Expr, well: pl.Expr, site_rank: pl.Expr, granularity: Granularity, sites_per_unit: int
) -> pl.Expr:
    """The unit-of-work id of each row (same rule as `plan_unit_ids`, vectorised)."""
    sep = naming.UNIT_SEPARATOR
    if granularity == "plate":
        return plate
    if granularity == "well" and sites_per_unit <= 0:
        return pl.concat_str([plate, well], separator=sep)
    size = 1 if granularity == "site" else sites_per_unit
    chunk = (site_rank // size).cast(pl.String).str.zfill(4)
    return pl.concat_str([plate, well, chunk], separator=sep)


def plan_unit_ids(
    sites: dict[tuple[str, str], int], granularity: Granularity, sites_per_unit: int
) -> list[str]:
    """Unit ids known before any LoadData is written, from the sites per (plate, well)."""
    if granularity == "plate":
        return sorted({plate for plate, _ in sites})
    if granularity == "well" and sites_per_unit <= 0:
        return [naming.unit_id(plate, well) for plate, well in sorted(sites)]
    size = 1 if granularity == "site" else sites_per_unit
    return [
        naming.unit_id(plate, well, f"{chunk:04d}")
        for (plate, well), count in sorted(sites.items())
        for chunk in range(math.ceil(count / size))
    ]


def with_site_rank(rows: pl.DataFrame) -> pl.DataFrame:
    """Rank of each site within its well (0-based), so chunks hold consecutive sites."""
    return rows.with_columns(
        (pl.col("site").rank("dense").over(["plate", "well"]) - 1).cast(pl.Int64).alias("site_rank")
    )


def wide_image_sets(
    rows: pl.DataFrame,
    images_root: Path,
    names: dict[str, str],
    metadata: Sequence[str],
    set_keys: Sequence[str],
) -> pl.DataFrame:
    """Pivot (file, channel) rows into one row per image set.

    `names` maps each wanted channel to its CellProfiler image name; `set_keys` are the
    index columns identifying an image set (e.g. plate, well, site or plate, well, site,
    cycle); `metadata` the `Metadata_*` keys to write. A set lacking a channel is an error
    naming it.
    """
    missing = sorted(set(names) - set(rows.get_column("channel").unique().to_list()))
    if missing:
        raise LoadDataError(f"channel(s) {missing} not found in the index")
    root = str(images_root).rstrip("/")
    long = rows.filter(pl.col("channel").is_in(list(names))).select(
        *set_keys,
        pl.col("channel").replace_strict(names).alias("image"),
        pl.col("key").str.extract(r"([^/]+)$").alias("FileName"),
        pl.concat_str([pl.lit(root), pl.col("key").str.extract(r"^(.*)/[^/]+$").fill_null("")],
                      separator="/").str.strip_suffix("/").alias("PathName"),
        pl.col("frame").cast(pl.Int64).alias("Frame"),
    )  # fmt: skip
    duplicated = long.filter(pl.struct([*set_keys, "image"]).is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        raise LoadDataError(f"two files give image {first['image']} for {first}")
    wide = long.pivot(on="image", index=list(set_keys), values=["FileName", "PathName", "Frame"])
    image_names = list(names.values())
    columns = [
        f"{kind}_{name}" for name in image_names for kind in ("FileName", "PathName", "Frame")
    ]
    for column in columns:
        if column not in wide.columns:
            wide = wide.with_columns(pl.lit(None).alias(column))
    incomplete = wide.filter(pl.any_horizontal(pl.col(columns).is_null()))
    if incomplete.height:
        row = incomplete.row(0, named=True)
        lacking = [
            c.split("_", 1)[1] for c in columns if c.startswith("FileName_") and row[c] is None
        ]
        where = ", ".join(f"{k}={row[k]}" for k in set_keys)
        raise LoadDataError(
            f"{incomplete.height} image set(s) incomplete; first: {where} lacks {lacking}"
        )
    meta = [pl.col(_INDEX_FIELD[key]).alias(f"Metadata_{key}") for key in metadata]
    return wide.sort(list(set_keys)).select(*meta, *columns, *[c for c in set_keys if c == "unit"])


def write_unit_csvs(
    frame: pl.DataFrame, out_dir: Path, expected_units: Iterable[str]
) -> list[Path]:
    """Write one CSV per unit (column `unit`, dropped from the CSV), atomically.

    Every expected unit must have rows and every row must belong to an expected unit, so the
    files written are exactly the ones the plan promised.
    """
    expected = list(expected_units)
    found = set(frame.get_column("unit").unique().to_list())
    if found - set(expected):
        raise LoadDataError(
            f"index has units the experiment does not: {sorted(found - set(expected))[:5]}"
        )
    if set(expected) - found:
        raise LoadDataError(f"no images for unit(s) {sorted(set(expected) - found)[:5]}")
    parts = frame.partition_by("unit", as_dict=True, maintain_order=True)
    written = []
    for unit in expected:
        part = parts[(unit,)].drop("unit")
        path = naming.unit_csv(out_dir, unit)
        write_text_atomic(path, part.write_csv())
        written.append(path)
    return written


def write_unit_sources(csvs: Iterable[Path], index: pl.DataFrame, images_root: Path) -> list[Path]:
    """Beside each LoadData CSV, the raw images it names (index `key`) with their `size` and
    `mtime`, sorted by key and written atomically; files of earlier steps are left out (those
    steps' outputs are inputs of the unit already). Rewritten with the same bytes when
    nothing changed, so only the units whose images changed re-run."""
    from starrynight.config import write_parquet_atomic

    root = str(images_root).rstrip("/") + "/"
    stats = index.select("key", "size", "mtime")
    written = []
    for csv in csvs:
        frame = pl.read_csv(csv, infer_schema_length=0)
        names = [c.removeprefix("FileName_") for c in frame.columns if c.startswith("FileName_")]
        paths = pl.concat(
            [frame.select(pl.concat_str([f"PathName_{n}", f"FileName_{n}"], separator="/").alias("p"))
             for n in names]
        ).unique()  # fmt: skip
        keys = paths.filter(pl.col("p").str.starts_with(root)).select(
            pl.col("p").str.slice(len(root)).alias("key")
        )
        sources = keys.join(stats, on="key", how="left").sort("key")
        path = naming.unit_sources(Path(csv).parent, naming.csv_unit(csv))
        write_parquet_atomic(sources, path)
        written.append(path)
    return written


def step_workspace(out_dir: Path, step: str) -> Path:
    """The workspace whose `step` LoadData folder is `out_dir`.

    LoadData writers receive only their output folder; steps whose rows point at files of an
    earlier step (in the same workspace) recover the workspace from it.
    """
    out_dir = Path(out_dir).absolute()
    workspace = out_dir.parent.parent
    if naming.loaddata_dir(workspace, step) != out_dir:
        raise LoadDataError(
            f"{step}: LoadData folder {out_dir} is not the step's workspace folder "
            f"(<workspace>/{naming.loaddata_dir(Path(), step)}); its rows name files of earlier "
            "steps in that workspace"
        )
    return workspace


def file_columns(image: str, file_name: pl.Expr, path_name: pl.Expr) -> list[pl.Expr]:
    """FileName_/PathName_/Frame_ columns of a single-plane file (e.g. one an earlier step wrote)."""
    return [
        file_name.alias(f"FileName_{image}"),
        path_name.alias(f"PathName_{image}"),
        pl.lit(0, dtype=pl.Int64).alias(f"Frame_{image}"),
    ]
