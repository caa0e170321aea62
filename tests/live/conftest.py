"""Live services for the tests named `test_live_<service>_...` (real daemons, not mocks)."""

from __future__ import annotations

import os

import pytest
from slurm_cluster import SlurmCluster


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
