"""The tifffile reader plugin makes each LoadData channel read its own plane (SPEC 7)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from cp_testdata import CHANNELS, PLANE_VALUES

from starrynight.cellprofiler.runner import run_pipeline


def _means(out: Path) -> dict[str, float]:
    row = pl.read_csv(out / "Image.csv").row(0, named=True)
    return {ch: row[f"Intensity_MeanIntensity_{ch}"] for ch in CHANNELS}


def test_each_channel_reads_its_own_plane(constant_site, intensity_pipeline, tmp_path):
    _, csv = constant_site
    result = run_pipeline(intensity_pipeline, csv, tmp_path / "out", expect=["Image.csv"])
    means = _means(result.output_dir)
    for ch, value in zip(CHANNELS, PLANE_VALUES, strict=True):
        assert means[ch] == pytest.approx(value / 65535, rel=1e-4)


def test_without_the_plugin_planes_are_blended(constant_site, intensity_pipeline, tmp_path):
    """The trap the plugin exists for: CellProfiler's own reader ignores Frame_."""
    _, csv = constant_site
    empty_plugins = tmp_path / "no-plugins"
    empty_plugins.mkdir()
    result = run_pipeline(intensity_pipeline, csv, tmp_path / "out", expect=["Image.csv"],
                          plugins_directory=empty_plugins)
    means = _means(result.output_dir)
    assert len({round(v, 6) for v in means.values()}) == 1
