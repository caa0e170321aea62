"""The builder + runner on a real illumination calculation (SPEC 5): an aggregate over sites."""

from __future__ import annotations

import numpy as np
from cp_testdata import CHANNELS, write_loaddata, write_planes
from scipy import ndimage

from starrynight.cellprofiler import cppipe as cp
from starrynight.cellprofiler.runner import run_pipeline

SIZE = 256


def _vignette() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    return 1.0 - 1.2 * (xx**2 + yy**2)


def _sites(rng: np.random.Generator) -> list[np.ndarray]:
    """Three sites: noisy texture under the vignette, each with a bright patch in its own corner."""
    corners = [(slice(0, 64), slice(0, 64)), (slice(0, 64), slice(-64, None)), (slice(-64, None), slice(0, 64))]
    sites = []
    for corner in corners:
        base = 8000 + 2000 * rng.random((len(CHANNELS), SIZE, SIZE))
        base[(slice(None), *corner)] *= 1.5
        sites.append(base * _vignette())
    return sites


def _smoothed(image: np.ndarray) -> np.ndarray:
    small = ndimage.zoom(image, 0.25, order=1)
    return ndimage.zoom(ndimage.median_filter(small, size=11), 4, order=1)


def test_illum_function_aggregates_sites(tmp_path):
    rng = np.random.default_rng(0)
    sites = _sites(rng)
    files = [write_planes(tmp_path / f"WellA1_PointA1_{i:04d}_ChannelDNA,Cell,Mito_Seq{i:04d}.ome.tiff", s)
             for i, s in enumerate(sites)]
    csv = write_loaddata(tmp_path / "illum.csv", files)
    modules = [cp.load_data(group_by=["Plate"])]
    for ch in CHANNELS:
        modules += [
            cp.resize(ch, f"{ch}Small", 0.25),
            cp.correct_illumination_calculate(f"{ch}Small", f"Illum{ch}Small", each_or_all="All",
                                              smoothing="Median Filter", filter_size=11),
            cp.resize(f"Illum{ch}Small", f"Illum{ch}", 4),
            cp.save_images(f"Illum{ch}", file_format="npy", single_name=f"P1_Illum{ch}", when="Last cycle"),
        ]
    pipeline = cp.Pipeline(modules=modules).write(tmp_path / "illum.cppipe")
    result = run_pipeline(pipeline, csv, tmp_path / "illum", groups={"Metadata_Plate": "P1"},
                          expect=[f"P1_Illum{ch}.npy" for ch in CHANNELS])
    for c, ch in enumerate(CHANNELS):
        illum = np.load(result.output_dir / f"P1_Illum{ch}.npy")
        assert illum.shape == (SIZE, SIZE)
        assert np.corrcoef(illum.ravel(), _vignette().ravel())[0, 1] > 0.8
        # An aggregate over the three sites, not the function of the last site alone.
        mean_model = _smoothed(np.mean([s[c] for s in sites], axis=0))
        last_model = _smoothed(sites[-1][c])
        r_mean = np.corrcoef(illum.ravel(), mean_model.ravel())[0, 1]
        r_last = np.corrcoef(illum.ravel(), last_model.ravel())[0, 1]
        assert r_mean > 0.95 and r_mean > r_last + 0.05
