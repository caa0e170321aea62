"""Large synthetic file trees: files with real names and no pixels to speak of, for scale
benchmarks of the non-image steps.

Each image is a valid TIFF of one-pixel pages, one page per channel its name lists, so the
index reads its header as it reads a real screen's (an empty file would be listed as unusable);
other files are empty."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import tifffile

from starrynight.datasets.layout import Layout, file_count, folders

_FLAGS = os.O_CREAT | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)


def tree_paths(
    plates: int = 9,
    wells: int = 6,
    cp_sites: int = 1364,
    sbs_sites: int = 320,
    cycles: int = 12,
    *,
    extras: bool = True,
    dataset: str = "starrynight_demo",
) -> list[str]:
    """Every file path of the tree, relative to the images root, built in memory only."""
    layout = Layout(
        dataset=dataset,
        plates=plates,
        wells=wells,
        cp_sites=cp_sites,
        sbs_sites=sbs_sites,
        cycles=cycles,
    )
    out: list[str] = []
    for folder, names in folders(layout, extras=extras):
        prefix = folder + "/"
        out.extend([prefix + n for n in names])
    return out


@cache
def _stub_tiff(pages: int) -> bytes:
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for _ in range(pages):
            tif.write(np.zeros((1, 1), np.uint16), photometric="minisblack")
    return buffer.getvalue()


def _content(name: str) -> bytes:
    if not name.lower().endswith((".tif", ".tiff")):
        return b""
    listed = re.search(r"_Channel([^_/]*)_", name)
    return _stub_tiff(listed.group(1).count(",") + 1 if listed else 1)


def generate_tree(
    root: Path,
    plates: int = 9,
    wells: int = 6,
    cp_sites: int = 1364,
    sbs_sites: int = 320,
    cycles: int = 12,
    *,
    extras: bool = True,
    dataset: str = "starrynight_demo",
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Create the tree under `root/images`; returns the number of files.

    Existing files are left as they are (created without truncation), so re-running is safe.
    `progress(done_files, total_files)` is called after every folder.
    """
    layout = Layout(
        dataset=dataset,
        plates=plates,
        wells=wells,
        cp_sites=cp_sites,
        sbs_sites=sbs_sites,
        cycles=cycles,
    )
    images = Path(root) / "images"
    total = file_count(layout, extras=extras)
    count = 0
    for folder, names in folders(layout, extras=extras):
        directory = images / folder
        directory.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in names:
                fd = os.open(name, _FLAGS, 0o644, dir_fd=dir_fd)
                try:
                    if os.fstat(fd).st_size == 0:
                        os.write(fd, _content(name))
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)
        count += len(names)
        if progress is not None:
            progress(count, total)
    return count
