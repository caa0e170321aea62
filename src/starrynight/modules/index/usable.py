"""Cheap checks that a parsed image file can be read at all, before any job relies on it.

An empty file, a TIFF whose header, page directories or image data run past the end of
the file (a truncated copy), or an image of another size than the rest of its arm would
otherwise be found only inside CellProfiler. Only the header and the page directories are read
(a few hundred bytes per file), never the pixels. The image size of each file is kept in the
index (`image_height`, `image_width`), so an unchanged file is not read again.
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, NamedTuple

import polars as pl

from starrynight.config import AnyPath

#: TIFF tags holding where a page's image data are and how long they are
_DATA_TAGS = {273: "offsets", 279: "counts", 324: "offsets", 325: "counts"}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               16: 8, 17: 8, 18: 8}  # fmt: skip
_INT_FORMATS = {1: "B", 3: "H", 4: "I", 16: "Q"}
_MAX_PAGES = 100_000
EMPTY = "unusable: empty file (0 bytes)"
#: index columns holding each TIFF's first page size (null: not a TIFF, or not read)
SHAPE_COLUMNS = ("image_height", "image_width")


class FileCheck(NamedTuple):
    """Why a file is unusable (None: it is not), and its first page's (height, width)."""

    problem: str | None
    shape: tuple[int, int] | None = None


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


def _page_shape(entries: bytes, order: str, big: bool) -> tuple[int, int] | None:
    """(ImageLength, ImageWidth) of a page directory, when both are stored inline."""
    entry_size, inline = (20, 8) if big else (12, 4)
    found: dict[int, int] = {}
    for start in range(0, len(entries), entry_size):
        head = entries[start : start + entry_size]
        tag, kind = struct.unpack(order + "HH", head[:4])
        if tag in (256, 257) and kind in (3, 4, 16):
            found[tag] = struct.unpack(
                order + _INT_FORMATS[kind], head[-inline:][: _TYPE_SIZES[kind]]
            )[0]
    return (found[257], found[256]) if len(found) == 2 else None


def tiff_check(handle: BinaryIO, size: int, planes: int = 1) -> FileCheck:
    """Why a TIFF file cannot be read (or None), and its first page's size; walks every page
    directory. `planes` is how many pages the file must hold at least (one per channel its
    name lists)."""
    shape = None
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
            if page == 1:
                shape = _page_shape(body[: n * entry_size], order, big)
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
        return FileCheck(str(problem), shape)
    return FileCheck(None, shape)


def file_check(path: Path, size: int, planes: int = 1) -> FileCheck:
    """Why the image file at `path` (holding `planes` channels) is unusable, and its size."""
    if size == 0:
        return FileCheck(EMPTY)
    if not path.name.lower().endswith((".tif", ".tiff")):
        return FileCheck(None)
    try:
        with path.open("rb") as handle:
            problem, shape = tiff_check(handle, size, planes)
    except OSError as error:
        problem, shape = f"cannot be read: {error.strerror or error}", None
    return FileCheck(None if problem is None else f"unusable: {problem}", shape)


def file_problem(path: Path, size: int, planes: int = 1) -> str | None:
    """Why the image file at `path` (holding `planes` channels) is unusable, or None."""
    return file_check(path, size, planes).problem


def odd_sizes(index: pl.DataFrame) -> pl.DataFrame:
    """`key` and `_odd` (the reason) of the images whose size differs from the one most images
    of their arm have: CellProfiler needs every image of a step to be one size."""
    known = index.filter(pl.col("image_height").is_not_null())
    if known.height == 0:
        return pl.DataFrame(schema={"key": pl.String, "_odd": pl.String})
    usual = (
        known.group_by("arm", "image_height", "image_width")
        .len()
        .sort(["len", "image_height", "image_width"], descending=[True, False, False])
        .unique("arm", keep="first", maintain_order=True)
        .rename({"image_height": "_usual_h", "image_width": "_usual_w"})
        .drop("len")
    )
    odd = known.join(usual, on="arm").filter(
        (pl.col("image_height") != pl.col("_usual_h"))
        | (pl.col("image_width") != pl.col("_usual_w"))
    )
    return odd.select(
        "key",
        _odd=pl.format(
            "unusable: {}x{} px, but the other {} images are {}x{} px",
            "image_width", "image_height", "arm", "_usual_w", "_usual_h",
        ),
    )  # fmt: skip


def split_unusable(
    index: pl.DataFrame,
    images_root: AnyPath | None,
    checked: pl.DataFrame | None = None,
    workers: int = 16,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(usable index rows with SHAPE_COLUMNS, unusable rows as key/reason/size/mtime).

    Empty files are found from the sizes. TIFF headers are read only under a local images
    root: on an object store (or without an images path) it would cost a request per file.
    `checked` (key, size, mtime and SHAPE_COLUMNS) lists files found usable before: unchanged
    ones are not read again.
    """
    flagged = index.drop(SHAPE_COLUMNS, strict=False).with_columns(
        reason=pl.when(pl.col("size").fill_null(0) == 0).then(pl.lit(EMPTY)).otherwise(None)
    )
    shapes = pl.DataFrame(
        schema={"key": pl.String, "_problem": pl.String, **dict.fromkeys(SHAPE_COLUMNS, pl.Int64)}
    )
    if isinstance(images_root, Path):
        tiffs = flagged.filter(
            pl.col("reason").is_null() & pl.col("key").str.contains(r"(?i)\.tiff?$")
        ).select("key", "size", "mtime", planes=pl.col("channels").list.len().fill_null(1))
        if checked is not None and set(SHAPE_COLUMNS) <= set(checked.columns):
            unchanged = (
                checked.select("key", "size", "mtime", *SHAPE_COLUMNS)
                .filter(pl.col("image_height").is_not_null())
                .join(tiffs, on=["key", "size", "mtime"], how="semi")
            )
            tiffs = tiffs.join(unchanged, on=["key", "size", "mtime"], how="anti")
            shapes = pl.concat(
                [
                    shapes,
                    unchanged.drop("size", "mtime").with_columns(_problem=pl.lit(None, pl.String)),
                ],
                how="diagonal_relaxed",
            )
        if tiffs.height:
            keys = tiffs.get_column("key").to_list()
            sizes, planes = tiffs.get_column("size").to_list(), tiffs.get_column("planes").to_list()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                found = list(
                    pool.map(lambda k, n, p: file_check(images_root / k, n, p), keys, sizes, planes)
                )
            read = pl.DataFrame(
                {
                    "key": keys,
                    "_problem": [f.problem for f in found],
                    "image_height": [f.shape[0] if f.shape else None for f in found],
                    "image_width": [f.shape[1] if f.shape else None for f in found],
                },
                schema=shapes.schema,
            )
            shapes = pl.concat([shapes, read])
    flagged = flagged.join(shapes, on="key", how="left", maintain_order="left").with_columns(
        reason=pl.coalesce("reason", "_problem")
    )
    odd = odd_sizes(flagged.filter(pl.col("reason").is_null()))
    flagged = (
        flagged.join(odd, on="key", how="left", maintain_order="left")
        .with_columns(reason=pl.coalesce("reason", "_odd"))
        .drop("_problem", "_odd")
    )
    bad = pl.col("reason").is_not_null()
    return (
        flagged.filter(bad.not_()).drop("reason"),
        flagged.filter(bad).select("key", "reason", "size", "mtime"),
    )
