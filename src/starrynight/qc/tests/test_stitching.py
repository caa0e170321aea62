"""The report's stitched-wells section from small fake stitch units (files named and listed as
the stitch step publishes them), and its drawings checked element by element."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from starrynight import manifest, naming
from starrynight.algorithms.geometry.preview import png_bytes
from starrynight.algorithms.geometry.well import PAIR_SCHEMA
from starrynight.naming import stitch as names
from starrynight.qc.figures import QCParameters
from starrynight.qc.report import build_report
from starrynight.qc.stitching import cells_map_svg, preview_svg

CROPS = ["r00c00", "r00c01", "r01c00", "r01c01"]


def _arm(shape: tuple[int, int], tile: int, step: int) -> dict:
    """A 2 x 2 tile grid on a well of `shape`, cut into 2 x 2 crops."""
    h, w = shape
    boxes = [{"site": 2 * r + c, "box": [r * (h - tile), c * (w - tile), r * (h - tile) + tile, c * (w - tile) + tile]}
             for r in range(2) for c in range(2)]  # fmt: skip
    cores = [[[y0, x0], [y0, x0 + w / 2], [y0 + h / 2, x0 + w / 2], [y0 + h / 2, x0]]
             for y0 in (0, h / 2) for x0 in (0, w / 2)]  # fmt: skip
    return {"preview_step": step, "well_shape": [h, w], "tile_shape": [tile, tile], "tiles": 4,
            "missing_sites": [], "tile_boxes": boxes, "crop_cores": cores, "crop_ids": CROPS, "channel": "DAPI",
            "pixel_size_um": 0.65, "positions_from": "stage", "pairs": 4, "pairs_rejected": 1,
            "preview": "", "median_pair_residual_px": 0.2, "max_pair_residual_px": 0.4}  # fmt: skip


def fake_stitched_well(
    ws: Path, plate: str, well: str, residual: float = 0.4, matched: int = 300
) -> Path:
    """A finished stitch unit: manifest, QC summary, previews and tile-pair tables."""
    unit = naming.unit_dir(naming.outputs_dir(ws, names.STITCH), naming.unit_id(plate, well))
    summary = {"arms": {"CP": _arm((400, 400), 220, 2), "SBS": _arm((200, 200), 110, 1)},
               "registration": {"matched_nuclei": matched, "cp_nuclei": matched + 10, "sbs_nuclei": matched + 5,
                                "median_residual_cp_px": residual, "rms_residual_cp_px": residual * 1.2,
                                "rotation_deg": 0.01, "shift_um": [1.0, 2.0], "scale": 1.99}}  # fmt: skip
    rows = []
    for arm, folder, table in (("CP", "cp", names.CP_PAIRS), ("SBS", "sbs_c1", names.SBS_PAIRS)):
        summary["arms"][arm]["preview"] = names.preview_image(arm)
        image = unit / names.preview_image(arm)
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(
            png_bytes(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8))
        )
        pairs = unit / folder / "pairs.parquet"
        pairs.parent.mkdir(parents=True)
        pl.DataFrame({"site_a": [0, 0, 1, 2], "site_b": [1, 2, 3, 3], "dy_px": [0.0, 180, 180, 0],
                      "dx_px": [180.0, 0, 0, 180], "score": [0.9, 0.8, 0.9, 0.1],
                      "accepted": [True, True, True, False], "reason": ["", "", "", "low correlation 0.10"],
                      "residual_px": [0.1, 0.2, 0.3, 4.0]}, schema=PAIR_SCHEMA).write_parquet(pairs)  # fmt: skip
        rows += [{"kind": names.PREVIEW_KIND, "name": arm, "path": names.preview_image(arm)},
                 {"kind": names.TABLE_KIND, "name": table, "path": f"{folder}/pairs.parquet"}]  # fmt: skip
    (unit / names.stitch_qc_file()).write_text(json.dumps(summary))
    rows.append({"kind": names.TABLE_KIND, "name": names.STITCH_QC, "path": names.stitch_qc_file()})
    frame = pl.DataFrame(rows).with_columns(step=pl.lit(names.STITCH), plate=pl.lit(plate), well=pl.lit(well),
                                            producer=pl.lit("test"))  # fmt: skip
    listed, missing = manifest.with_sizes(
        pl.concat([pl.DataFrame(schema=manifest.SCHEMA), frame], how="diagonal_relaxed"), unit
    )
    assert not missing
    manifest.write_manifest(listed, unit)
    return unit


def fake_cells(ws: Path, wells: list[tuple[str, str]]) -> None:
    """A per-cell table of a stitched screen: crop r00c00 holds 5 cells per well, r01c01 one."""
    tiles = ["r00c00"] * 5 + ["r01c01"]
    table = naming.analysis.cell_table(ws)
    table.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame([{"plate": p, "well": w, "tile": t, "gene": "G1", "matched_barcode": "AAA", "n_foci": 1}
                  for p, w in wells for t in tiles]).write_parquet(table)  # fmt: skip


def test_a_preview_carries_every_tile_box_and_crop_core_in_well_pixels() -> None:
    arm = _arm((401, 400), 220, 2)
    svg = preview_svg(arm, '<img src="x">')
    assert 'viewBox="0 0 400 402"' in svg  # the preview spans whole pooling steps
    tiles = re.findall(
        r'<rect class="tile" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)">', svg
    )
    assert [tuple(map(float, t)) for t in tiles] == [(0, 0, 220, 220), (180, 0, 220, 220), (0, 181, 220, 220),
                                                     (180, 181, 220, 220)]  # fmt: skip
    crops = re.findall(r'<polygon class="crop" points="([^"]+)">', svg)
    assert len(crops) == 4 and crops[3] == "200.0,200.5 400.0,200.5 400.0,401.0 200.0,401.0"
    assert svg.index('<img src="x">') < svg.index("<svg")  # the outlines lie over the image


def test_the_cells_map_colours_each_crop_by_its_cells_on_one_scale() -> None:
    svg = cells_map_svg(_arm((400, 400), 220, 2), {"r00c00": 10, "r01c01": 5}, (0.0, 10.0))
    fills = re.findall(r'fill="(#[0-9a-f]{6})"><title>crop (\w+): (\d+) cells', svg)
    assert [(c, int(n)) for _, c, n in fills] == [
        ("r00c00", 10),
        ("r00c01", 0),
        ("r01c00", 0),
        ("r01c01", 5),
    ]
    colours = {c: f for f, c, _ in fills}
    assert colours["r00c01"] == colours["r01c00"] != colours["r01c01"] != colours["r00c00"]
    assert re.findall(r">(\d+)</text>", svg) == ["10", "0", "0", "5"]


def test_a_stitched_screen_report_shows_every_well_of_every_plate(tmp_path: Path) -> None:
    wells = [(p, w) for p in ("Plate1", "Plate2") for w in ("A1", "A2", "B1")]
    for plate, well in wells:
        fake_stitched_well(
            tmp_path, plate, well, residual=2.5 if (plate, well) == ("Plate2", "B1") else 0.4
        )
    fake_cells(tmp_path, wells)
    page = build_report(tmp_path).read_text()
    section = page[page.index("<h2>Stitched wells</h2>") :]
    assert "6 of 6 well(s) stitched" in section
    for plate, well in wells:
        card = re.search(
            rf'<figure class="well" id="stitch-{plate}-{well}">(.*?)</figure>', section, re.S
        )
        assert card, (plate, well)
        assert card.group(1).count("data:image/png;base64,") == 2  # CP and SBS previews
        assert card.group(1).count('class="tile"') == 8 and card.group(1).count('class="crop"') == 8
        assert "crop r00c00: 5 cells" in card.group(1)
        assert f"<td>{plate}</td><td>{well}</td>" in section  # the per-well table
    assert re.search(r'<tr class="fail"><td>registration_residual_cp_px</td><td>2.5</td>', page)
    assert re.search(r'<tr class="warn"><td>overlap_pairs_accepted</td><td>0.75</td>', page)
    assert "rejected tile pairs (12)" in section and "low correlation 0.10" in section


def test_a_well_that_did_not_stitch_is_named(tiny_workspace) -> None:
    data_config, experiment, _ = tiny_workspace
    ws = Path(data_config.workspace_path)
    experiment.to_json(naming.experiment_json(ws))
    expected = [(p, w) for p in experiment.plates for w in experiment.wells[p]]
    assert len(expected) >= 2
    fake_stitched_well(ws, *expected[0])
    page = build_report(ws).read_text()
    assert f"1 of {len(expected)} well(s) stitched" in page
    assert re.search(
        rf"Not stitched \(the step failed or has not run\): [^<]*{expected[1][0]} {expected[1][1]}",
        page,
    )


def test_a_same_field_screen_has_no_stitch_section_nor_figures(tmp_path: Path) -> None:
    page = build_report(tmp_path).read_text()
    assert "Stitched wells" not in page and "registration_residual_cp_px" not in page


def test_the_stitch_thresholds_are_configurable(tmp_path: Path) -> None:
    fake_stitched_well(tmp_path, "Plate1", "A1", residual=0.8, matched=50)
    default = build_report(tmp_path).read_text()
    assert re.search(
        r'<tr class="pass"><td>registration_residual_cp_px</td><td>0.8</td><td>&lt;= 1</td>',
        default,
    )
    assert re.search(r'<tr class="warn"><td>registration_matched_nuclei</td><td>50</td>', default)
    strict = QCParameters(registration_residual_cp_px={"warn": 0.5, "fail": 0.7},
                          registration_matched_nuclei={"warn": 40, "fail": 10})  # fmt: skip
    page = build_report(tmp_path, params=strict).read_text()
    assert re.search(r'<tr class="fail"><td>registration_residual_cp_px</td><td>0.8</td>', page)
    assert re.search(r'<tr class="pass"><td>registration_matched_nuclei</td><td>50</td>', page)


def test_stitch_previews_load_in_headless_chromium(tmp_path: Path) -> None:
    from starrynight.qc.browser import BrowserError, render

    for plate, well in [("Plate1", "A1"), ("Plate2", "A1")]:
        fake_stitched_well(tmp_path, plate, well)
    report = build_report(tmp_path)
    try:
        result = render(report, tmp_path / "report.png")
    except BrowserError as err:
        pytest.fail(f"{err} (scripts/install_browser.sh installs it)")
    assert result["images"] == report.read_text().count("<img ") and result["broken"] == 0
