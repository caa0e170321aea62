"""Fixtures for the CellProfiler tests (real CellProfiler from .venv-cp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cp_testdata import CHANNELS, PLANE_VALUES, write_loaddata, write_planes

from starrynight.cellprofiler import cppipe as cp


@pytest.fixture
def constant_site(tmp_path: Path) -> tuple[Path, Path]:
    """A 3-plane TIFF with planes of 1000/20000/40000 and its LoadData CSV."""
    planes = np.stack([np.full((64, 64), v) for v in PLANE_VALUES])
    tif = write_planes(tmp_path / "WellA1_PointA1_0000_ChannelDNA,Cell,Mito_Seq0000.ome.tiff", planes)
    return tif, write_loaddata(tmp_path / "load_data.csv", [tif])


@pytest.fixture(scope="session")
def intensity_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LoadData -> MeasureImageIntensity(all channels) -> ExportToSpreadsheet."""
    path = tmp_path_factory.mktemp("pipes") / "intensity.cppipe"
    return cp.Pipeline(modules=[
        cp.load_data(),
        cp.measure_image_intensity(list(CHANNELS)),
        cp.export_to_spreadsheet(),
    ]).write(path)
