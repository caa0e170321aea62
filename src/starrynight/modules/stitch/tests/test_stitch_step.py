"""The stitch step on a real geometry-tiny well (no CellProfiler: the upstream images are the
raw planes, published as cp_illum_apply and sbs_illum_apply would publish them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile

from starrynight import manifest, naming
from starrynight.datasets import generate_dataset
from starrynight.experiments.pcp_generic import PCPGenericExperiment
from starrynight.modules.cp_illum_apply.step import STEP as CP_ILLUM_APPLY
from starrynight.modules.index.index import build_index
from starrynight.modules.stitch.run import StitchError, stitch_unit
from starrynight.modules.stitch.step import StitchParameters, stitched
from starrynight.naming import sbs as sbs_names


@pytest.fixture(scope="module")
def tiny_well(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("geometry-tiny")
    info = generate_dataset(root, "geometry-tiny", seed=0)
    build_index(info.workspace_path, info.images_path)
    experiment = PCPGenericExperiment.from_index(info.workspace_path / "index.yaml", {
        "nuclear_channel": "DAPI", "cell_channel": "CellMask", "mito_channel": "MitoTracker",
        "barcode_csv_path": str(info.workspace_path / "barcodes.csv"), "image_overlap_percentage": 10,
    })  # fmt: skip
    index = pl.read_parquet(naming.index_table(info.workspace_path))
    rows = []
    planes = root / "planes"
    planes.mkdir()
    for r in index.filter(pl.col("is_image")).iter_rows(named=True):
        stack = tifffile.imread(info.images_path / r["key"])
        channels = experiment.cp.channels if r["arm"] == "CP" else experiment.sbs.channels
        for k, channel in enumerate(channels):
            if r["arm"] == "SBS" and channel != experiment.sbs.nuclear_channel:
                continue
            path = planes / f"{r['arm']}_{r['cycle']}_{r['site']}_{channel}.tiff"
            tifffile.imwrite(path, stack[k])
            step = CP_ILLUM_APPLY if r["arm"] == "CP" else sbs_names.SBS_ILLUM_APPLY
            rows.append({"step": step, "kind": "image", "name": channel, "plate": r["plate"], "well": r["well"],
                         "site": int(r["site"]), "cycle": None if r["arm"] == "CP" else int(r["cycle"]),
                         "path": str(path), "producer": "test"})  # fmt: skip
    upstream = pl.DataFrame(rows, schema_overrides={"cycle": pl.Int64, "site": pl.Int64})
    return info, experiment, index, upstream


def test_a_well_is_stitched_registered_and_cropped_into_published_tiles(
    tiny_well, tmp_path: Path
) -> None:
    info, experiment, index, upstream = tiny_well
    assert stitched(experiment)
    out = tmp_path / "Plate1__A1"
    rows = stitch_unit(
        experiment, StitchParameters(), index, info.images_path, upstream, "Plate1", "A1", out
    )
    published = manifest.read_manifests([naming.unit_manifest(out)])
    assert published.height == rows.height
    crops = published.filter(pl.col("kind") == "image")
    # by default about one crop per CP site: 9 sites, 3 x 3 crops
    assert sorted(crops.get_column("tile").unique().to_list()) == [
        f"r{r:02d}c{c:02d}" for r in range(3) for c in range(3)
    ]
    per_tile = crops.group_by("tile").agg(pl.col("name").sort())
    expected = sorted([*experiment.cp.channels, experiment.sbs.nuclear_channel])
    assert all(names == expected for names in per_tile.get_column("name").to_list())
    for tile in ("r00c00", "r02c02"):  # CP and SBS nuclei of a crop are on one pixel grid
        files = crops.filter((pl.col("tile") == tile) & (pl.col("name") == "DAPI")).sort(
            "cycle", nulls_last=False
        )
        cp, sbs = (tifffile.imread(p).astype(float) for p in files.get_column("path").to_list())
        assert cp.shape == sbs.shape
        assert np.corrcoef(cp.ravel(), sbs.ravel())[0, 1] > 0.8
    tables = published.filter(pl.col("kind") == "table").get_column("name").to_list()
    assert sorted(tables) == ["crops", "frame", "registration", "sbs_positions"]


def test_an_untrustworthy_registration_stops_the_well_and_publishes_nothing(
    tiny_well, tmp_path: Path
) -> None:
    info, experiment, index, upstream = tiny_well
    out = tmp_path / "Plate1__A1"
    with pytest.raises(
        StitchError,
        match=r"Plate1/A1: SBS to CP registration is not trustworthy: \d+ nuclei matched",
    ):
        stitch_unit(experiment, StitchParameters(min_matched_nuclei=10_000), index, info.images_path, upstream,
                    "Plate1", "A1", out)  # fmt: skip
    assert not naming.unit_manifest(out).exists()


def test_a_site_without_its_corrected_image_is_an_error_naming_it(
    tiny_well, tmp_path: Path
) -> None:
    info, experiment, index, upstream = tiny_well
    lacking = upstream.filter(~((pl.col("site") == 4) & (pl.col("name") == "CellMask")))
    with pytest.raises(StitchError, match="Plate1/A1 CP site 4: 0 published CellMask image"):
        stitch_unit(
            experiment,
            StitchParameters(),
            index,
            info.images_path,
            lacking,
            "Plate1",
            "A1",
            tmp_path / "u",
        )
