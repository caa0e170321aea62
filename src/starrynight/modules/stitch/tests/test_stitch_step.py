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
    assert sorted(tables) == ["cp_pairs", "cp_positions", "crops", "frame", "registration",
                              "sbs_pairs", "sbs_positions", "stitch_qc"]  # fmt: skip
    previews = published.filter(pl.col("kind") == "preview")
    assert sorted(previews.get_column("name").to_list()) == ["CP", "SBS"]


def test_a_well_publishes_what_its_qc_report_shows(tiny_well, tmp_path: Path) -> None:
    """Previews (the mean of each block of the stitched nuclei), tile boxes, crop cores in both
    arms, tile pairs with residuals and the registration figures, read from what was written."""
    import json

    import zarr
    from PIL import Image

    from starrynight.naming import geometry as geo_names
    from starrynight.naming import stitch as names

    info, experiment, index, upstream = tiny_well
    out = tmp_path / "Plate1__A1"
    stitch_unit(
        experiment, StitchParameters(), index, info.images_path, upstream, "Plate1", "A1", out
    )
    qc = json.loads((out / names.stitch_qc_file()).read_text())
    registration = json.loads(geo_names.registration_file(out).read_text())
    assert qc["registration"]["matched_nuclei"] == registration["matched"] >= 20
    assert qc["registration"]["scale"] == pytest.approx(1.2935 / 0.65, rel=1e-3)
    for arm, folder, sites in (("CP", "cp", 9), ("SBS", "sbs_c1", 4)):
        summary = qc["arms"][arm]
        well = zarr.open_group(out / folder / "well.ome.zarr", mode="r")["0"]
        h, w = well.shape[1:]
        assert summary["well_shape"] == [h, w]
        preview = np.asarray(Image.open(out / names.preview_image(arm)))
        step = summary["preview_step"]
        assert max(preview.shape) <= 320 and preview.shape == (-(-h // step), -(-w // step))
        dapi = np.asarray(well[0], float)
        padded = np.zeros((preview.shape[0] * step, preview.shape[1] * step))
        padded[:h, :w] = dapi
        pooled = padded.reshape(preview.shape[0], step, preview.shape[1], step).mean(axis=(1, 3))
        assert np.corrcoef(pooled.ravel(), preview.ravel().astype(float))[0, 1] > 0.95
        boxes = np.array([b["box"] for b in summary["tile_boxes"]])
        assert len(boxes) == sites == summary["tiles"]
        # the tiles cover the well from edge to edge (the fusion places them from 0)
        extent = [boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]
        assert extent == pytest.approx([0, 0, h, w], abs=0.5)
        assert len(summary["crop_cores"]) == len(summary["crop_ids"]) == 9
        pairs = pl.read_parquet(out / folder / "pairs.parquet")
        assert (
            pairs.height == summary["pairs"] > 0
            and pairs.get_column("residual_px").is_finite().all()
        )
        assert int((~pairs.get_column("accepted")).sum()) == summary["pairs_rejected"]
    # the crop cores partition the CP well; mapped into SBS they land inside the SBS well
    cp_cores = np.array(qc["arms"]["CP"]["crop_cores"])
    area = sum((c[2, 0] - c[0, 0]) * (c[2, 1] - c[0, 1]) for c in cp_cores)
    assert area == qc["arms"]["CP"]["well_shape"][0] * qc["arms"]["CP"]["well_shape"][1]
    sbs_cores = np.array(qc["arms"]["SBS"]["crop_cores"])
    sbs_h, sbs_w = qc["arms"]["SBS"]["well_shape"]
    assert sbs_cores[..., 0].min() > -5 and sbs_cores[..., 0].max() < sbs_h + 5
    assert sbs_cores[..., 1].min() > -5 and sbs_cores[..., 1].max() < sbs_w + 5


def test_a_well_whose_raw_images_are_behind_a_url_stitches_as_a_local_one(
    tiny_well, tmp_path: Path
) -> None:
    """The raw files' OME-XML (stage positions, pixel size) read through fsspec (`memory://`)."""
    import fsspec

    from starrynight.config import to_path
    from starrynight.naming import geometry as geo_names

    info, experiment, index, upstream = tiny_well
    fs = fsspec.filesystem("memory")
    for key in index.filter(pl.col("is_image")).get_column("key").to_list():
        fs.pipe_file(f"/stitch-url-test/images/{key}", (info.images_path / key).read_bytes())
    runs = {}
    for name, root in (
        ("local", info.images_path),
        ("url", to_path("memory://stitch-url-test/images")),
    ):
        out = tmp_path / name / "Plate1__A1"
        stitch_unit(experiment, StitchParameters(), index, root, upstream, "Plate1", "A1", out)
        runs[name] = out
    for folder in ("cp", "sbs_c1"):
        local, url = (
            pl.read_parquet(geo_names.positions_table(runs[n] / folder)).drop("path")
            for n in ("local", "url")
        )
        assert local.equals(url) and url.get_column("y_um").n_unique() > 1  # stage positions read
    assert (
        geo_names.registration_file(runs["url"]).read_text()
        == geo_names.registration_file(runs["local"]).read_text()
    )


def test_a_missing_raw_image_behind_a_url_is_an_error_naming_it(tiny_well, tmp_path: Path) -> None:
    from starrynight.config import to_path

    info, experiment, index, upstream = tiny_well
    with pytest.raises(
        StitchError, match=r"Plate1/A1 CP site 0: raw image memory://nowhere/images/.*"
    ):
        stitch_unit(experiment, StitchParameters(), index, to_path("memory://nowhere/images"), upstream,
                    "Plate1", "A1", tmp_path / "u")  # fmt: skip


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
