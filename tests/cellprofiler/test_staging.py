"""Images named by URL in a LoadData CSV are copied to local disk for CellProfiler, then removed.

The store here is fsspec's `local://` protocol: the same code path as `s3://` (fsspec opens
the URL), without a network service. S3 itself is s3fs's business.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from starrynight.cellprofiler.runner import run_pipeline
from starrynight.cellprofiler.staging import StagingError, stage_loaddata


def as_urls(data_file: Path, out: Path, folder: Path | None = None) -> Path:
    """A copy of `data_file` whose PathName_ columns are local:// URLs (of `folder` if given)."""
    with open(data_file, newline="") as fd:
        rows = list(csv.reader(fd))
    header = rows[0]
    for row in rows[1:]:
        for i, name in enumerate(header):
            if name.startswith("PathName_"):
                row[i] = f"local://{folder or row[i]}"
    with open(out, "w", newline="") as fd:
        csv.writer(fd).writerows(rows)
    return out


def test_images_named_by_url_are_staged_and_read_as_local_ones(intensity_pipeline, constant_site, tmp_path):
    _, data_file = constant_site
    local = run_pipeline(intensity_pipeline, data_file, tmp_path / "local", expect=["Image.csv"])
    remote = run_pipeline(intensity_pipeline, as_urls(data_file, tmp_path / "urls.csv"), tmp_path / "remote",
                          expect=["Image.csv"])
    columns = [c for c in pl.read_csv(local.output_dir / "Image.csv").columns if c.startswith("Intensity_")]
    assert columns
    assert pl.read_csv(remote.output_dir / "Image.csv").select(columns).equals(
        pl.read_csv(local.output_dir / "Image.csv").select(columns))
    assert not list(remote.output_dir.glob("*.tif*"))  # staged copies are not outputs
    assert not list(tmp_path.glob(".remote.stage-*"))


def test_a_missing_remote_image_is_named_and_nothing_is_left(intensity_pipeline, constant_site, tmp_path):
    _, data_file = constant_site
    urls = as_urls(data_file, tmp_path / "urls.csv", folder=tmp_path / "no-such-folder")
    with pytest.raises(StagingError, match="no-such-folder"):
        run_pipeline(intensity_pipeline, urls, tmp_path / "out", expect=["Image.csv"])
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_a_csv_of_local_paths_is_used_as_it_is(constant_site, tmp_path):
    _, data_file = constant_site
    assert stage_loaddata(data_file, tmp_path / "stage") == (data_file, 0)
    assert not (tmp_path / "stage").exists()
