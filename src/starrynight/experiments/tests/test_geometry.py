"""Experiment geometry: arms that image different fields are never paired site by site."""

from __future__ import annotations

from pathlib import Path

import pytest

from starrynight.config import DataConfig
from starrynight.datasets import DatasetInfo, generate_dataset
from starrynight.experiments.pcp_generic import ExperimentError, PCPGenericExperiment
from starrynight.experiments.tests.test_pcp_generic import index_for, init
from starrynight.modules.index.index import build_index
from starrynight.modules.index.tests.screen import screen_keys
from starrynight.pipelines.pcp_generic import create_pcp_generic_pipeline


def _config(root: Path) -> DataConfig:
    return DataConfig(
        workspace_path=root / "ws", images_path=root / "images", scratch_path=root / "scratch"
    )


def test_16_cp_sites_at_20x_and_4_sbs_sites_at_10x_are_not_paired(tmp_path: Path) -> None:
    keys = screen_keys({"P1": ["A1", "A2"]}, cp_sites=16, sbs_sites=4)
    exp = PCPGenericExperiment.from_index(index_for(tmp_path, keys), init(tmp_path))
    assert exp.geometry is not None and exp.geometry.pairing == "stitch"
    assert (exp.geometry.cp.sites_per_well, exp.geometry.sbs.sites_per_well) == (16, 4)
    assert exp.geometry.cp.rows == [4, 4, 4, 4] and exp.geometry.sbs.rows == [2, 2]
    with pytest.raises(ExperimentError) as info:
        create_pcp_generic_pipeline(_config(tmp_path), exp)
    message = str(info.value)
    assert "CP: 16 sites/well, 20X" in message and "SBS: 4 sites/well, 10X" in message
    assert "CP has 16 sites per well, SBS 4" in message
    assert "CP is imaged at 20X, SBS at 10X" in message


def test_same_site_count_but_different_magnification_without_metadata_is_refused(
    tmp_path: Path,
) -> None:
    keys = screen_keys({"P1": ["A1"]}, cp_sites=4, sbs_sites=4)
    exp = PCPGenericExperiment.from_index(index_for(tmp_path, keys), init(tmp_path))
    assert exp.geometry.differences == [
        "CP is imaged at 20X, SBS at 10X (and no pixel size in the metadata says the fields are the same)"
    ]
    with pytest.raises(ExperimentError, match="this pipeline pairs CP site k with SBS site k"):
        create_pcp_generic_pipeline(_config(tmp_path), exp)


def test_same_magnification_and_site_count_pair_sites(tmp_path: Path) -> None:
    keys = [
        k.replace("/10X_c", "/20X_c") for k in screen_keys({"P1": ["A1"]}, cp_sites=4, sbs_sites=4)
    ]
    exp = PCPGenericExperiment.from_index(index_for(tmp_path, keys), init(tmp_path))
    assert exp.geometry.pairing == "same-field" and exp.geometry.differences == []
    create_pcp_generic_pipeline(_config(tmp_path), exp)


def test_same_field_arms_whose_site_numbers_differ_are_refused(tmp_path: Path) -> None:
    """Same counts, so nothing else tells; site 1 of CP is no partner of site 3 of SBS."""
    keys = [
        k.replace("/10X_c", "/20X_c")
        for k in screen_keys({"P1": ["A1", "A2"]}, cp_sites=2, sbs_sites=2)
    ]
    renamed = [k.replace("WellA1_PointA1_0001_", "WellA1_PointA1_0003_") if "_SBS-" in k else k
               for k in keys]  # fmt: skip
    assert renamed != keys
    with pytest.raises(ExperimentError) as info:
        PCPGenericExperiment.from_index(index_for(tmp_path, renamed), init(tmp_path))
    assert "P1/A1 has CP sites 0, 1 and SBS sites 0, 3" in str(info.value)
    assert "A2" not in str(info.value)


