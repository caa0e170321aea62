"""Read the published index: `index.yaml` and the table it names, or a bare parquet/CSV index.

The reading side of the index contract, below the modules that write it, so that experiments
and pipelines read an index without importing a module.
"""

from __future__ import annotations

import os
from typing import Any

import polars as pl
import yaml

from starrynight.config import AnyPath, RemotePath, read_parquet, to_path

SCHEMA_VERSION = 1


class IndexBuildError(Exception):
    """The index cannot be built or read (no inventory and no images path, bad manifest)."""


def read_manifest(manifest_path: AnyPath) -> dict[str, Any]:
    try:
        manifest = yaml.safe_load(manifest_path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise IndexBuildError(f"cannot read index manifest {manifest_path}: {error}") from error
    if not isinstance(manifest, dict) or "tables" not in manifest:
        raise IndexBuildError(f"{manifest_path} is not an index manifest (no 'tables')")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexBuildError(
            f"{manifest_path}: schema_version {manifest.get('schema_version')!r} "
            f"is not the supported {SCHEMA_VERSION}"
        )
    return manifest


def resolve_index_table(index_path: str | os.PathLike[str] | AnyPath) -> AnyPath:
    """The index table behind index.yaml, or the path itself for a parquet or CSV index."""
    path = to_path(index_path)
    if not path.exists():
        raise IndexBuildError(f"index {path} does not exist")
    if path.name.endswith((".yaml", ".yml")):
        manifest = read_manifest(path)
        return path.parent / manifest["tables"]["index"]
    return path


def load_index(
    index_path: str | os.PathLike[str] | AnyPath, columns: list[str] | None = None
) -> pl.DataFrame:
    """Read an index given as index.yaml, parquet, or CSV (channels comma-separated)."""
    table = resolve_index_table(index_path)
    try:
        if table.name.endswith(".csv"):
            source = table.open("rb") if isinstance(table, RemotePath) else table
            frame = pl.read_csv(source, infer_schema_length=0)
            frame = _csv_types(frame)
            return frame.select(columns) if columns else frame
        return read_parquet(table, columns)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise IndexBuildError(f"cannot read index table {table}: {error}") from error


def _csv_types(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV has no lists or ints: restore the index dtypes of the columns present."""
    casts = {"magnification": pl.Int32, "cycle": pl.Int32, "site": pl.Int64, "size": pl.Int64,
             "image_height": pl.Int64, "image_width": pl.Int64}  # fmt: skip
    exprs = [pl.col(c).cast(t) for c, t in casts.items() if c in frame.columns]
    if "channels" in frame.columns:
        exprs.append(pl.col("channels").str.split(","))
    if "mtime" in frame.columns:
        exprs.append(pl.col("mtime").cast(pl.Float64))
    if "is_image" in frame.columns:
        exprs.append(pl.col("is_image").str.to_lowercase() == "true")
    return frame.with_columns(exprs)
