"""A small preview of a stitched well for the QC report: mean-pooled, contrast-stretched, 8-bit.

Pooling reads the well region by region (aligned to the pooling step), so memory holds one
region whatever the size of the well; the preview's pixel (i, j) is the mean of the well pixels
[i * step, (i + 1) * step) x [j * step, (j + 1) * step) (zero beyond the well's edge).
"""

from __future__ import annotations

import io
import math

import numpy as np

from starrynight.algorithms.geometry.io import WellImage

PREVIEW_PX = 320  # longest side of a preview: a well of a 6-well plate stays a few tens of kB


def pooling_step(shape: tuple[int, int], max_px: int = PREVIEW_PX) -> int:
    """The smallest integer step that brings the longest side to at most `max_px`."""
    return max(1, math.ceil(max(shape) / max_px))


def pooled_plane(well: WellImage, channel: str, step: int, region_px: int = 2048) -> np.ndarray:
    """Mean of every `step` x `step` block of one channel (float32, ceil(shape / step))."""
    plane = well.plane(channel)
    h, w = well.shape
    out = np.zeros((math.ceil(h / step), math.ceil(w / step)), np.float32)
    span = step * max(1, region_px // step)
    for y0 in range(0, h, span):
        for x0 in range(0, w, span):
            region = well.region(plane, y0, y0 + span, x0, x0 + span).astype(np.float32)
            pooled = region.reshape(span // step, step, span // step, step).mean(axis=(1, 3))
            oy, ox = y0 // step, x0 // step
            rows, cols = (
                min(pooled.shape[0], out.shape[0] - oy),
                min(pooled.shape[1], out.shape[1] - ox),
            )
            out[oy : oy + rows, ox : ox + cols] = pooled[:rows, :cols]
    return out


def to_8bit(image: np.ndarray, low: float = 1.0, high: float = 99.5) -> np.ndarray:
    """Stretch the imaged (non-zero) pixels' `low`..`high` percentiles to 0..255."""
    imaged = image[image > 0]
    if imaged.size == 0:
        return np.zeros(image.shape, np.uint8)
    lo, hi = np.percentile(imaged, [low, high])
    scaled = (image - lo) / (hi - lo) if hi > lo else (image > lo).astype(np.float32)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, np.uint8)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
