"""Build the index (parsed images), the unparsed table and the `index.yaml` manifest.

Table paths in the manifest are relative to the workspace and index keys are relative to the
images root, so a copied or moved workspace still works. Where the images were when the index
was built is kept only as the informational `images_root_at_build`: nothing reads it back
(steps take the images root from their DataConfig).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import polars as pl
import yaml

from starrynight import naming
from starrynight.config import (
    AnyPath,
    read_parquet,
    refuse_inside_images,
    to_path,
    write_parquet_atomic,
    write_text_atomic,
)
from starrynight.index_table import SCHEMA_VERSION, IndexBuildError
from starrynight.modules.index.parse import Parser, get_parser, parse_keys
from starrynight.modules.index.usable import split_unusable
from starrynight.modules.inventory.inventory import (
    Progress,
    build_inventory,
    inventory_images_root_at_build,
)


def _relative(path: AnyPath, workspace: AnyPath) -> str:
    return path.relative_to(workspace).as_posix()  # type: ignore[arg-type]


def manifest_dict(
    workspace: AnyPath,
    parser: Parser,
    images_root_at_build: str | None,
    index: pl.DataFrame,
    unparsed: pl.DataFrame,
) -> dict[str, Any]:
    """The human-readable summary written to index.yaml."""
    reasons = unparsed.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    arms = index.group_by("arm").len().sort("arm")
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "images_root_at_build": images_root_at_build,  # informational: keys are relative
        "parser": parser.describe(),
        "tables": {
            "inventory": _relative(naming.inventory_table(workspace), workspace),
            "index": _relative(naming.index_table(workspace), workspace),
            "unparsed": _relative(naming.unparsed_table(workspace), workspace),
        },
        "counts": {
            "files": index.height + unparsed.height,
            "indexed": index.height,
            "unparsed": unparsed.height,
            "by_arm": {row["arm"]: row["len"] for row in arms.iter_rows(named=True)},
            "unparsed_by_reason": {
                row["reason"]: row["len"] for row in reasons.iter_rows(named=True)
            },
        },
    }


def build_index(
    workspace_path: str | os.PathLike[str] | AnyPath,
    images_path: str | os.PathLike[str] | AnyPath | None = None,
    preset: str = "default",
    patterns: list[str] | None = None,
    progress: Progress | None = None,
    refresh_inventory: bool = True,
) -> AnyPath:
    """Parse the inventory into index + unparsed tables and write index.yaml; returns its path.

    With `images_path` the inventory is refreshed first (cheap when the tree is unchanged), so
    the index is never older than the images even when the index step runs before the
    inventory step, as in the seed notebook. Without it, the existing inventory is used.
    `refresh_inventory=False` uses the existing inventory (an inventory step just wrote it)
    but still reads the image headers under `images_path`, so unusable files are flagged.
    """
    workspace = to_path(workspace_path)
    if images_path is not None:
        refuse_inside_images("workspace", workspace, to_path(images_path))
    parser = get_parser(preset, patterns)
    inventory_path = naming.inventory_table(workspace)
    if images_path is not None and refresh_inventory:
        build_inventory(images_path, workspace, progress=progress)
    elif not inventory_path.exists():
        raise IndexBuildError(
            f"no inventory at {inventory_path}; give the images path so it can be built"
        )
    inventory = read_parquet(inventory_path)
    if progress:
        progress(f"index: parsing {inventory.height:,} paths with parser '{parser.name}'")
    index, unparsed = parse_keys(inventory, parser)
    images_root = to_path(images_path) if images_path is not None else None
    index, unusable = split_unusable(index, images_root, _checked_before(workspace))
    if unusable.height:
        unparsed = pl.concat([unparsed, unusable]).sort("key")
    write_parquet_atomic(unparsed, naming.unparsed_table(workspace))
    if index.height == 0:
        raise IndexBuildError(_nothing_indexed(inventory.height, parser, unparsed))
    write_parquet_atomic(index, naming.index_table(workspace))
    images_at_build = inventory_images_root_at_build(inventory_path)
    manifest = manifest_dict(workspace, parser, images_at_build, index, unparsed)
    manifest_path = naming.index_manifest(workspace)
    write_text_atomic(manifest_path, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    return manifest_path


def _checked_before(workspace: AnyPath) -> pl.DataFrame | None:
    """The previous index: files found usable then, with their size in pixels (None if none)."""
    table = naming.index_table(workspace)
    try:
        return read_parquet(table) if table.exists() else None
    except (OSError, pl.exceptions.PolarsError):
        return None


def _nothing_indexed(files: int, parser: Parser, unparsed: pl.DataFrame) -> str:
    if files == 0:
        return "no files under the images path: nothing to index"
    reasons = unparsed.group_by("reason").agg(pl.len(), pl.col("key").first())
    top = reasons.sort(["len", "reason"], descending=[True, False]).head(3)
    shown = "; ".join(
        f"{r['len']:,} x {r['reason']} (e.g. {r['key']})" for r in top.iter_rows(named=True)
    )
    return f"no image parsed with parser '{parser.name}' ({files:,} files): {shown}"
