"""LoadData CSV building blocks shared by every CellProfiler step.

CellProfiler reads its images through a LoadData CSV: one row per image set, `Metadata_*`
columns, then `FileName_<Image>`, `PathName_<Image>` and `Frame_<Image>` per image (SPEC 4.5).
Everything here is vectorised over the index (polars), so generating LoadData stays linear
in the number of images.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from starrynight import naming
from starrynight.config import write_text_atomic
from starrynight.modules.base import UnitOfWork

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
    """The unit-of-work id of each row: THE chunking rule (a plate; a well; or chunks of
    `sites_per_unit` consecutive site ranks of a well, numbered `0000`, `0001`, ...)."""
    sep = naming.UNIT_SEPARATOR
    if granularity == "plate":
        return plate
    if granularity == "well" and sites_per_unit <= 0:
        return pl.concat_str([plate, well], separator=sep)
    size = 1 if granularity == "site" else sites_per_unit
    chunk = (site_rank // size).cast(pl.String).str.zfill(4)
    return pl.concat_str([plate, well, chunk], separator=sep)


def site_ranks(sites: dict[tuple[str, str], int]) -> pl.DataFrame:
    """plate, well and site_rank (0-based) of every site, from the site count per (plate, well)."""
    counts = pl.DataFrame(
        [{"plate": p, "well": w, "n": n} for (p, w), n in sorted(sites.items())],
        schema={"plate": pl.String, "well": pl.String, "n": pl.Int64},
    )
    ranks = counts.select("plate", "well", pl.int_ranges(pl.col("n")).alias("site_rank"))
    return ranks.explode("site_rank").with_columns(pl.col("site_rank").cast(pl.Int64)).drop_nulls()


def with_units(ranks: pl.DataFrame, granularity: Granularity, sites_per_unit: int) -> pl.DataFrame:
    """Rows with plate, well and site_rank, plus their `unit` (`unit_ids`)."""
    columns = (pl.col("plate"), pl.col("well"), pl.col("site_rank"))
    return ranks.with_columns(unit=unit_ids(*columns, granularity, sites_per_unit))


def planned_units(planned: pl.DataFrame) -> list[UnitOfWork]:
    """One unit of work per distinct `unit` of a `with_units` table, keyed by its plate and well."""
    first = planned.unique("unit", maintain_order=True)
    return [
        UnitOfWork(id=row["unit"], keys={"plate": row["plate"], "well": row["well"]})
        for row in first.iter_rows(named=True)
    ]


def plan_unit_ids(
    sites: dict[tuple[str, str], int], granularity: Granularity, sites_per_unit: int
) -> list[str]:
    """Unit ids known before any LoadData is written, from the sites per (plate, well)."""
    planned = with_units(site_ranks(sites), granularity, sites_per_unit)
    return planned.get_column("unit").unique(maintain_order=True).to_list()


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


def write_unit_sources(
    csvs: Iterable[Path], index: pl.DataFrame, images_root: Path, upstream: pl.DataFrame
) -> list[Path]:
    """Beside each LoadData CSV, every file it names: raw images (index `key`, with their
    `size` and `mtime`) and files earlier steps published (their absolute path as `key`, the
    `size` and `producer` their manifest records). Sorted and written atomically, and the same
    bytes when nothing changed, so a unit re-runs exactly when something it reads changed.
    A file that is neither in the index nor in an upstream manifest is an error naming it."""
    from starrynight.config import write_parquet_atomic

    root = str(images_root).rstrip("/") + "/"
    raw_stats = index.select("key", pl.col("size").cast(pl.Int64), pl.col("mtime").cast(pl.Int64))
    published = upstream.select(
        key=pl.col("path"), size=pl.col("bytes"), mtime=pl.lit(None, dtype=pl.Int64), producer="producer",
        known=pl.lit(True),
    )
    written = []
    for csv in csvs:
        frame = pl.read_csv(csv, infer_schema_length=0)
        names = [c.removeprefix("FileName_") for c in frame.columns if c.startswith("FileName_")]
        paths = pl.concat(
            [frame.select(pl.concat_str([f"PathName_{n}", f"FileName_{n}"], separator="/").alias("p"))
             for n in names]
        ).unique()  # fmt: skip
        is_raw = pl.col("p").str.starts_with(root)
        raw = (
            paths.filter(is_raw)
            .select(key=pl.col("p").str.slice(len(root)))
            .join(raw_stats, on="key", how="left")
            .with_columns(producer=pl.lit(None, dtype=pl.String))
        )
        earlier = paths.filter(~is_raw).select(key="p").join(published, on="key", how="left")
        unknown = earlier.filter(pl.col("known").is_null())
        if unknown.height:
            raise LoadDataError(
                f"{csv}: names {unknown.height} file(s) neither in the index nor published by an earlier "
                f"step, first: {unknown.get_column('key')[0]}"
            )
        sources = pl.concat([raw, earlier.select(raw.columns)], how="vertical_relaxed").sort("key")
        path = naming.unit_sources(Path(csv).parent, naming.csv_unit(csv))
        write_parquet_atomic(sources, path)
        written.append(path)
    return written


def with_published(
    sets: pl.DataFrame, published: pl.DataFrame, on: Sequence[str], image: str
) -> pl.DataFrame:
    """`sets` with the FileName_/PathName_/Frame_ columns of `image`: per row, the one published
    file (rows of one step, kind and name of the upstream manifests) whose keys `on` match. A
    row without one, or with several, is an error naming its keys."""
    keys = published.select(*on, pl.col("path").alias("_published"))
    if keys.select(on).is_duplicated().any():
        raise LoadDataError(f"{image}: the upstream manifests list several files for one {'/'.join(on)}")
    joined = sets.join(keys, on=list(on), how="left", coalesce=True)
    lacking = joined.filter(pl.col("_published").is_null())
    if lacking.height:
        row = lacking.row(0, named=True)
        where = ", ".join(f"{k}={row[k]}" for k in on)
        raise LoadDataError(
            f"{image}: {lacking.height} image set(s) have no file published by the earlier step; first: {where}"
        )
    return joined.with_columns(
        file_columns(
            image,
            pl.col("_published").str.extract(r"([^/]+)$"),
            pl.col("_published").str.extract(r"^(.*)/[^/]+$"),
        )
    ).drop("_published")


def file_columns(image: str, file_name: pl.Expr, path_name: pl.Expr) -> list[pl.Expr]:
    """FileName_/PathName_/Frame_ columns of a single-plane file (e.g. one an earlier step wrote)."""
    return [
        file_name.alias(f"FileName_{image}"),
        path_name.alias(f"PathName_{image}"),
        pl.lit(0, dtype=pl.Int64).alias(f"Frame_{image}"),
    ]
