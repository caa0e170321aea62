"""CP<->SBS registration of stitched wells against the generator's truth, and matched crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile
from click.testing import CliRunner

from starrynight.algorithms.geometry.crop import crop_grid, owner
from starrynight.algorithms.geometry.io import WellImage
from starrynight.algorithms.geometry.register import Registration, Rigid, fit_rigid, register_points
from starrynight.algorithms.geometry.stitch import ncc
from starrynight.cli import main
from starrynight.naming import geometry as names
from tests.geometry.conftest import tile_csv


def _run(*args: str) -> None:
    result = CliRunner().invoke(main, ["stitch", *args])
    assert result.exit_code == 0, result.output


def _stitched(info, tmp: Path, cycles: int = 2) -> dict[str, Path]:
    out = {"CP": tmp / "cp"}
    _run(
        "well",
        "--tiles",
        str(tile_csv(info, "CP", tmp / "cp.csv")),
        "--channels",
        ",".join(info.cp_channels),
        "--register-channel",
        "DAPI",
        "--out",
        str(out["CP"]),
    )
    for k in range(1, cycles + 1):
        out[f"SBS{k}"] = tmp / f"sbs{k}"
        given = ["--positions", str(names.positions_table(out["SBS1"])), "--align"] if k > 1 else []
        _run(
            "well",
            "--tiles",
            str(tile_csv(info, "SBS", tmp / f"sbs{k}.csv", cycle=k)),
            "--channels",
            ",".join(info.sbs_channels),
            "--register-channel",
            "DAPI",
            "--out",
            str(out[f"SBS{k}"]),
            *given,
        )
    _run(
        "register",
        "--cp",
        str(out["CP"]),
        "--sbs",
        str(out["SBS1"]),
        "--cp-channel",
        "DAPI",
        "--sbs-channel",
        "DAPI",
        "--out",
        str(tmp / "reg"),
    )
    out["registration"] = names.registration_file(tmp / "reg")
    return out


def _frame_offset(info, arm: str, positions: Path) -> np.ndarray:
    """Stitched-frame minus true well position (µm), the median over the arm's tiles."""
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
    return np.median(
        np.column_stack([got["y_um"], got["x_um"]])
        - np.column_stack([truth["y_um"], truth["x_um"]]),
        axis=0,
    )


def _truth_error_cp_px(info, out: dict[str, Path]) -> float:
    reg = Registration.model_validate_json(out["registration"].read_text())
    cp_off = _frame_offset(info, "CP", names.positions_table(out["CP"]))
    sbs_off = _frame_offset(info, "SBS", names.positions_table(out["SBS1"]))
    cells = pl.read_parquet(info.truth_cells).filter(
        (pl.col("well") == "A1") & pl.col("in_cp") & pl.col("in_sbs")
    )
    w = np.column_stack([cells["y_um"], cells["x_um"]])
    err = reg.transform.apply(w + sbs_off) - (w + cp_off)
    return float(np.median(np.hypot(*err.T)) / info.cp_pixel_size_um)


@pytest.mark.parametrize("preset", ["geometry-demo", "geometry-nopos"])
def test_registration_is_within_2_cp_pixels_of_truth(
    well_dataset, tmp_path: Path, preset: str
) -> None:
    info = well_dataset(preset)
    out = _stitched(info, tmp_path, cycles=1)
    reg = Registration.model_validate_json(out["registration"].read_text())
    assert reg.median_residual_cp_px < 2.0 and reg.matched > 0.5 * reg.sbs_nuclei
    assert _truth_error_cp_px(info, out) < 2.0


