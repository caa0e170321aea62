"""Cheap checks that a parsed image file can be read at all, before any job relies on it.

An empty file, or a TIFF whose header, page directories or image data run past the end of
the file (a truncated copy), would otherwise be found only inside CellProfiler. Only the
header and the page directories are read (a few hundred bytes per file), never the pixels.
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import polars as pl

from starrynight.config import AnyPath

#: TIFF tags holding where a page's image data are and how long they are
_DATA_TAGS = {273: "offsets", 279: "counts", 324: "offsets", 325: "counts"}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               16: 8, 17: 8, 18: 8}  # fmt: skip
_INT_FORMATS = {1: "B", 3: "H", 4: "I", 16: "Q"}
_MAX_PAGES = 100_000
EMPTY = "unusable: empty file (0 bytes)"


class _Unreadable(Exception):
    """Why a TIFF cannot be read (the message is the reason shown to the user)."""


def _read(handle: BinaryIO, offset: int, length: int, size: int, what: str) -> bytes:
    if offset + length > size:
        raise _Unreadable(
            f"{what} at byte {offset} runs past the end of the file ({size} bytes): truncated"
        )
    handle.seek(offset)
    return handle.read(length)


def _page_data_end(handle: BinaryIO, entries: bytes, order: str, big: bool, size: int) -> int:
    """The end (byte offset) of the page's image data, from its strip or tile tags."""
    entry_size, inline = (20, 8) if big else (12, 4)
    found: dict[str, list[int]] = {}
    for start in range(0, len(entries), entry_size):
        head = entries[start : start + entry_size]
        tag, kind = struct.unpack(order + "HH", head[:4])
        count = struct.unpack(order + ("Q" if big else "I"), head[4 : 12 if big else 8])[0]
        length = count * _TYPE_SIZES.get(kind, 1)
        value = head[-inline:]
        where = struct.unpack(order + ("Q" if big else "I"), value)[0]
        if length > inline and where + length > size:
            raise _Unreadable(
                f"tag {tag} values at byte {where} run past the end of the file ({size} bytes): "
                "truncated"
            )
        if tag not in _DATA_TAGS or kind not in _INT_FORMATS:
            continue
        if length > inline:
            value = _read(handle, where, length, size, f"tag {tag} values")
        fmt = f"{order}{count}{_INT_FORMATS[kind]}"
        found[_DATA_TAGS[tag]] = list(struct.unpack(fmt, value[: struct.calcsize(fmt)]))
    offsets, counts = found.get("offsets", []), found.get("counts", [])
    return max((o + c for o, c in zip(offsets, counts, strict=False)), default=0)


def tiff_problem(handle: BinaryIO, size: int, planes: int = 1) -> str | None:
    """Why a TIFF file cannot be read, or None; walks every page directory.

    `planes` is how many pages the file must hold at least (one per channel its name lists).
    """
    try:
        header = _read(handle, 0, 8, size, "the TIFF header")
        order = {b"II": "<", b"MM": ">"}.get(header[:2])
        if order is None:
            raise _Unreadable("not a TIFF file (no II/MM byte order mark)")
        version = struct.unpack(order + "H", header[2:4])[0]
        if version not in (42, 43):
            raise _Unreadable(f"not a TIFF file (version {version})")
        big = version == 43
        if big:
            offset = struct.unpack(order + "Q", _read(handle, 8, 8, size, "the BigTIFF header"))[0]
        else:
            offset = struct.unpack(order + "I", header[4:8])[0]
        count_fmt, entry_size, next_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
        seen: set[int] = set()
        while offset:
            page = len(seen) + 1
            if offset in seen or page > _MAX_PAGES:
                raise _Unreadable(f"page directory {page} loops back (damaged file)")
            seen.add(offset)
            count_size = struct.calcsize(count_fmt)
            raw = _read(handle, offset, count_size, size, f"page directory {page}")
            n = struct.unpack(order + count_fmt, raw)[0]
            tail = struct.calcsize(next_fmt)
            body = _read(handle, offset + count_size, n * entry_size + tail, size,
                         f"page directory {page}")  # fmt: skip
            end = _page_data_end(handle, body[: n * entry_size], order, big, size)
            if end > size:
                raise _Unreadable(
                    f"image data of page {page} end at byte {end}, past the end of the file "
                    f"({size} bytes): truncated"
                )
            offset = struct.unpack(order + next_fmt, body[n * entry_size :])[0]
        if not seen:
            raise _Unreadable("TIFF file without any page")
        if len(seen) < planes:
            raise _Unreadable(
                f"{len(seen)} page(s) but its name lists {planes} channels (one page each)"
            )
    except _Unreadable as problem:
        return str(problem)
    return None


def file_problem(path: Path, size: int, planes: int = 1) -> str | None:
    """Why the image file at `path` (holding `planes` channels) is unusable, or None."""
    if size == 0:
        return EMPTY
    if not path.name.lower().endswith((".tif", ".tiff")):
        return None
    try:
        with path.open("rb") as handle:
            problem = tiff_problem(handle, size, planes)
    except OSError as error:
        problem = f"cannot be read: {error.strerror or error}"
    return None if problem is None else f"unusable: {problem}"


def split_unusable(
    index: pl.DataFrame,
    images_root: AnyPath | None,
    checked: pl.DataFrame | None = None,
    workers: int = 16,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(usable index rows, unusable rows as key/reason/size/mtime).

    Empty files are found from the sizes. TIFF headers are read only under a local images
    root: on an object store (or without an images path) it would cost a request per file.
    `checked` (key, size, mtime) lists files found usable before: unchanged ones are not read.
    """
    flagged = index.with_columns(
        reason=pl.when(pl.col("size").fill_null(0) == 0).then(pl.lit(EMPTY)).otherwise(None)
    )
    if isinstance(images_root, Path):
        tiffs = flagged.filter(
            pl.col("reason").is_null() & pl.col("key").str.contains(r"(?i)\.tiff?$")
        ).select("key", "size", "mtime", planes=pl.col("channels").list.len().fill_null(1))
        if checked is not None:
            tiffs = tiffs.join(checked, on=["key", "size", "mtime"], how="anti")
        if tiffs.height:
            keys = tiffs.get_column("key").to_list()
            sizes, planes = tiffs.get_column("size").to_list(), tiffs.get_column("planes").to_list()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                found = list(
                    pool.map(lambda k, n, p: file_problem(images_root / k, n, p), keys, sizes, planes)
                )
            problems = pl.DataFrame(
                {"key": keys, "_problem": found}, schema={"key": pl.String, "_problem": pl.String}
            )
            flagged = (
                flagged.join(problems, on="key", how="left", maintain_order="left")
                .with_columns(reason=pl.coalesce("reason", "_problem"))
                .drop("_problem")
            )
    bad = pl.col("reason").is_not_null()
    return (
        flagged.filter(bad.not_()).drop("reason"),
        flagged.filter(bad).select("key", "reason", "size", "mtime"),
    )
