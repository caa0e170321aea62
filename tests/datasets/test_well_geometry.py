"""The well-geometry presets: a continuous field imaged by two grids, with truth in well µm."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import tifffile

from starrynight.algorithms.geometry.ome import read_ome_geometry
from starrynight.datasets import DatasetInfo, generate_dataset
from starrynight.datasets.cli import GEOMETRY_PRESETS
from starrynight.datasets.presets import PRESETS, Preset

CROSSTALK_BASES = "CATG"  # plane order of the SBS base channels


@pytest.fixture(scope="module")
def info(tmp_path_factory: pytest.TempPathFactory) -> DatasetInfo:
    return generate_dataset(tmp_path_factory.mktemp("gt"), "geometry-tiny", seed=0)


def _files(info: DatasetInfo, folder: str) -> list:
    return sorted(info.images_path.rglob(f"{folder}/WellA1_*.ome.tiff"))


def test_presets_have_real_screen_sizes() -> None:
    for name in (
        "geometry-tiny",
        "geometry-demo",
        "geometry-round",
        "geometry-nopos",
        "geometry-missing",
    ):
        p = PRESETS[name]
        assert p.cycles >= 8 and p.library_size >= 1000 and p.min_hamming >= 2
        assert p.sbs_pixel_size_um / p.cp_pixel_size_um == pytest.approx(1.99)
    assert PRESETS["geometry-round"].cp_rows == (4, 6, 8, 8, 8, 8, 6, 4)
    assert set(GEOMETRY_PRESETS) | {"tiny", "demo"} == set(PRESETS)
    with pytest.raises(ValueError, match="a 'well' geometry needs both acquisition layouts"):
        Preset(name="x", geometry="well")


def test_library_has_several_guides_per_gene_and_controls(info: DatasetInfo) -> None:
    lib = pl.read_csv(info.barcode_csv)
    assert lib.height == 1200 and lib["sgRNA"].n_unique() == 1200
    codes = np.array([list(s) for s in lib["sgRNA"]])
    distances = (codes[:, None, :] != codes[None, :, :]).sum(axis=2)
    assert distances[np.triu_indices(len(codes), 1)].min() >= 2
    guides = lib.filter(pl.col("gene_symbol") != "nontargeting").group_by("gene_symbol").len()
    assert guides["len"].min() == 4 and (lib["gene_symbol"] == "nontargeting").sum() == 100


def test_arms_have_their_own_grids_pixel_sizes_and_positions(info: DatasetInfo) -> None:
    cp, sbs = _files(info, "20X_CP_*"), _files(info, "10X_c1_SBS-1")
    assert (len(cp), len(sbs)) == (9, 4)
    tiles = pl.read_parquet(info.truth_tiles)
    for arm, files, pixel in (("CP", cp, 0.65), ("SBS", sbs, 0.65 * 1.99)):
        truth = tiles.filter(
            (pl.col("arm") == arm) & (pl.col("cycle").is_null() | (pl.col("cycle") == 1))
        )
        rows = truth.sort("site").to_dicts()
        recorded = []
        for f, row in zip(files, rows, strict=True):
            g = read_ome_geometry(f)
            assert g.pixel_size_um == pytest.approx(pixel)
            assert g.position_um == pytest.approx((row["recorded_y_um"], row["recorded_x_um"]))
            recorded.append(g.position_um)
        # the stage lands within its jitter (+-3 px) of where it was sent, never exactly there
        true = np.array([(r["y_um"], r["x_um"]) for r in rows])
        relative = (true - true[0]) - (np.array(recorded) - recorded[0])
        assert 0 < np.abs(relative).max() <= 2 * 3 * pixel + 1e-9


def _pixel(row: dict, yx_um: np.ndarray) -> tuple[int, int]:
    return tuple(np.floor((yx_um - (row["y_um"], row["x_um"])) / row["pixel_size_um"]).astype(int))


def test_truth_nuclei_are_bright_in_both_arms(info: DatasetInfo) -> None:
    tiles = pl.read_parquet(info.truth_tiles)
    cells = pl.read_parquet(info.truth_cells).filter(pl.col("in_cp") & pl.col("in_sbs"))
    assert cells.height > 20
    for arm, folder, plane in (("CP", "20X_CP_*", 0), ("SBS", "10X_c1_SBS-1", 4)):
        files = _files(info, folder)
        truth = tiles.filter(
            (pl.col("arm") == arm) & (pl.col("cycle").is_null() | (pl.col("cycle") == 1))
        )
        rows = truth.sort("site").to_dicts()
        images = [tifffile.imread(f)[plane].astype(float) for f in files]
        on, off = [], []
        for c in cells.iter_rows(named=True):
            yx = np.array([c["y_um"], c["x_um"]])
            for row, img in zip(rows, images, strict=True):
                y, x = _pixel(row, yx)
                if 2 <= y < img.shape[0] - 2 and 2 <= x < img.shape[1] - 2:
                    on.append(img[y, x])
                    off.append(np.median(img))
                    break
        assert np.median(on) > 3 * np.median(off), arm


def test_spots_spell_their_barcode_cycle_by_cycle(info: DatasetInfo) -> None:
    tiles = pl.read_parquet(info.truth_tiles).filter(pl.col("arm") == "SBS")
    spots = pl.read_parquet(info.truth_spots).filter(pl.col("amplitude") > 1.0)
    right = total = 0
    for k in (1, 4, 8):
        files = _files(info, f"10X_c{k}_SBS-{k}")
        rows = tiles.filter(pl.col("cycle") == k).sort("site").to_dicts()
        images = [tifffile.imread(f)[:4].astype(float) for f in files]
        for s in spots.iter_rows(named=True):
            for row, img in zip(rows, images, strict=True):
                y, x = _pixel(row, np.array([s["y_um"], s["x_um"]]))
                if 1 <= y < img.shape[1] - 1 and 1 <= x < img.shape[2] - 1:
                    total += 1
                    right += CROSSTALK_BASES[int(np.argmax(img[:, y, x]))] == s["barcode"][k - 1]
                    break
    assert total > 50 and right / total > 0.8


def test_variants_without_positions_and_with_a_missing_tile(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    nopos = generate_dataset(tmp_path_factory.mktemp("nopos"), "geometry-nopos", seed=0)
    assert read_ome_geometry(_files(nopos, "20X_CP_*")[0]).position_um is None
    assert read_ome_geometry(_files(nopos, "20X_CP_*")[0]).pixel_size_um == 0.65
    missing = generate_dataset(tmp_path_factory.mktemp("missing"), "geometry-missing", seed=0)
    sites = [int(f.name.split("_")[2]) for f in _files(missing, "20X_CP_*")]
    assert 5 not in sites and len(sites) == 15
    tiles = pl.read_parquet(missing.truth_tiles).filter(pl.col("arm") == "CP")
    assert tiles.filter(~pl.col("present"))["site"].to_list() == [5]
    cells = pl.read_parquet(missing.truth_cells)
    # a nucleus whole in the imaged area has its centroid there too; the missing tile and the
    # well's outer edge cut some whose centroid was imaged
    assert not cells.filter(pl.col("nucleus_in_cp") & ~pl.col("in_cp")).height
    cut = cells.filter(pl.col("in_cp") & ~pl.col("nucleus_in_cp"))
    assert 0 < cut.height < 0.15 * cells.filter(pl.col("in_cp")).height
    gone = tiles.filter(~pl.col("present")).row(0, named=True)
    size_um = gone["width"] * gone["pixel_size_um"]
    around = cut.filter(
        pl.col("y_um").is_between(gone["y_um"] - 15, gone["y_um"] + size_um + 15)
        & pl.col("x_um").is_between(gone["x_um"] - 15, gone["x_um"] + size_um + 15)
    )
    assert around.height > 0
