"""A screen whose images are addressed by URL runs end to end: inventory and index through
fsspec, LoadData CSVs naming URLs, and each CellProfiler unit staging its images locally.

The store is fsspec's `local://` protocol (an absolute path behind a URL): the same code
path as `s3://` for everything StarryNight does, without a network service.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import pipecraft as pc
from starrynight import naming
from starrynight.config import DataConfig, RemotePath
from starrynight.datasets import generate_dataset
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.pipelines.index import create_index_pipeline
from starrynight.pipelines.pcp_generic import create_pcp_generic_pipeline
from starrynight.scoring import score_tables


@pytest.mark.slow
def test_a_screen_with_images_behind_urls_runs_end_to_end(tmp_path):
    info = generate_dataset(tmp_path / "screen", "tiny", seed=0)
    images_before = sorted((p.relative_to(info.images_path), p.stat().st_mtime_ns)
                           for p in info.images_path.rglob("*"))
    data_config = DataConfig(workspace_path=info.workspace_path, images_path=f"local://{info.images_path}",
                             scratch_path=info.scratch_path)
    assert isinstance(data_config.images_path, RemotePath)
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2))
    runs = Path(data_config.scratch_path) / "runs"
    backend.run(create_index_pipeline(data_config)[1], working_dir=runs / "index")
    experiment = PCPGenericExperiment.from_index(Path(data_config.workspace_path) / "index.yaml", {
        "nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "barcode_csv_path": str(info.barcode_csv), "image_overlap_percentage": 10})  # fmt: skip

    loaddata = naming.unit_csv(naming.loaddata_dir(info.workspace_path, "cp_illum_calc"), info.plates[0])
    modules, pipeline = create_pcp_generic_pipeline(data_config, experiment)
    assert backend.run(pipeline, working_dir=runs / "pcp").status == "succeeded"

    path_names = pl.read_csv(loaddata).select(pl.col("^PathName_.*$")).unpivot()["value"]
    assert path_names.str.starts_with(f"local://{info.images_path}/").all()
    score = score_tables(info.root, naming.analysis.cell_table(info.workspace_path))
    assert score.right_gene_fraction >= 0.85
    assert not list(Path(info.workspace_path).rglob(".*.stage-*"))  # staged copies are removed
    assert sorted((p.relative_to(info.images_path), p.stat().st_mtime_ns)
                  for p in info.images_path.rglob("*")) == images_before  # the images are untouched
