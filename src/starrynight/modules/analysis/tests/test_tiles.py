"""Foci and cells of a stitched well: frame mapping, the SBS seam rule, crop ownership."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from starrynight.algorithms.geometry.register import Registration, Rigid
from starrynight.modules.analysis.join import JoinError
from starrynight.modules.analysis.ownership import (
    CORE_DEPTH,
    one_cell_per_nucleus,
    owned_with_well_coordinates,
)
from starrynight.modules.analysis.tiles import cut_nuclei, foci_in_cp_well

FRAME = {"cp_origin_um": [100.0, 200.0], "cp_pixel_size_um": 0.5, "sbs_pixel_size_um": 1.0,
         "sbs_tile_shape": [10, 10]}  # fmt: skip


def _registration(ty: float = 0.0, tx: float = 0.0) -> Registration:
    return Registration(transform=Rigid(ty=ty, tx=tx), cp_nuclei=10, sbs_nuclei=10, matched=10,
                        median_residual_um=0.1, median_residual_cp_px=0.2, rms_residual_cp_px=0.2)  # fmt: skip


def _foci(rows: list[tuple[int, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"plate": "P", "well": "A1", "site": s, "y": y, "x": x} for s, y, x in rows]
    )


POSITIONS = pl.DataFrame({"site": [0, 1], "y_um": [100.0, 100.0], "x_um": [200.0, 209.0]})


def test_foci_go_through_tile_position_and_registration_into_cp_well_pixels() -> None:
    out = foci_in_cp_well(_foci([(0, 1.5, 2.5)]), POSITIONS, FRAME, _registration(ty=1.0, tx=-2.0))
    # SBS µm (102, 203) + (1, -2) -> CP µm (103, 201) -> CP px ((3/0.5) - 0.5, (1/0.5) - 0.5)
    assert out.select("y_well", "x_well").row(0) == pytest.approx((5.5, 1.5))


def test_a_focus_seen_by_two_overlapping_sbs_tiles_is_kept_once() -> None:
    positions = POSITIONS.with_columns(
        x_um=pl.Series([200.0, 206.0])
    )  # tiles overlap on x 206..210
    # two points, each read by both tiles: x 207.5 µm (nearer tile 0's centre, 205) and x 209 µm
    # (nearer tile 1's centre, 211)
    both = _foci([(0, 4.0, 7.0), (1, 4.0, 1.0), (0, 4.0, 8.5), (1, 4.0, 2.5)])
    out = foci_in_cp_well(both, positions, FRAME, _registration())
    assert out.select("site", "x").rows() == [(0, 7.0), (1, 2.5)]


def test_foci_of_an_unstitched_sbs_site_are_an_error() -> None:
    with pytest.raises(JoinError, match=r"SBS site\(s\) \[7\] have no stitched tile position"):
        foci_in_cp_well(_foci([(7, 1.0, 1.0)]), POSITIONS, FRAME, _registration())


TWO_CROPS = pl.DataFrame({
    "rank": [0, 1], "crop": ["r00c00", "r00c01"], "row": [0, 0], "col": [0, 1],
    "core_y0_px": [0, 0], "core_y1_px": [100, 100], "core_x0_px": [0, 50], "core_x1_px": [50, 100],
    "outer_y0_px": [0, 0], "outer_y1_px": [100, 100], "outer_x0_px": [0, 40], "outer_x1_px": [60, 100],
})  # fmt: skip


def _seen(*cells: tuple[int, int, float, float]) -> pl.DataFrame:
    """Cells as the crops segmented them: (crop rank, cell id, local x, y)."""
    site, cell_id, x, y = zip(*cells, strict=True)
    return pl.DataFrame({"plate": "P", "well": "A1", "site": list(site), "cell_id": list(cell_id),
                         "x": list(x), "y": list(y)})  # fmt: skip


def test_a_cell_in_two_crops_is_kept_only_by_the_crop_whose_core_holds_it() -> None:
    # the same nucleus at well x 45 seen by crop 0 (local x 45) and crop 1 (local x 5); a second
    # at well x 49.4, whose pixel [49, 50) is the last of crop 0's core, 0.1 px from crop 1's
    cells = _seen((0, 1, 45.0, 10.0), (1, 1, 5.0, 10.0), (0, 2, 49.4, 20.0), (1, 2, 9.4, 20.0))
    owned = owned_with_well_coordinates(cells, TWO_CROPS, FRAME)
    # crop 1 keeps the second too (within the slack) but only as the shallower copy
    assert owned.select("tile", "cell_id").rows() == [("r00c00", 1), ("r00c00", 2), ("r00c01", 2)]
    assert owned.get_column(CORE_DEPTH).to_list() == pytest.approx([4.5, 0.1, -0.1])
    assert owned.get_column("well_x_um").to_list() == pytest.approx(
        [200 + 45.5 * 0.5, 200 + 49.9 * 0.5, 200 + 49.9 * 0.5]
    )
    assert owned.get_column("site").is_null().all()
    table, dropped = one_cell_per_nucleus(owned)
    assert dropped == 1 and CORE_DEPTH not in table.columns
    assert table.select("tile", "cell_id").rows() == [("r00c00", 1), ("r00c00", 2)]


@pytest.mark.parametrize(("x_in_0", "x_in_1"), [(49.43, 9.50), (49.60, 9.40)])
def test_a_nucleus_on_a_core_edge_is_kept_once_whichever_side_each_crop_puts_it(
    x_in_0: float, x_in_1: float
) -> None:
    """Crops segment on their own, so one nucleus's centroid moves by a fraction of a pixel
    between them: both may put it in their own core (as seen on a stitched demo well), or
    neither may. The table has it once either way."""
    owned = owned_with_well_coordinates(_seen((0, 7, x_in_0, 30.0), (1, 3, x_in_1, 30.1)),
                                        TWO_CROPS, FRAME)  # fmt: skip
    table, dropped = one_cell_per_nucleus(owned)
    assert owned.height == 2 and dropped == 1 and table.height == 1


def test_neighbouring_nuclei_of_two_crops_are_both_kept() -> None:
    # two nuclei 8 px apart across the core edge, and two close ones within one crop
    owned = owned_with_well_coordinates(
        _seen((0, 1, 46.0, 10.0), (1, 1, 14.0, 10.0), (0, 2, 20.0, 50.0), (0, 3, 21.0, 51.0)),
        TWO_CROPS, FRAME,
    )  # fmt: skip
    table, dropped = one_cell_per_nucleus(owned)
    assert dropped == 0 and table.height == 4


def test_nuclei_cut_by_the_imaged_area_or_the_well_edge_are_found() -> None:
    nuclei = np.zeros((20, 20), np.int32)
    nuclei[2:5, 8:11] = 1  # whole, in the imaged area
    nuclei[9:12, 3:6] = 2  # next to the hole a missing tile left
    nuclei[0:3, 15:18] = 3  # on the crop's top side
    nuclei[15:18, 13:16] = 4  # whole, diagonal to the hole's corner but not touching it
    imaged = np.ones((20, 20), bool)
    imaged[10:14, 6:12] = False
    assert cut_nuclei(nuclei, imaged, (False, False, False, False)).tolist() == [2]
    # the top side is where the well ends: nothing was imaged beyond it
    assert cut_nuclei(nuclei, imaged, (True, False, False, False)).tolist() == [2, 3]
