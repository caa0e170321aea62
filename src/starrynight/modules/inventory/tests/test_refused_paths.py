"""Paths no step could use are refused when the images are listed, naming them and why."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import fsspec
import pytest
from click.testing import CliRunner

from starrynight.cli import main
from starrynight.config import RemotePath
from starrynight.modules.inventory.inventory import InventoryError, build_inventory

IMAGE = "ds/S1/B1/images/P1/20X_CP_P1/WellA1_PointA1_0000_ChannelDAPI_Seq0000.ome.tiff"


def _tree(root: Path) -> Path:
    (root / IMAGE).parent.mkdir(parents=True)
    (root / IMAGE).write_bytes(b"II*\x00")
    return root / IMAGE


def _inventory(images: Path, workspace: Path) -> str:
    result = CliRunner().invoke(main, ["inventory", "gen", "-i", str(images), "-w", str(workspace)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    return result.output


def test_a_fifo_named_like_an_image_is_refused(tmp_path: Path) -> None:
    image = _tree(tmp_path / "images")
    fifo = image.with_name("WellA1_PointA1_0001_ChannelDAPI_Seq0001.ome.tiff")
    os.mkfifo(fifo)
    output = _inventory(tmp_path / "images", tmp_path / "ws")  # before: CellProfiler hung on it
    assert "WellA1_PointA1_0001" in output and "a FIFO (named pipe), not a regular file" in output


def test_a_socket_is_refused(tmp_path: Path) -> None:
    _tree(tmp_path / "images")
    path = tmp_path / "images" / "s.tif"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(InventoryError, match="s.tif.*a socket"):
            build_inventory(tmp_path / "images", tmp_path / "ws")


@pytest.mark.parametrize("name", ["Plate\n2", "Plate\t2", "Plate\r2"])
def test_control_characters_in_folder_names_are_refused(tmp_path: Path, name: str) -> None:
    image = _tree(tmp_path / "images")
    folder = tmp_path / "images" / "ds/S1/B1/images" / name / "20X_CP_P1"
    folder.mkdir(parents=True)
    (folder / image.name).write_bytes(b"II*\x00")
    output = _inventory(tmp_path / "images", tmp_path / "ws")
    assert repr(name)[1:-1] in output and "control character" in output


def test_names_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    _tree(tmp_path / "images")
    with open(os.fsencode(tmp_path / "images") + b"/bad\xff.tif", "wb") as handle:
        handle.write(b"x")
    with pytest.raises(InventoryError, match="not valid UTF-8"):
        build_inventory(tmp_path / "images", tmp_path / "ws")


def test_object_store_keys_with_a_newline_are_refused(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/refused-bucket/images/a\nb.tif", b"x")
    fs.pipe("/refused-bucket/images/ok.tif", b"x")
    with pytest.raises(InventoryError, match=r"'a\\nb.tif'"):
        build_inventory(RemotePath("memory://refused-bucket/images"), tmp_path / "ws")
