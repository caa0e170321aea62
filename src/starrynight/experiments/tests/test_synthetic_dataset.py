"""from_index on the synthetic generator's datasets infers exactly the generator's truth."""

from __future__ import annotations

import polars as pl
import pytest

from starrynight import naming
from starrynight.config import DataConfig, read_parquet
from starrynight.datasets import DatasetInfo, generate_dataset
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.index.index import build_index

SEED_INIT = {
    "nuclear_channel": "DAPI",
    "cell_channel": "CellMask",
    "mito_channel": "MitoTracker",
    "image_overlap_percentage": 10,
}


@pytest.fixture(scope="module", params=["tiny", pytest.param("demo", marks=pytest.mark.slow)])
def dataset(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> DatasetInfo:
    return generate_dataset(tmp_path_factory.mktemp(request.param), preset=request.param, seed=0)


def test_from_index_matches_generator_truth(dataset: DatasetInfo) -> None:
    config = DataConfig(
        workspace_path=dataset.workspace_path,
        images_path=dataset.images_path,
        scratch_path=dataset.scratch_path,
    )
    manifest = build_index(config.workspace_path, config.images_path)
    exp = PCPGenericExperiment.from_index(
        index_path=config.workspace_path / "index.yaml",
        init_config={**SEED_INIT, "barcode_csv_path": str(dataset.barcode_csv)},
    )
    assert manifest == config.workspace_path / "index.yaml"
    assert (exp.dataset, exp.source, exp.batch) == (dataset.dataset, dataset.source, dataset.batch)
    assert exp.plates == dataset.plates
    assert exp.wells == {plate: dataset.wells for plate in dataset.plates}
    assert exp.cp.sites_per_well == dataset.cp_sites_per_well
    assert exp.sbs.sites_per_well == dataset.sbs_sites_per_well
    assert exp.sbs.cycles == list(range(1, dataset.cycles + 1))
    assert exp.cp.channels == dataset.cp_channels
    assert exp.sbs.channels == dataset.sbs_channels
    assert f"{exp.cp.magnification}X" == dataset.cp_magnification
    assert f"{exp.sbs.magnification}X" == dataset.sbs_magnification


def test_every_generated_image_is_indexed_at_its_truth_site(dataset: DatasetInfo) -> None:
    build_index(dataset.workspace_path, dataset.images_path)
    index = read_parquet(naming.index_table(dataset.workspace_path))
    unparsed = read_parquet(naming.unparsed_table(dataset.workspace_path))
    assert set(unparsed["reason"]) <= {"not an image", "hidden file"}
    truth = read_parquet(dataset.truth_sites).select("plate", "well", "site").sort(pl.all())
    for arm in ("CP", "SBS"):
        sites = (
            index.filter(pl.col("arm") == arm)
            .select("plate", "well", "site")
            .unique()
            .sort(pl.all())
        )
        assert sites.equals(truth), arm
