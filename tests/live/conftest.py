"""Fixtures of the live tests: the real services, and the local run every live run must equal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.live.s3_server import s3_server  # noqa: F401  (a fixture)
from tests.live.slurm_cluster import SlurmCluster

INIT = {"nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "image_overlap_percentage": 10}  # fmt: skip


def run_tiny_screen(data_config: Any, barcode_csv: Path, runs: Path, **backend: Any) -> Any:
    """Index and run the tiny screen of `data_config` with the Python API; the run handle."""
    import pipecraft as pc
    from starrynight.experiments.pcp_generic import PCPGenericExperiment
    from starrynight.pipelines.index import create_index_pipeline
    from starrynight.pipelines.pcp_generic import create_pcp_generic_pipeline

    cfg = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False, **backend))
    cfg.run(create_index_pipeline(data_config)[1], working_dir=runs / "index")
    experiment = PCPGenericExperiment.from_index(
        Path(data_config.workspace_path) / "index.yaml",
        {**INIT, "barcode_csv_path": str(barcode_csv)},
    )
    _, pipeline = create_pcp_generic_pipeline(data_config, experiment)
    return cfg.run(pipeline, working_dir=runs / "pcp")


def cells(workspace: Path) -> pl.DataFrame:
    """The per-cell table's cells and genes, in a stable order (positions to 0.01 px)."""
    from starrynight import naming

    table = pl.read_parquet(naming.analysis.cell_table(workspace))
    return (table.select(pl.col("plate").cast(pl.String), pl.col("well").cast(pl.String),
                         pl.col("site").cast(pl.Int64), pl.col("x").round(2), pl.col("y").round(2),
                         pl.col("gene").cast(pl.String))
            .sort(["plate", "well", "site", "x", "y"]))  # fmt: skip


@pytest.fixture(scope="session")
def tiny_local_cells(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """The per-cell table of a plain local run of the tiny screen (the reference)."""
    from starrynight.config import DataConfig
    from starrynight.datasets import generate_dataset

    info = generate_dataset(tmp_path_factory.mktemp("local") / "screen", "tiny", seed=0)
    data_config = DataConfig(workspace_path=info.workspace_path, images_path=info.images_path,
                             scratch_path=info.scratch_path)  # fmt: skip
    handle = run_tiny_screen(data_config, info.barcode_csv, Path(info.scratch_path) / "runs")
    assert handle.status == "succeeded"
    table = cells(Path(info.workspace_path))
    assert table.height > 0 and table["gene"].drop_nulls().len() > 0
    return table


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A running single-node SLURM cluster with accounting; its clients find it through
    SLURM_CONF, set for the session (and so for every Snakemake run the tests start)."""
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    saved = {key: os.environ.get(key) for key in cluster.env()}
    os.environ.update(cluster.env())
    try:
        yield cluster
    finally:
        cluster.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
