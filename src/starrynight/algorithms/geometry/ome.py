"""Stage positions and pixel sizes in OME-XML, as microscopes write them: `Pixels` carries
`PhysicalSizeX/Y` (+ unit), each `Plane` carries `PositionX/Y` (+ unit) of the stage."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import IO, Any

import tifffile
from pydantic import BaseModel, ConfigDict

_TO_UM = {"m": 1e6, "mm": 1e3, "µm": 1.0, "um": 1.0, "nm": 1e-3, "pm": 1e-6}


class OmeGeometry(BaseModel):
    """What one image's OME-XML says about where and at what scale it was taken."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    pixel_size_um: float | None = None  # x; y is assumed equal (square pixels)
    position_um: tuple[float, float] | None = None  # stage (y, x) of the tile's top-left corner


def ome_metadata(
    channels: list[str], pixel_size_um: float | None, position_um: tuple[float, float] | None
) -> dict[str, Any]:
    """The `metadata` argument of `tifffile.imwrite(..., ome=True)` for a CYX stack."""
    meta: dict[str, Any] = {"axes": "CYX", "Channel": {"Name": list(channels)}}
    if pixel_size_um is not None:
        meta.update(
            PhysicalSizeX=pixel_size_um,
            PhysicalSizeXUnit="µm",
            PhysicalSizeY=pixel_size_um,
            PhysicalSizeYUnit="µm",
        )
    if position_um is not None:
        n = len(channels)
        meta["Plane"] = {
            "PositionY": [position_um[0]] * n,
            "PositionX": [position_um[1]] * n,
            "PositionYUnit": ["µm"] * n,
            "PositionXUnit": ["µm"] * n,
        }
    return meta


def _length(element: ET.Element, name: str) -> float | None:
    value = element.get(name)
    if value is None:
        return None
    unit = element.get(name + "Unit", "µm")
    if unit not in _TO_UM:
        raise ValueError(f"{name}Unit {unit!r} is not a length unit")
    return float(value) * _TO_UM[unit]


def parse_ome_geometry(xml: str) -> OmeGeometry:
    """Pixel size and stage position of the first image in an OME-XML document."""
    root = ET.fromstring(xml)
    pixels = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        raise ValueError("OME-XML has no Pixels element")
    plane = next((e for e in pixels if e.tag.rsplit("}", 1)[-1] == "Plane"), None)
    position = None
    if plane is not None:
        y, x = _length(plane, "PositionY"), _length(plane, "PositionX")
        position = (y, x) if y is not None and x is not None else None
    return OmeGeometry(
        width=int(pixels.get("SizeX", 0)),
        height=int(pixels.get("SizeY", 0)),
        pixel_size_um=_length(pixels, "PhysicalSizeX"),
        position_um=position,
    )


def read_ome_geometry(source: str | IO[bytes] | Any) -> OmeGeometry:
    """The OME geometry of a TIFF (path or binary file object); ValueError when the file is not
    an OME-TIFF."""
    try:
        with tifffile.TiffFile(source) as tif:
            xml = tif.ome_metadata
            shape = tif.pages[0].shape
    except (tifffile.TiffFileError, OSError, IndexError) as error:
        raise ValueError(f"not a readable TIFF ({error})") from None
    if not xml:
        return OmeGeometry(width=int(shape[-1]), height=int(shape[-2]))
    return parse_ome_geometry(xml)


def read_ome_geometry_at(path: os.PathLike[str] | Any) -> OmeGeometry:
    """The OME geometry of a local path or of a URL path with `open` (an fsspec `RemotePath`),
    read through a file object so only the header is fetched from an object store."""
    if isinstance(path, os.PathLike):
        return read_ome_geometry(os.fspath(path))
    with path.open("rb") as handle:
        return read_ome_geometry(handle)
