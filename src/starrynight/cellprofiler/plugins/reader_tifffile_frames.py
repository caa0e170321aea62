"""CellProfiler reader plugin: TIFF / OME-TIFF via tifffile, honouring the plane index.

CellProfiler's built-in imageio reader ignores LoadData's `Frame_<Image>` and returns a blend
of all planes of a multi-plane TIFF; Bio-Formats needs Java jars downloaded at run time. Each
raw file of a screen holds every channel of a site as one plane, so this reader claims
.tif/.tiff files first (priority 1) and reads exactly the requested plane:

- `index` (LoadData `Frame_`) selects a page of the series, in file order;
- otherwise `c`/`z`/`t` select along the series' C/Z/T axes (`c=None` returns all channels
  stacked last, as CellProfiler expects for a colour image);
- `series` (LoadData `Series_`) selects the series, default 0.
"""

from __future__ import annotations

import collections

import numpy
import tifffile
from cellprofiler_core.constants.image import (
    MD_SIZE_C,
    MD_SIZE_S,
    MD_SIZE_T,
    MD_SIZE_X,
    MD_SIZE_Y,
    MD_SIZE_Z,
)
from cellprofiler_core.reader import Reader

EXTENSIONS = {".tif", ".tiff", ".ome.tif", ".ome.tiff"}
SCHEMES = {"file"}


def _as_int(value, default: int = 0) -> int:
    """LoadData passes plane numbers as floats (or NaN -> None)."""
    if value is None:
        return default
    return int(value)


class TifffileFramesReader(Reader):
    """Reads one plane of a (multi-plane, OME-)TIFF with tifffile; honours Frame_/Series_."""

    reader_name = "TifffileFrames"
    variable_revision_number = 1
    supported_filetypes = EXTENSIONS
    supported_schemes = SCHEMES

    def __init__(self, image_file):
        self._tif = None
        super().__init__(image_file)

    def __del__(self):
        self.close()

    def _series(self, series):
        if self._tif is None:
            self._tif = tifffile.TiffFile(self.file.path)
        number = _as_int(series)
        if not 0 <= number < len(self._tif.series):
            raise IndexError(
                f"{self.file.path}: series {number} requested, the file has {len(self._tif.series)}"
            )
        return self._tif.series[number]

    def read(
        self,
        wants_metadata_rescale=False,
        series=None,
        index=None,
        c=None,
        z=None,
        t=None,
        xywh=None,
        channel_names=None,
    ):
        try:
            return self._read(wants_metadata_rescale, series, index, c, z, t, xywh)
        except IndexError:
            raise  # already names the file and the plane
        except Exception as error:  # a truncated or corrupt file: say which one
            raise OSError(f"{self.file.path}: cannot read this image ({type(error).__name__}: {error})") from error

    def _read(self, wants_metadata_rescale, series, index, c, z, t, xywh):
        tiff_series = self._series(series)
        if index is not None:
            planes = len(tiff_series.pages)
            number = _as_int(index)
            if not 0 <= number < planes:
                raise IndexError(
                    f"{self.file.path}: plane (Frame) {number} requested, series has {planes} planes"
                )
            data = tiff_series.pages[number].asarray()
        else:
            data = self._select_czt(tiff_series, c, z, t)
        if xywh is not None:
            x, y, w, h = xywh
            data = data[y : y + h, x : x + w]
        if wants_metadata_rescale:
            return data, None
        return data

    @staticmethod
    def _select_czt(tiff_series, c, z, t):
        data = tiff_series.asarray()
        axes = tiff_series.axes
        wanted = {"C": c, "Z": _as_int(z), "T": _as_int(t)}
        keep_channels = "C" in axes and c is None
        index = []
        for axis in axes:
            if axis in "YXS" or (axis == "C" and keep_channels):
                index.append(slice(None))
            else:
                index.append(_as_int(wanted.get(axis)))
        data = data[tuple(index)]
        if keep_channels:
            kept = [a for a in axes if a in "YXSC"]
            data = numpy.moveaxis(data, kept.index("C"), -1)
        return data

    @classmethod
    def supports_format(cls, image_file, allow_open=False, volume=False):
        if volume or image_file.scheme not in SCHEMES:
            return -1
        if image_file.full_extension in EXTENSIONS or image_file.file_extension in EXTENSIONS:
            return 1
        return -1

    def close(self):
        if self._tif is not None:
            self._tif.close()
        self._tif = None

    def get_series_metadata(self):
        if self._tif is None:
            self._tif = tifffile.TiffFile(self.file.path)
        meta = collections.defaultdict(list)
        meta[MD_SIZE_S] = len(self._tif.series)
        for tiff_series in self._tif.series:
            sizes = dict(zip(tiff_series.axes, tiff_series.shape, strict=True))
            meta[MD_SIZE_X].append(sizes.get("X", 1))
            meta[MD_SIZE_Y].append(sizes.get("Y", 1))
            meta[MD_SIZE_Z].append(sizes.get("Z", 1))
            meta[MD_SIZE_T].append(sizes.get("T", 1))
            meta[MD_SIZE_C].append(sizes.get("C", sizes.get("S", 1)))
        return meta