def test_user_given_pixel_sizes_decide(tmp_path: Path) -> None:
    keys = screen_keys({"P1": ["A1"]}, cp_sites=4, sbs_sites=4)
    same = init(tmp_path, geometry={"cp": {"pixel_size_um": 0.65}, "sbs": {"pixel_size_um": 0.65}})
    assert (
        PCPGenericExperiment.from_index(index_for(tmp_path, keys), same).geometry.pairing
        == "same-field"
    )
    insist = init(
        tmp_path,
        geometry={
            "sbs": {"pixel_size_um": 1.3},
            "cp": {"pixel_size_um": 0.65},
            "pairing": "same-field",
        },
    )
    with pytest.raises(ExperimentError, match=r"CP pixels are 0.65 µm, SBS 1.3 µm \(x2\)"):
        PCPGenericExperiment.from_index(index_for(tmp_path, keys), insist)


def test_layout_rows_must_hold_the_sites(tmp_path: Path) -> None:
    keys = screen_keys({"P1": ["A1"]}, cp_sites=4, sbs_sites=4)
    with pytest.raises(
        ExperimentError, match=r"geometry rows \[3, 3\] hold 6 sites, the index has 4 per well"
    ):
        PCPGenericExperiment.from_index(
            index_for(tmp_path, keys), init(tmp_path, geometry={"cp": {"rows": [3, 3]}})
        )


def _indexed(tmp_path_factory: pytest.TempPathFactory, preset: str) -> DatasetInfo:
    info = generate_dataset(tmp_path_factory.mktemp(preset), preset, seed=0)
    build_index(info.workspace_path, info.images_path)
    return info


def _experiment(info: DatasetInfo, **changes: object) -> PCPGenericExperiment:
    return PCPGenericExperiment.from_index(
        info.workspace_path / "index.yaml",
        {
            "nuclear_channel": "DAPI",
            "cell_channel": "CellMask",
            "mito_channel": "MitoTracker",
            "barcode_csv_path": str(info.barcode_csv),
            "image_overlap_percentage": 10,
            **changes,
        },
    )


def test_real_geometry_is_read_from_the_ome_metadata(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    info = _indexed(tmp_path_factory, "geometry-tiny")
    geometry = _experiment(info).geometry
    assert (geometry.cp.pixel_size_um, geometry.sbs.pixel_size_um) == (
        0.65,
        pytest.approx(0.65 * 1.99),
    )
    assert geometry.cp.stage_positions and geometry.sbs.stage_positions
    assert geometry.cp.image_shape == (128, 128) and len(geometry.cp.sampled) == 2
    assert geometry.pairing == "stitch"
    assert "CP pixels are 0.65 µm, SBS 1.2935 µm (x1.99)" in geometry.differences
    data_config = DataConfig(
        workspace_path=info.workspace_path,
        images_path=info.images_path,
        scratch_path=info.scratch_path,
    )
    modules, _ = create_pcp_generic_pipeline(data_config, _experiment(info))
    assert "stitch" in [m.module_id for m in modules]  # arms that differ are stitched
    with pytest.raises(
        ExperimentError, match="SBS: 4 sites/well, 10X, 1.2935 µm/px.*stitching is off"
    ):
        create_pcp_generic_pipeline(data_config, _experiment(info), {"stitch": {"enabled": False}})
    with pytest.raises(
        ExperimentError, match="geometry.pairing is 'same-field' but the arms image different"
    ):
        _experiment(info, geometry={"pairing": "same-field"})


def test_same_field_screen_is_checked_on_its_metadata(tiny_screen) -> None:
    data_config, experiment, _ = tiny_screen
    geometry = experiment.geometry
    assert geometry.read_metadata and geometry.pairing == "same-field"
    assert geometry.cp.pixel_size_um == geometry.sbs.pixel_size_um == 0.65
    # an experiment file of an older version carries no geometry: the pipeline infers it
    create_pcp_generic_pipeline(data_config, experiment.model_copy(update={"geometry": None}))
