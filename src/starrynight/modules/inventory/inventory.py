"""List every file under the images root into a parquet table (key, size, mtime).

Local disks are walked with `os.scandir` in a thread pool (one task per folder, so wide and
deep trees both list in parallel and network disks hide their latency); symlinked folders are
followed (symlink loops are reported, not followed). Object stores go through fsspec's `find`. Both yield the same table. Re-running on an unchanged tree lists it
again but does not rewrite the table.

Paths no step could use stop the listing with an error naming them: names with control
characters (a newline breaks LoadData CSVs) or that are not UTF-8, and entries that are not
regular files (a FIFO blocks whoever reads it).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from starrynight import naming
from starrynight.config import (
    AnyPath,
    RemotePath,
    read_parquet,
    read_parquet_metadata,
    refuse_inside_images,
    to_path,
    write_parquet_atomic,
)

SCHEMA = {"key": pl.String, "size": pl.Int64, "mtime": pl.Float64}
# Where the images were when the table was built: informational only. Keys are relative to
# the images root; readers take the root from their DataConfig, never from here (the
# workspace and the images may both move).
IMAGES_ROOT_METADATA = "starrynight.images_root_at_build"

Progress = Callable[[str], None]


class InventoryError(Exception):
    """The images root cannot be listed (missing, not a folder, unreadable)."""


class InventoryWarning(UserWarning):
    """Something under the images root was not listed (a symlink loop)."""


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


Chain = tuple[tuple[int, int], ...]  # (st_dev, st_ino) of a folder and of its ancestors


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(key: str) -> str | None:
    """Why a path cannot go through LoadData CSVs and CellProfiler, or None."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    found = _CONTROL.search(key)
    if found:
        return f"its name holds the control character {found.group()!r} (a newline or tab breaks LoadData CSVs)"
    return None


def _kind_problem(mode: int) -> str | None:
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):  # fmt: skip
        if test(mode):
            return f"it is {kind}, not a regular file (reading it can block forever)"
    return None


