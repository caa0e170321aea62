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


@pytest.fixture
def tiny_screen_config(tiny_screen, tmp_path: Path):
    """`write(**changes) -> Path`: a screen config (`tmp_path/screen.yaml`) that runs the tiny
    screen's images into a workspace and scratch of its own under tmp_path; `changes` replace
    top-level keys."""
    import yaml

    _, _, info = tiny_screen

    def write(**changes) -> Path:
        config = {
            "workspace_path": str(tmp_path / "workspace"),
            "images_path": str(info.images_path),
            "scratch_path": str(tmp_path / "scratch"),
            "experiment": {
                "nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
                "barcode_csv_path": str(info.barcode_csv), "image_overlap_percentage": 10,
            },
            **changes,
        }  # fmt: skip
        path = tmp_path / "screen.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return write


def demo_init_config(workspace: Path) -> dict:
    """The seed notebook's init config."""
    return {
        "nuclear_channel": "DAPI",
        "cell_channel": "CellMask",
        "mito_channel": "MitoTracker",
        "barcode_csv_path": str(workspace / "barcodes.csv"),
        "image_overlap_percentage": 10,
    }


def synthetic_cells(seed: int = 0, effects: dict[str, float] | None = None, plates: tuple[str, ...] = ("P1", "P2"),
                    wells: tuple[str, ...] = ("A1", "A2"), cells: int = 20, controls: int = 4,
                    plate_offset: float = 0.0):  # fmt: skip
    """A per-cell table as analysis writes it (keys, matched_barcode, gene, Cells_/Nuclei_
    features), two guides per gene and `controls` non-targeting guides per well; a gene's effect
    shifts its cells' first two features by that many SDs; plate k adds k * `plate_offset` to every
    feature (a batch effect)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    effects = {f"G{i}": 0.0 for i in range(6)} if effects is None else effects
    library = [(f"{g}_{k}", g) for g in effects for k in range(2)]
    library += [(f"NT_{k}", "nontargeting") for k in range(controls)]
    parts = []
    for p, plate in enumerate(plates):
        for well in wells:
            for barcode, gene in library:
                x = rng.normal(0, 1, (cells, 6)) + p * plate_offset
                x[:, :2] += effects.get(gene, 0.0)
                parts.append(pl.DataFrame({
                    "plate": plate, "well": well, "site": 0, "cell_id": np.arange(cells),
                    "matched_barcode": barcode, "gene": gene,
                    **{f"Cells_Intensity_F{k}": x[:, k] for k in range(3)},
                    **{f"Nuclei_AreaShape_F{k}": x[:, k] for k in range(3, 6)},
                    "Nuclei_Location_Center_X": rng.uniform(0, 500, cells),
                }))  # fmt: skip
    return pl.concat(parts)


@pytest.fixture
def make_cells():
    """`synthetic_cells`, as a fixture."""
    return synthetic_cells


@pytest.fixture
def publish_plans():
    """`plan(data_config, experiment, index, step=params, ...)`: what each named step's units
    will publish (manifest rows, as `publish_plan` gives them), each step reading the rows of
    the steps before it, in the order given; params None means the step's defaults. Lets a
    test build a later step's LoadData without running CellProfiler."""
    import polars as pl

    from starrynight.manifest import SCHEMA
    from starrynight.modules.base import get_module
    from starrynight.modules.cellprofiler_step import publish_plan

    def plan(data_config, experiment, index, **steps) -> pl.DataFrame:
        rows = pl.DataFrame(schema={**SCHEMA, "unit": pl.String})
        for step, params in steps.items():
            module_class = get_module(f"{step}_loaddata")
            module = module_class(data_config, experiment, params or module_class.Parameters())
            rows = pl.concat([rows, publish_plan(module, index, rows)], how="diagonal_relaxed")
        return rows

    return plan
