"""Files of the geometry steps: reading tile planes, writing a stitched well as OME-Zarr.

A stitched well is one OME-Zarr image (axes c, y, x; one chunk holds one channel; LZ4 with byte
shuffle, as fast to write as no compression at half the size), written into
a temporary folder beside its destination and renamed into place when complete, so a crash
never leaves a store that looks finished. Its `coordinateTransformations` give the pixel size
and the well-frame position (micrometres) of pixel (0, 0)'s corner.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
import zarr
from zarr.codecs import BloscCodec

from starrynight.algorithms.geometry.fuse import WriteBlock

OME_VERSION = "0.5"


def read_plane(path: Path, plane: int) -> np.ndarray:
    """One plane (channel) of a multi-plane TIFF, without reading the others."""
    with tifffile.TiffFile(path) as tif:
        if plane >= len(tif.pages):
            raise ValueError(f"{path}: has {len(tif.pages)} plane(s), plane {plane} requested")
        return tif.pages[plane].asarray()


def _replace_dir(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


def write_well_zarr(
    out: Path,
    shape: tuple[int, int, int],
    channels: list[str],
    pixel_size_um: float,
    origin_um: tuple[float, float],
    fill: Callable[[WriteBlock], object],
    chunk: int = 1024,
    extra: dict | None = None,
) -> Path:
    """Create the store, let `fill(write)` write its blocks, add the metadata, move it into place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        array = group.create_array(
            "0",
            shape=shape,
            chunks=(1, chunk, chunk),
            dtype="uint16",
            fill_value=0,
            compressors=[BloscCodec(cname="lz4", clevel=3, shuffle="shuffle")],
        )

        def write(plane: int, y0: int, x0: int, block: np.ndarray) -> None:
            array[plane, y0 : y0 + block.shape[0], x0 : x0 + block.shape[1]] = block

        fill(write)
        group.attrs["ome"] = {
            "version": OME_VERSION,
            "multiscales": [
                {
                    "axes": [
                        {"name": "c", "type": "channel"},
                        {"name": "y", "type": "space", "unit": "micrometer"},
                        {"name": "x", "type": "space", "unit": "micrometer"},
                    ],
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": [1.0, pixel_size_um, pixel_size_um]},
                                {
                                    "type": "translation",
                                    "translation": [0.0, *map(float, origin_um)],
                                },
                            ],
                        }
                    ],
                }
            ],
            "omero": {"channels": [{"label": c} for c in channels]},
        }
        if extra:
            group.attrs["starrynight"] = json.loads(json.dumps(extra))
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class WellImage:
    """A stitched well, opened for reading regions."""

    def __init__(self, path: Path) -> None:
        try:
            group = zarr.open_group(Path(path), mode="r")
            ome = group.attrs["ome"]
        except (FileNotFoundError, KeyError, ValueError) as error:
            raise ValueError(
                f"{path}: not a stitched well (OME-Zarr with 'ome' metadata): {error}"
            ) from None
        self.path = Path(path)
        self.array = group["0"]
        transforms = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"]
        self.pixel_size_um = float(transforms[0]["scale"][1])
        self.origin_um = np.array(transforms[1]["translation"][1:], float)
        self.channels = [c["label"] for c in ome["omero"]["channels"]]
        self.extra = dict(group.attrs.get("starrynight", {}))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.array.shape[1:])  # type: ignore[return-value]

    def plane(self, channel: str) -> int:
        if channel not in self.channels:
            raise ValueError(
                f"{self.path}: no channel {channel!r} (channels: {', '.join(self.channels)})"
            )
        return self.channels.index(channel)

    def region(self, plane: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels [y0, y1) x [x0, x1), zero outside the image."""
        h, w = self.shape
        out = np.zeros((y1 - y0, x1 - x0), np.uint16)
        cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
        if cy0 < cy1 and cx0 < cx1:
            out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = self.array[plane, cy0:cy1, cx0:cx1]
        return out
