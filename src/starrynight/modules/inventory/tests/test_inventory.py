"""Inventory of real files on local disk and through fsspec (in-memory filesystem)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec
import polars as pl
import pytest
from click.testing import CliRunner

from starrynight import naming
from starrynight.cli import main
from starrynight.config import RemotePath, read_parquet
from starrynight.modules.inventory.inventory import (
    InventoryError,
    InventoryWarning,
    build_inventory,
    inventory_images_root_at_build,
)

FILES = {
    "ds/S1/B1/images/P1/20X_CP_P1/WellA1_PointA1_0000_ChannelDAPI,CellMask_Seq0000.ome.tiff": b"x"
    * 7,
    "ds/S1/B1/images/P1/10X_c1_SBS-1/WellA1_PointA1_0000_ChannelA,C,G,T_Seq0000.ome.tiff": b"yy",
    "ds/S1/B1/Barcodes.csv": b"sgRNA,gene_symbol\n",
    "odd name with spaces/ü $x 'q'.tif": b"",
    ".DS_Store": b"123",
}


def make_tree(root: Path, files: dict[str, bytes] = FILES) -> None:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_lists_every_file_with_relative_posix_key_size_and_mtime(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_tree(images)
    (images / "empty_folder").mkdir()
    target = build_inventory(images, tmp_path / "ws", workers=3)
    assert target == naming.inventory_table(tmp_path / "ws")
    frame = read_parquet(target)
    assert frame.columns == ["key", "size", "mtime"]
    assert frame.get_column("key").to_list() == sorted(FILES)
    sizes = dict(zip(frame["key"], frame["size"], strict=True))
    assert sizes == {k: len(v) for k, v in FILES.items()}
    key = "ds/S1/B1/Barcodes.csv"
    mtime = frame.filter(pl.col("key") == key)["mtime"][0]
    assert mtime == pytest.approx(os.stat(images / key).st_mtime)
    assert inventory_images_root_at_build(target) == str(images)


def test_dangling_symlink_is_listed_not_fatal(tmp_path: Path) -> None:
    make_tree(tmp_path / "images")
    (tmp_path / "images" / "gone.tif").symlink_to(tmp_path / "missing.tif")
    keys = read_parquet(build_inventory(tmp_path / "images", tmp_path / "ws"))["key"].to_list()
    assert "gone.tif" in keys and len(keys) == len(FILES) + 1


def test_symlinked_plate_folder_is_followed_with_keys_through_the_link(tmp_path: Path) -> None:
    plate = "ds/S1/B1/images/P1/"
    elsewhere = tmp_path / "archive" / "P1"
    make_tree(
        elsewhere, {k.removeprefix(plate): v for k, v in FILES.items() if k.startswith(plate)}
    )
    images = tmp_path / "images"
    (images / "ds/S1/B1/images").mkdir(parents=True)
    (images / "ds/S1/B1/images/P1").symlink_to(elsewhere, target_is_directory=True)
    frame = read_parquet(build_inventory(images, tmp_path / "ws"))
    expected = {k: len(v) for k, v in FILES.items() if k.startswith(plate)}
    assert dict(zip(frame["key"], frame["size"], strict=True)) == expected


def test_symlink_loop_is_reported_not_followed(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_tree(images)
    (images / "ds/S1/loop").symlink_to(images / "ds", target_is_directory=True)
    (images / "ds/self").symlink_to(".", target_is_directory=True)
    (images / "ds/S1/S1_again").symlink_to(images / "ds/S1/B1", target_is_directory=True)
    messages: list[str] = []
    frame = read_parquet(build_inventory(images, tmp_path / "ws", progress=messages.append))
    keys = frame.get_column("key").to_list()
    # a link to a sibling folder is not a loop: its files are listed under the link name
    again = [k for k in keys if k.startswith("ds/S1/S1_again/")]
    assert sorted(again) == sorted(
        k.replace("ds/S1/B1/", "ds/S1/S1_again/") for k in FILES if k.startswith("ds/S1/B1/")
    )
    assert sorted(set(keys) - set(again)) == sorted(FILES)
    loops = [m for m in messages if "symlink loop" in m]
    assert len(loops) == 2
    assert "ds/S1/loop -> " in loops[0] and "ds/self -> " in loops[1]
    with pytest.warns(InventoryWarning) as caught:  # without a progress callback
        build_inventory(images, tmp_path / "ws2")
    assert [str(w.message).split(" -> ")[0] for w in caught] == [
        "inventory: symlink loop not followed: ds/S1/loop",
        "inventory: symlink loop not followed: ds/self",
    ]


def test_a_workspace_in_the_images_tree_is_refused(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_tree(images)
    with pytest.raises(ValueError, match="is inside the images folder .* read-only"):
        build_inventory(images, images / "workspace")
    (tmp_path / "ws-link").symlink_to(images)  # the images folder by another name
    with pytest.raises(ValueError, match="read-only"):
        build_inventory(images, tmp_path / "ws-link")
    assert not (images / "workspace").exists()


def test_unchanged_tree_is_not_rewritten_but_a_change_is(tmp_path: Path) -> None:
    images = tmp_path / "images"
    make_tree(images)
    target = build_inventory(images, tmp_path / "ws")
    first = os.stat(target)
    build_inventory(images, tmp_path / "ws")
    again = os.stat(target)
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    (images / "new.tif").write_bytes(b"1")
    build_inventory(images, tmp_path / "ws")
    assert "new.tif" in read_parquet(target).get_column("key").to_list()


def test_object_store_path_gives_the_same_table(tmp_path: Path) -> None:
    local = tmp_path / "images"
    make_tree(local)
    bucket = f"memory://bucket-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for key, data in FILES.items():
        fs.pipe_file(f"{bucket.removeprefix('memory://')}/images/{key}", data)
    remote = build_inventory(f"{bucket}/images", f"{bucket}/ws")
    assert isinstance(remote, RemotePath)
    assert remote == RemotePath(f"{bucket}/ws/inventory/inventory.parquet")
    remote_frame = read_parquet(remote)
    local_frame = read_parquet(build_inventory(local, tmp_path / "ws"))
    assert remote_frame.select("key", "size").equals(local_frame.select("key", "size"))
    assert remote_frame.get_column("mtime").null_count() == 0


def test_missing_images_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        build_inventory(tmp_path / "nope", tmp_path / "ws")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InventoryError, match="is not a folder"):
        build_inventory(tmp_path / "file", tmp_path / "ws")


def test_cli_gen_writes_table_and_errors_without_traceback(tmp_path: Path) -> None:
    make_tree(tmp_path / "images")
    runner = CliRunner()
    ok = runner.invoke(
        main, ["inventory", "gen", "-i", str(tmp_path / "images"), "-w", str(tmp_path / "ws")]
    )
    assert ok.exit_code == 0, ok.output
    assert read_parquet(naming.inventory_table(tmp_path / "ws")).height == len(FILES)
    bad = runner.invoke(
        main, ["inventory", "gen", "-i", str(tmp_path / "nope"), "-w", str(tmp_path / "ws")]
    )
    assert bad.exit_code != 0
    assert "does not exist" in bad.output and "Traceback" not in bad.output
