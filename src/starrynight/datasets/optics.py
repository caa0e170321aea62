"""Microscope and camera: uneven illumination, photon (Poisson) noise, read noise, offset."""

from __future__ import annotations

import numpy as np

CAMERA_OFFSET = 100.0  # counts a dark pixel reads
READ_NOISE = 2.5  # counts, Gaussian


def vignette(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth illumination field, brightest (1.0) near an off-centre point, 25-40 % dimmer in the
    corners, with a faint tilt. One per channel, shared by every site: what illumination
    correction has to recover."""
    centre = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    strength = rng.uniform(0.25, 0.4)
    tilt = rng.uniform(-0.05, 0.05, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    r2 = ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (size / np.sqrt(2)) ** 2
    field = (1 - strength * r2) * (1 + tilt[0] * (yy / size - 0.5) + tilt[1] * (xx / size - 0.5))
    return (field / field.max()).astype(np.float32)


def expose(rng: np.random.Generator, photons: np.ndarray) -> np.ndarray:
    """Camera counts (uint16) for an image of expected photon counts: shot noise plus read noise.

    Shot noise is drawn as its normal approximation (variance = mean), which matches Poisson at
    the photon counts used here (backgrounds of 60+ photons) and is several times faster.
    """
    mean = np.clip(photons, 0, None).astype(np.float32)
    noise = rng.standard_normal(mean.shape, dtype=np.float32) * np.sqrt(mean + READ_NOISE**2)
    return np.clip(np.rint(CAMERA_OFFSET + mean + noise), 0, 65535).astype(np.uint16)
