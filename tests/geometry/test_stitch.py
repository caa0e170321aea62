"""Stitching: overlap registration, the global solution, fusion, and whole wells vs truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import ndimage

from starrynight.algorithms.geometry.acquisition import GeometryError
from starrynight.algorithms.geometry.fuse import fuse
from starrynight.algorithms.geometry.io import WellImage
from starrynight.algorithms.geometry.ome import OmeGeometry
from starrynight.algorithms.geometry.stitch import (
    PairMeasure,
    initial_positions,
    measure_pair,
    solve_positions,
)
from starrynight.cli import main
from starrynight.naming import geometry as names
from tests.geometry.conftest import rows, tile_csv


def _texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0) * 10_000


def test_measure_pair_recovers_a_subpixel_offset() -> None:
    field = _texture((300, 600))
    a = field[50:250, 0:200]
    true = np.array([3.4, 151.7])  # b's corner relative to a's: a 48 px overlap
    b = ndimage.shift(field, -true - (50, 0), order=3)[:200, :200]
    dy, dx, score, reason = measure_pair(a, b, np.array([0.0, 150.0]), max_error=10)
    assert reason == "" and score > 0.9
    assert abs(dy - true[0]) < 0.2 and abs(dx - true[1]) < 0.2


def test_measure_pair_rejects_empty_overlaps_and_implausible_offsets() -> None:
    flat = np.full((200, 200), 100.0)
    assert measure_pair(flat, flat, np.array([0.0, 180.0]), 10)[3] == "flat overlap"
    field = _texture((300, 600), seed=1)
    a, b = field[:200, :200], field[:200, 150:350]  # true offset 150, prior says 180
    assert "from the prior" in measure_pair(a, b, np.array([0.0, 180.0]), max_error=10)[3]


def test_global_solution_rejects_a_pair_that_disagrees_with_the_rest() -> None:
    prior = np.array([(y, x) for y in (0, 90, 180) for x in (0, 90, 180)], float)
    truth = prior + np.random.default_rng(0).uniform(-3, 3, prior.shape)
    edges = [(i, i + 1) for i in range(9) if i % 3 < 2] + [(i, i + 3) for i in range(6)]
    pairs = [PairMeasure(i, j, *(truth[j] - truth[i]), 1.0, True) for i, j in edges]
    pairs[4] = PairMeasure(
        pairs[4].i, pairs[4].j, pairs[4].dy + 9.0, pairs[4].dx - 7.0, 1.0, True
    )  # wrong
    solved, verdicts = solve_positions(prior, pairs)
    assert [k for k, p in enumerate(verdicts) if not p.accepted] == [4]
    assert verdicts[4].reason.startswith("residual")
    assert np.abs((solved - solved[0]) - (truth - truth[0])).max() < 0.05


def test_mixed_stage_positions_are_an_error_not_a_mix_of_frames() -> None:
    geoms = [
        OmeGeometry(width=10, height=10, position_um=(0.0, 0.0)),
        OmeGeometry(width=10, height=10),
    ]
    with pytest.raises(GeometryError, match="1 of 2 tiles have no stage position"):
        initial_positions([0, 1], geoms, 0.65, None, (10, 10))


def test_fusion_streams_blocks_and_takes_the_nearest_tile() -> None:
    tiles = [np.full((10, 10), v, np.uint16) for v in (1, 2)]
    positions = np.array([[0.0, 0.0], [0.0, 8.0]])
    out = np.zeros((1, 10, 18), np.uint16)
    reads: list[int] = []

    def read(t: int, plane: int) -> np.ndarray:
        reads.append(t)
        return tiles[t]

    def write(plane: int, y0: int, x0: int, block: np.ndarray) -> None:
        out[plane, y0 : y0 + block.shape[0], x0 : x0 + block.shape[1]] = block

    assert fuse(read, positions, (10, 10), 1, write, block=4) == (10, 18)
    assert out[0, 0].tolist() == [1] * 9 + [2] * 9  # the seam is midway through the overlap
    assert sorted(reads) == [0, 1]  # each tile plane read once


def _errors_px(info, arm: str, positions: Path) -> np.ndarray:
    """Per tile, distance between stitched and true position (arm pixels), common offset removed."""
    truth = (
        pl.read_parquet(info.truth_tiles)
        .filter(
            (pl.col("arm") == arm)
            & (pl.col("well") == "A1")
            & pl.col("present")
            & (pl.col("cycle").is_null() | (pl.col("cycle") == 1))
        )
        .sort("site")
    )
    got = pl.read_parquet(positions).sort("site")
    assert got["site"].to_list() == truth["site"].to_list()
    d = np.column_stack([got["y_um"], got["x_um"]]) - np.column_stack(
        [truth["y_um"], truth["x_um"]]
    )
    d = (d - np.median(d, axis=0)) / truth["pixel_size_um"][0]
    return np.hypot(*d.T)


def _stitch(info, arm: str, out: Path, *extra: str) -> Path:
    channels = ",".join(info.cp_channels if arm == "CP" else info.sbs_channels)
    result = CliRunner().invoke(
        main,
        [
            "stitch",
            "well",
            "--tiles",
            str(tile_csv(info, arm, out.with_suffix(".csv"))),
            "--channels",
            channels,
            "--register-channel",
            "DAPI",
            "--out",
            str(out),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("preset", ["geometry-demo", "geometry-round"])
def test_stitched_positions_are_within_a_pixel_of_truth(
    well_dataset, tmp_path: Path, preset: str
) -> None:
    info = well_dataset(preset)
    for arm in ("CP", "SBS"):
        out = _stitch(info, arm, tmp_path / arm)
        errors = _errors_px(info, arm, names.positions_table(out))
        prior = json.loads(names.stitch_report(out).read_text())
        assert prior["positions_from"] == "stage" and prior["missing_sites"] == []
        assert np.median(errors) < 1.0, (arm, errors)
        well = WellImage(names.stitched_well(out))
        assert well.channels == (info.cp_channels if arm == "CP" else info.sbs_channels)
        assert well.pixel_size_um == (
            info.cp_pixel_size_um if arm == "CP" else info.sbs_pixel_size_um
        )


def test_without_stage_positions_the_layout_gives_the_start(well_dataset, tmp_path: Path) -> None:
    info = well_dataset("geometry-nopos")
    out = _stitch(info, "CP", tmp_path / "cp", "--rows", ",".join(map(str, rows(info, "CP"))))
    assert json.loads(names.stitch_report(out).read_text())["positions_from"] == "layout"
    assert np.median(_errors_px(info, "CP", names.positions_table(out))) < 1.0
    # inferred from the site count (16 = a 4 x 4 grid) when --rows is left out
    again = _stitch(info, "CP", tmp_path / "cp2")
    assert json.loads(names.stitch_report(again).read_text())["positions_from"] == "layout"


def test_a_missing_tile_is_reported_not_fatal(well_dataset, tmp_path: Path) -> None:
    info = well_dataset("geometry-missing")
    out = _stitch(info, "CP", tmp_path / "cp", "--expected-sites", "16")
    report = json.loads(names.stitch_report(out).read_text())
    assert report["missing_sites"] == [5] and report["tiles"] == 15
    assert np.median(_errors_px(info, "CP", names.positions_table(out))) < 1.0


def test_bad_tile_table_is_one_line(tmp_path: Path) -> None:
    table = tmp_path / "tiles.csv"
    table.write_text("site,file\n0,a.tiff\n")
    result = CliRunner().invoke(
        main,
        [
            "stitch",
            "well",
            "--tiles",
            str(table),
            "--channels",
            "DAPI",
            "--register-channel",
            "DAPI",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{table}: missing column(s) path (need site,path)" in result.output


def test_a_crash_while_fusing_leaves_no_store(well_dataset, tmp_path: Path) -> None:
    info = well_dataset("geometry-tiny")
    csv = tile_csv(info, "CP", tmp_path / "cp.csv")
    table = pl.read_csv(csv)
    broken = tmp_path / "broken.ome.tiff"
    data = Path(table["path"][3]).read_bytes()
    broken.write_bytes(data[: len(data) - 5000])  # header intact, pixels cut short
    table.with_columns(
        path=pl.when(pl.col("site") == 3).then(pl.lit(str(broken))).otherwise("path")
    ).write_csv(csv)
    result = CliRunner().invoke(
        main,
        [
            "stitch",
            "well",
            "--tiles",
            str(csv),
            "--channels",
            "DAPI,CellMask,MitoTracker",
            "--register-channel",
            "DAPI",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code != 0
    assert not names.stitched_well(tmp_path / "out").exists()
    assert [p.name for p in (tmp_path / "out").glob(".*")] == []
