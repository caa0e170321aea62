"""What a unit of work published: its manifest, the one contract between steps.

When a unit finishes, the files it produced are listed in `manifest.parquet` inside its
folder, one row per file: the step, what the file is (`kind`: image, table, illum, ...;
`name`: the channel or table), its keys (plate, well, site or tile, cycle; null where a key does
not apply), its path relative to the unit folder, its size, and `producer`, a digest of what made
it (the unit's pipeline and LoadData, which name every input and its content, and the code
versions). The manifest
(`naming.unit_manifest`) is written last, inside the unit folder before that folder is published, so its presence
means the unit is complete.

A later step reads the manifests of the units it consumes; it never recomputes where an
earlier step put a file or how that step chunked its work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from string import Formatter

import polars as pl
from pydantic import BaseModel, ConfigDict

from starrynight import naming

KEYS = ("plate", "well", "site", "tile", "cycle")
SCHEMA = {
    "step": pl.String,
    "kind": pl.String,
    "name": pl.String,
    "plate": pl.String,
    "well": pl.String,
    "site": pl.Int64,
    "tile": pl.String,
    "cycle": pl.Int64,
    "path": pl.String,
    "bytes": pl.Int64,
    "producer": pl.String,
}
#: LoadData metadata column of each key
_METADATA = {key: f"Metadata_{key.capitalize()}" for key in KEYS}


class ManifestError(ValueError):
    """A unit's outputs do not match what its step declares, or a manifest is missing."""


class Product(BaseModel):
    """One kind of file a step's unit produces.

    `file` is the file name (relative to the unit folder) as a template whose fields
    (`{plate}`, `{well}`, `{site}`, `{tile}`, `{cycle}`) are filled from the unit's LoadData metadata, one
    file per distinct value; a template without fields is one file per unit. `cycle` fixes the
    cycle of a product that belongs to one (e.g. an aligned image of cycle 3).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    name: str
    file: str
    cycle: int | None = None


class Publication(BaseModel):
    """What a step tells its CellProfiler runs to publish: the step and its products."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    products: list[Product]


def template_fields(template: str) -> list[str]:
    """The key fields of a file-name template; anything else is an error naming it."""
    fields = [f for _, f, _, _ in Formatter().parse(template) if f is not None]
    unknown = sorted(set(fields) - set(KEYS))
    if unknown:
        raise ManifestError(
            f"file template {template!r} has unknown field(s) {unknown}; known: {list(KEYS)}"
        )
    return fields


def expected_files(
    publication: Publication, image_sets: pl.DataFrame, producer: str
) -> pl.DataFrame:
    """The manifest rows (without `bytes`) a unit whose LoadData rows are `image_sets` (read as
    strings) must produce."""
    frames = []
    for product in publication.products:
        fields = template_fields(product.file)
        keys = {}
        for key in KEYS:
            column = _METADATA[key]
            if key in fields:
                keys[key] = pl.col(column)
            elif key == "cycle" and product.cycle is not None:
                keys[key] = pl.lit(str(product.cycle))
            elif column in image_sets.columns and image_sets.get_column(column).n_unique() == 1:
                keys[key] = pl.lit(image_sets.get_column(column)[0])
            else:
                keys[key] = pl.lit(None, dtype=pl.String)
        missing = [_METADATA[f] for f in fields if _METADATA[f] not in image_sets.columns]
        if missing:
            raise ManifestError(f"{product.file!r} needs LoadData column(s) {missing}")
        rows = (
            image_sets.select(**keys).unique(maintain_order=True)
            if fields
            else image_sets.head(1).select(**keys)
        )
        names = [
            product.file.format(**{f: row[f] for f in fields}) for row in rows.iter_rows(named=True)
        ]
        frames.append(
            rows.with_columns(
                step=pl.lit(publication.step),
                kind=pl.lit(product.kind),
                name=pl.lit(product.name),
                path=pl.Series(names, dtype=pl.String),
                producer=pl.lit(producer),
            )
        )
    if not frames:
        return pl.DataFrame(schema={k: v for k, v in SCHEMA.items() if k != "bytes"})
    table = pl.concat(frames, how="vertical_relaxed")
    return table.select(pl.col(c).cast(SCHEMA[c]) for c in SCHEMA if c != "bytes")


def producer_digest(files: Sequence[Path], code_version: str) -> str:
    """A digest of what determines a unit's outputs: its pipeline and LoadData files (which
    name every input and its content) and the versions of the code that ran them."""
    digest = hashlib.sha256(code_version.encode() + b"\0")
    for path in files:
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def with_sizes(rows: pl.DataFrame, unit_dir: Path) -> tuple[pl.DataFrame, list[str]]:
    """The rows with each file's size, and the files that are missing or empty."""
    sizes, missing = [], []
    for path in rows.get_column("path").to_list():
        target = Path(unit_dir) / path
        size = target.stat().st_size if target.is_file() else 0
        if size == 0:
            missing.append(path)
        sizes.append(size)
    return rows.with_columns(bytes=pl.Series(sizes, dtype=pl.Int64)).select(list(SCHEMA)), missing


def write_manifest(rows: pl.DataFrame, unit_dir: Path) -> Path:
    """Write a unit's manifest (atomically: a temporary name renamed into place)."""
    from starrynight.config import write_parquet_atomic

    path = naming.unit_manifest(Path(unit_dir))
    write_parquet_atomic(rows.select(list(SCHEMA)), path)
    return path


def read_manifests(paths: Sequence[Path]) -> pl.DataFrame:
    """The rows of the given manifests, with `unit` (the unit folder's name) and `path` made
    absolute. A missing manifest is an error naming it: its unit has not run, or not finished."""
    frames = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ManifestError(
                f"{path}: no manifest; the unit {path.parent.name!r} of the step that writes it has not "
                "run or did not finish"
            )
        frame = pl.read_parquet(path)
        folder = str(path.parent.absolute())
        frames.append(
            frame.with_columns(
                unit=pl.lit(path.parent.name),
                path=pl.concat_str([pl.lit(folder + "/"), pl.col("path")]),
            )
        )
    if not frames:
        return pl.DataFrame(schema={**SCHEMA, "unit": pl.String})
    return pl.concat(frames, how="vertical_relaxed")


def select(
    manifests: pl.DataFrame, step: str, kind: str, names: Sequence[str] | None = None
) -> pl.DataFrame:
    """The rows of one step's files of one kind (and, if given, of these names); none is an error."""
    rows = manifests.filter((pl.col("step") == step) & (pl.col("kind") == kind))
    if names is not None:
        rows = rows.filter(pl.col("name").is_in(list(names)))
        lacking = sorted(set(names) - set(rows.get_column("name").unique().to_list()))
        if lacking:
            raise ManifestError(f"the manifests of {step} list no {kind} named {lacking}")
    if rows.height == 0:
        raise ManifestError(f"the manifests given list no {kind} of {step}")
    return rows