def _scan_dir(
    directory: str, prefix: str, chain: Chain
) -> tuple[
    list[str],
    list[int],
    list[float],
    list[tuple[str, str, Chain]],
    list[str],
    list[tuple[str, str]],
]:
    """List one folder: its files, its subfolders (with their ancestry) and symlink loops.

    Symlinked folders are followed (HPC trees link plates in from elsewhere); their keys go
    through the link name. A link to a folder already on the way down from the images root
    (same st_dev/st_ino) is a loop: it is returned, not followed. Dangling links are files.
    """
    keys: list[str] = []
    sizes: list[int] = []
    mtimes: list[float] = []
    subdirs: list[tuple[str, str, Chain]] = []
    loops: list[str] = []
    refused: list[tuple[str, str]] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                key = prefix + entry.name
                problem = name_problem(entry.name)
                if problem:
                    refused.append((key, problem))
                    continue
                if entry.is_dir(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    is_dir = True
                else:
                    try:
                        info = entry.stat()  # through a symlink to its target
                    except OSError:  # dangling or looping link: still a file the user has
                        info = entry.stat(follow_symlinks=False)
                    is_dir = stat.S_ISDIR(info.st_mode)
                if is_dir:
                    folder = (info.st_dev, info.st_ino)
                    if folder in chain:
                        loops.append(key)
                    else:
                        subdirs.append((entry.path, key + "/", (*chain, folder)))
                    continue
                problem = _kind_problem(info.st_mode)
                if problem:
                    refused.append((key, problem))
                    continue
                keys.append(key)
                sizes.append(info.st_size)
                mtimes.append(info.st_mtime)
    except OSError as error:
        raise InventoryError(
            f"cannot list folder {directory!r}: {error.strerror or error}"
        ) from error
    return keys, sizes, mtimes, subdirs, loops, refused


def list_local(
    root: Path,
    workers: int | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """All files under `root`, through symlinked folders; symlink loops are reported, not followed.

    A loop (a link to the folder itself or to one of its ancestors) is reported through
    `progress`, or as an `InventoryWarning` without it; it adds no row.
    """
    keys: list[str] = []
    sizes: list[int] = []
    mtimes: list[float] = []
    loops: list[str] = []
    refused: list[tuple[str, str]] = []
    folders = 0
    last_report = time.monotonic()
    try:
        top = root.stat()
    except OSError as error:
        raise InventoryError(
            f"cannot list folder {str(root)!r}: {error.strerror or error}"
        ) from error
    with ThreadPoolExecutor(max_workers=workers or min(32, (os.cpu_count() or 1) * 4)) as pool:
        pending: set[Future[Any]] = {
            pool.submit(_scan_dir, str(root), "", ((top.st_dev, top.st_ino),))
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                k, s, m, subdirs, found_loops, found_refused = future.result()
                refused += found_refused
                keys += k
                sizes += s
                mtimes += m
                loops += found_loops
                folders += 1
                pending |= {pool.submit(_scan_dir, d, p, c) for d, p, c in subdirs}
            if progress and time.monotonic() - last_report > 1.0:
                last_report = time.monotonic()
                progress(f"inventory: {len(keys):,} files in {folders:,} folders so far")
    for key in sorted(loops):
        message = (
            f"inventory: symlink loop not followed: {key} -> {os.path.realpath(root / key)} "
            "(a folder that contains the link)"
        )
        if progress:
            progress(message)
        else:
            warnings.warn(message, InventoryWarning, stacklevel=2)
    _refuse(refused)
    return pl.DataFrame({"key": keys, "size": sizes, "mtime": mtimes}, schema=SCHEMA)


def _refuse(refused: list[tuple[str, str]]) -> None:
    """Stop with the paths no step could use, rather than pass them on or drop them."""
    if not refused:
        return
    refused = sorted(refused)
    shown = "; ".join(
        f"{key.encode('utf-8', 'backslashreplace').decode()!r}: {why}" for key, why in refused[:5]
    )
    more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
    raise InventoryError(
        f"the images tree holds {len(refused)} path(s) that cannot be used{more}: {shown}; "
        "rename or move them out of the images tree"
    )


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def list_remote(root: RemotePath) -> pl.DataFrame:
    """All objects under an fsspec URL; mtime comes from whichever field the store reports."""
    fs = root.fs
    base = root.path.rstrip("/")
    if not fs.exists(base):
        raise InventoryError(f"images path {root} does not exist")
    found = fs.find(base, detail=True, withdirs=False)
    root_prefix = base.lstrip("/") + "/"
    keys: list[str] = []
    sizes: list[int] = []
    mtimes: list[float | None] = []
    refused: list[tuple[str, str]] = []
    for path, info in found.items():
        path = path.lstrip("/")
        problem = name_problem(path)
        if problem:
            refused.append((path.removeprefix(root_prefix), problem))
            continue
        keys.append(path.removeprefix(root_prefix))
        sizes.append(int(info.get("size") or 0))
        stamp = next(
            (
                info[f]
                for f in ("mtime", "LastModified", "last_modified", "updated", "created")
                if f in info
            ),
            None,
        )
        mtimes.append(_epoch(stamp))
    _refuse(refused)
    return pl.DataFrame({"key": keys, "size": sizes, "mtime": mtimes}, schema=SCHEMA)


def list_files(
    images_path: AnyPath,
    workers: int | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """The inventory frame of a tree, sorted by key, without writing anything."""
    if isinstance(images_path, RemotePath):
        frame = list_remote(images_path)
    else:
        if not images_path.exists():
            raise InventoryError(f"images path {images_path} does not exist")
        if not images_path.is_dir():
            raise InventoryError(f"images path {images_path} is not a folder")
        frame = list_local(images_path, workers, progress)
    return frame.sort("key")


def build_inventory(
    images_path: str | os.PathLike[str] | AnyPath,
    workspace_path: str | os.PathLike[str] | AnyPath,
    workers: int | None = None,
    progress: Progress | None = None,
) -> AnyPath:
    """Write `naming.inventory_table(workspace)`; returns its path.

    A workspace in the images tree is refused: that tree is read-only to StarryNight. If the
    listing equals the existing table, the file is left untouched.
    """
    images = to_path(images_path)
    workspace = to_path(workspace_path)
    refuse_inside_images("workspace", workspace, images)
    frame = list_files(images, workers, progress)
    target = naming.inventory_table(workspace)
    metadata = {IMAGES_ROOT_METADATA: str(images)}  # informational (see IMAGES_ROOT_METADATA)
    if target.exists():
        try:
            unchanged = read_parquet_metadata(target).get(IMAGES_ROOT_METADATA) == str(
                images
            ) and read_parquet(target).equals(frame)
        except (OSError, pl.exceptions.PolarsError):
            unchanged = False
        if unchanged:
            if progress:
                progress(f"inventory: {frame.height:,} files, unchanged: {target}")
            return target
    write_parquet_atomic(frame, target, metadata)
    if progress:
        progress(f"inventory: {frame.height:,} files -> {target}")
    return target


def inventory_images_root_at_build(table: AnyPath) -> str | None:
    """Where the images were when the table was built, as text, for humans only.

    Not a path to open: the images may have moved since; use the DataConfig's images path.
    """
    return read_parquet_metadata(table).get(IMAGES_ROOT_METADATA) or None
