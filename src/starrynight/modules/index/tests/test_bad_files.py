"""Files the index must not pass on: non-ASCII folders parse, unusable files are flagged."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile
from click.testing import CliRunner

from starrynight import naming
from starrynight.cli import main
from starrynight.index_table import IndexBuildError, load_index
from starrynight.modules.index import usable
from starrynight.modules.index.index import build_index
from starrynight.modules.index.tests.screen import screen_keys, tiny_tiff, write_files
from starrynight.modules.index.usable import file_check, file_problem


@pytest.mark.parametrize("plate", ["Plätte2", "プレート", "Plate😀", "Płyta-ż_1"])
def test_non_ascii_folders_are_parsed(tmp_path: Path, plate: str) -> None:
    images = tmp_path / "images"
    write_files(images, screen_keys({"Plate1": ["A1"], plate: ["B2"]}))
    build_index(tmp_path / "ws", images)
    index = load_index(naming.index_manifest(tmp_path / "ws"))
    unparsed = pl.read_parquet(naming.unparsed_table(tmp_path / "ws"))
    assert unparsed.height == 0, unparsed.rows()  # before: every file under the plate unparsed
    assert sorted(index.get_column("plate").unique()) == sorted(["Plate1", plate])
    channels = index.filter(pl.col("plate") == plate, pl.col("arm") == "CP")["channels"][0]
    assert channels.to_list() == ["DAPI", "CellMask", "MitoTracker"]


def _multi_page_tiff(path: Path, pages: int = 3) -> bytes:
    tifffile.imwrite(path, np.ones((pages, 16, 16), np.uint16), photometric="minisblack")
    return path.read_bytes()


def test_empty_and_truncated_images_are_listed_as_unusable(tmp_path: Path) -> None:
    images = tmp_path / "images"
    keys = screen_keys({"P1": ["A1"]}, cp_sites=4)
    write_files(images, keys)
    cp = [k for k in keys if "_CP_" in k]
    good = _multi_page_tiff(tmp_path / "good.tiff")
    (images / cp[0]).write_bytes(b"")
    (images / cp[1]).write_bytes(good[: len(good) - 100])  # last page's pixels cut off
    (images / cp[2]).write_bytes(b"PK\x03\x04 not a tiff at all")
    (images / cp[3]).write_bytes(good)
    result = CliRunner().invoke(
        main, ["index", "gen", "-w", str(tmp_path / "ws"), "-i", str(images)]
    )
    assert result.exit_code == 0, result.output
    unparsed = dict(
        pl.read_parquet(naming.unparsed_table(tmp_path / "ws")).select("key", "reason").rows()
    )
    assert unparsed[cp[0]] == "unusable: empty file (0 bytes)"
    assert "truncated" in unparsed[cp[1]] and re.search("page (directory )?3", unparsed[cp[1]])
    assert "not a TIFF file" in unparsed[cp[2]]
    assert cp[3] not in unparsed
    indexed = load_index(naming.index_manifest(tmp_path / "ws")).get_column("key").to_list()
    assert cp[3] in indexed and not set(cp[:3]) & set(indexed)
    assert "unusable: empty file (0 bytes)" in result.output  # the summary names them


def test_header_check_reads_big_and_big_endian_tiffs(tmp_path: Path) -> None:
    for name, options in (("big.tif", {"bigtiff": True}), ("be.tif", {"byteorder": ">"}),
                          ("tiled.tif", {"tile": (16, 16)})):  # fmt: skip
        path = tmp_path / name
        tifffile.imwrite(path, np.ones((2, 32, 48), np.uint16), photometric="minisblack", **options)
        assert file_problem(path, path.stat().st_size) is None, name
        assert file_check(path, path.stat().st_size).shape == (32, 48), name
        data = path.read_bytes()
        path.write_bytes(data[:-10])
        assert "truncated" in (file_problem(path, len(data) - 10) or ""), name
    assert file_problem(tmp_path / "x.tif", 0) == "unusable: empty file (0 bytes)"
    assert len(tiny_tiff()) > 0


def test_a_pattern_matching_no_file_is_an_error(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_files(images, screen_keys({"P1": ["A1"]}))
    pattern = r"^(?P<plate>[^/]+)/(?P<well>[A-Z]\d+)_(?P<site>\d+)_(?P<channels>[^/]+)\.nd2$"
    result = CliRunner().invoke(
        main, ["index", "gen", "-w", str(tmp_path / "ws"), "-i", str(images), "--pattern", pattern]
    )
    assert result.exit_code != 0  # before: exit 0 with an empty index
    assert "no image parsed with parser 'user'" in result.output
    assert "matches none of the 1 user pattern(s)" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(IndexBuildError, match="no files under the images path"):
        (tmp_path / "empty").mkdir()
        build_index(tmp_path / "ws2", tmp_path / "empty")


def test_a_file_damaged_after_indexing_is_found_on_the_next_index(tmp_path: Path) -> None:
    images = tmp_path / "images"
    keys = screen_keys({"P1": ["A1"]})
    write_files(images, keys)
    build_index(tmp_path / "ws", images)
    (images / keys[0]).write_bytes(b"II*\x00\xff\xff\x00\x00")  # size and mtime change
    build_index(tmp_path / "ws", images)
    unparsed = pl.read_parquet(naming.unparsed_table(tmp_path / "ws"))
    assert unparsed.get_column("key").to_list() == [keys[0]]
    assert "truncated" in unparsed.get_column("reason").item()


def test_a_tiff_with_fewer_pages_than_listed_channels_is_unusable(tmp_path: Path) -> None:
    images = tmp_path / "images"
    keys = screen_keys({"P1": ["A1"]})
    write_files(images, keys)
    sbs = next(k for k in keys if "_SBS-" in k)  # names 5 channels
    (images / sbs).write_bytes(tiny_tiff(4))
    build_index(tmp_path / "ws", images)
    unparsed = dict(
        pl.read_parquet(naming.unparsed_table(tmp_path / "ws")).select("key", "reason").rows()
    )
    assert unparsed == {sbs: "unusable: 4 page(s) but its name lists 5 channels (one page each)"}


def test_an_image_of_another_size_than_its_arm_is_unusable(tmp_path: Path, monkeypatch) -> None:
    """CellProfiler needs one size per step; a stray crop or binned image is named at the
    index, not found as an IndexError inside a CellProfiler unit."""
    images = tmp_path / "images"
    keys = screen_keys({"P1": ["A1", "A2"]}, cp_sites=2)
    write_files(images, keys)  # one-pixel pages
    odd = next(k for k in keys if "_CP_" in k)
    tifffile.imwrite(images / odd, np.zeros((3, 4, 5), np.uint16), photometric="minisblack")
    build_index(tmp_path / "ws", images)
    unparsed = dict(
        pl.read_parquet(naming.unparsed_table(tmp_path / "ws")).select("key", "reason").rows()
    )
    assert unparsed == {odd: "unusable: 5x4 px, but the other CP images are 1x1 px"}
    index = load_index(naming.index_manifest(tmp_path / "ws"))
    assert index.height == len(keys) - 1
    assert index.get_column("image_height").to_list() == [1] * index.height

    read: list[str] = []
    real = usable.file_check
    monkeypatch.setattr(
        usable, "file_check", lambda path, *a: read.append(path.name) or real(path, *a)
    )
    build_index(tmp_path / "ws", images)  # unchanged files keep their size without a read
    assert read == [Path(odd).name]
    assert pl.read_parquet(naming.unparsed_table(tmp_path / "ws")).get_column("key").to_list() == [
        odd
    ]
