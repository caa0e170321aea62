"""Acquisition layouts and OME stage metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile

from starrynight.algorithms.geometry.acquisition import (
    ROUND_ROWS,
    AcquisitionLayout,
    GeometryError,
    grid_cells,
    infer_rows,
    layout_positions,
    neighbour_pairs,
)
from starrynight.algorithms.geometry.ome import ome_metadata, parse_ome_geometry, read_ome_geometry


@pytest.mark.parametrize("n", sorted(ROUND_ROWS))
def test_every_round_layout_holds_its_site_count_and_is_symmetric(n: int) -> None:
    rows = infer_rows(n)
    assert sum(rows) == n and rows == rows[::-1]
    assert AcquisitionLayout(rows=rows).kind == "round"


def test_square_and_unknown_site_counts() -> None:
    assert infer_rows(16) == (4, 4, 4, 4)
    assert AcquisitionLayout(rows=infer_rows(9)).kind == "square"
    with pytest.raises(
        GeometryError, match="15 sites per well match no known circular acquisition"
    ):
        infer_rows(15)


def test_snake_order_alternates_and_short_rows_are_centred() -> None:
    cells = grid_cells(AcquisitionLayout(rows=(2, 4, 2), order="snake"))
    assert cells.tolist() == [[0, 1], [0, 2], [1, 3], [1, 2], [1, 1], [1, 0], [2, 1], [2, 2]]
    raster = grid_cells(AcquisitionLayout(rows=(2, 4, 2), order="raster"))
    assert raster[2:6, 1].tolist() == [0, 1, 2, 3]


def test_layout_positions_step_by_tile_minus_overlap() -> None:
    pos = layout_positions(
        AcquisitionLayout(rows=(3, 3), order="raster", overlap_percentage=10), (100, 200)
    )
    assert pos[1].tolist() == [0, 180] and pos[3].tolist() == [90, 0]
    pairs = {tuple(p) for p in neighbour_pairs(pos, (100, 200)).tolist()}
    assert pairs == {
        (0, 1),
        (1, 2),
        (3, 4),
        (4, 5),
        (0, 3),
        (1, 4),
        (2, 5),
    }  # no diagonal neighbours


def test_ome_pixel_size_and_stage_position_round_trip() -> None:
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        np.zeros((2, 8, 12), np.uint16),
        ome=True,
        photometric="minisblack",
        metadata=ome_metadata(["DAPI", "GFP"], 0.65, (1234.5, 678.25)),
    )
    buf.seek(0)
    geometry = read_ome_geometry(buf)
    assert (geometry.width, geometry.height, geometry.pixel_size_um) == (12, 8, 0.65)
    assert geometry.position_um == (1234.5, 678.25)


def test_ome_units_are_converted_to_micrometres() -> None:
    xml = (
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0">'
        '<Pixels ID="Pixels:0" SizeX="4" SizeY="4" PhysicalSizeX="650" PhysicalSizeXUnit="nm">'
        '<Plane TheC="0" PositionX="1.5" PositionXUnit="mm" PositionY="2000"/></Pixels></Image></OME>'
    )
    geometry = parse_ome_geometry(xml)
    assert geometry.pixel_size_um == pytest.approx(0.65)
    assert geometry.position_um == (2000.0, 1500.0)


def test_a_plain_tiff_has_no_geometry_and_a_non_tiff_is_an_error() -> None:
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((5, 7), np.uint16))
    buf.seek(0)
    geometry = read_ome_geometry(buf)
    assert (geometry.height, geometry.width, geometry.pixel_size_um, geometry.position_um) == (
        5,
        7,
        None,
        None,
    )
    with pytest.raises(ValueError, match="not a readable TIFF"):
        read_ome_geometry(io.BytesIO(b"not a tiff"))
