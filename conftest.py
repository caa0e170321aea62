"""Fixtures shared by every test folder: the tiny synthetic screen, indexed, with its experiment."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_screen(tmp_path_factory: pytest.TempPathFactory):
    """The `tiny` synthetic dataset, indexed, with its experiment: (DataConfig, experiment, info).

    Session-scoped and read-only: tests that write must use their own workspace copy
    (`tiny_workspace`).
    """
    from starrynight.config import DataConfig
    from starrynight.datasets import generate_dataset
    from starrynight.experiments.pcp_generic import PCPGenericExperiment
    from starrynight.modules.index.index import build_index

    info = generate_dataset(tmp_path_factory.mktemp("tiny"), "tiny", seed=0)
    build_index(info.workspace_path, info.images_path)
    experiment = PCPGenericExperiment.from_index(
        info.workspace_path / "index.yaml", demo_init_config(info.workspace_path)
    )
    data_config = DataConfig(
        workspace_path=info.workspace_path, images_path=info.images_path, scratch_path=info.scratch_path
    )
    return data_config, experiment, info


@pytest.fixture
def tiny_workspace(tiny_screen, tmp_path: Path):
    """A private, writable copy of the tiny screen's workspace (images shared, read-only)."""
    import shutil

    from starrynight.config import DataConfig

    data_config, experiment, info = tiny_screen
    workspace = tmp_path / "workspace"
    shutil.copytree(data_config.workspace_path, workspace)
    private = DataConfig(
        workspace_path=workspace, images_path=data_config.images_path, scratch_path=tmp_path / "scratch"
    )
    return private, experiment, info


def demo_init_config(workspace: Path) -> dict:
    """The seed notebook's init config."""
    return {
        "nuclear_channel": "DAPI",
        "cell_channel": "CellMask",
        "mito_channel": "MitoTracker",
        "barcode_csv_path": str(workspace / "barcodes.csv"),
        "image_overlap_percentage": 10,
    }