def test_rigid_fit_recovers_rotation_and_shift() -> None:
    rng = np.random.default_rng(0)
    moving = rng.uniform(0, 1000, (400, 2))
    truth = Rigid(angle_deg=0.3, ty=12.5, tx=-40.0)
    fixed = truth.apply(moving) + rng.normal(0, 0.2, moving.shape)
    fitted = fit_rigid(moving, fixed)
    assert (
        abs(fitted.angle_deg - 0.3) < 0.01
        and abs(fitted.ty - 12.5) < 0.1
        and abs(fitted.tx + 40) < 0.1
    )
    # with 30 % of the fixed points missing and 20 % extra, from a 50 µm wrong guess
    keep = rng.random(len(fixed)) > 0.3
    noisy = np.vstack([fixed[keep], rng.uniform(0, 1000, (80, 2))])
    found, dist = register_points(moving, noisy, guess=np.array([50.0, -80.0]), search_um=100)
    assert abs(found.ty - 12.5) < 0.2 and abs(found.tx + 40) < 0.2 and len(dist) >= keep.sum() * 0.9


def test_crop_ownership_partitions_the_well() -> None:
    shape = (1001, 757)
    crops = crop_grid(shape, 3, margin=40)
    rng = np.random.default_rng(1)
    points = np.vstack(
        [rng.uniform(0, 1, (5000, 2)) * shape, [[0, 0], [333.667, 252.0], [1000.99, 756.99]]]
    )
    own = owner(points, shape, 3)
    assert (own >= 0).all()
    for p, k in zip(points, own, strict=True):
        y0, y1, x0, x1 = crops[k].core
        assert y0 <= p[0] < y1 and x0 <= p[1] < x1
    assert owner(np.array([[-0.1, 5.0], [5.0, 757.0]]), shape, 3).tolist() == [-1, -1]
    # cores tile the well without overlap
    cover = np.zeros(shape, int)
    for c in crops:
        cover[c.core[0] : c.core[1], c.core[2] : c.core[3]] += 1
    assert (cover == 1).all()


def test_crops_match_between_arms_and_every_cell_is_owned_once(
    well_dataset, tmp_path: Path
) -> None:
    info = well_dataset("geometry-demo")
    out = _stitched(info, tmp_path, cycles=2)
    _run(
        "crop",
        "--cp",
        str(out["CP"]),
        "--sbs",
        str(out["SBS1"]),
        "--sbs",
        str(out["SBS2"]),
        "--registration",
        str(out["registration"]),
        "--tiles-per-side",
        "2",
        "--margin",
        "40",
        "--out",
        str(tmp_path / "crops"),
    )
    table = pl.read_parquet(names.crops_table(tmp_path / "crops"))
    assert table.height == 4
    cp_well = WellImage(names.stitched_well(out["CP"]))
    for crop in table.iter_rows(named=True):
        cp = tifffile.imread(names.crop_stack(tmp_path / "crops", crop["crop"], "CP"))
        for k in (1, 2):
            sbs = tifffile.imread(names.crop_stack(tmp_path / "crops", crop["crop"], f"SBS_c{k}"))
            assert sbs.shape[1:] == cp.shape[1:] and sbs.shape[0] == len(info.sbs_channels)
            imaged = (sbs[4] > 0) & (cp[0] > 0)
            if imaged.mean() > 0.5:  # both arms image most of this crop: their nuclei must coincide
                a, b = cp[0].astype(float), sbs[4].astype(float)
                assert ncc(a[imaged], b[imaged]) > 0.8
                moved = np.roll(b, 8, axis=1)  # half a nucleus off: clearly worse
                assert ncc(a[imaged], moved[imaged]) < ncc(a[imaged], b[imaged]) - 0.2
    # every truth cell of the CP well (in stitched CP pixels) is owned by exactly one crop core
    cells = pl.read_parquet(info.truth_cells).filter((pl.col("well") == "A1") & pl.col("in_cp"))
    off = _frame_offset(info, "CP", names.positions_table(out["CP"]))
    px = (
        np.column_stack([cells["y_um"], cells["x_um"]]) + off - cp_well.origin_um
    ) / cp_well.pixel_size_um
    own = owner(px, cp_well.shape, 2)
    assert (own >= 0).all()
    counts = np.bincount(own, minlength=4)
    assert counts.sum() == cells.height and (counts > 0).all()
    reg = json.loads(out["registration"].read_text())
    assert reg["median_residual_cp_px"] < 2.0
