"""build_index end to end on real files: manifest, tables, relocation, CLI."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import fsspec
import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from starrynight import naming
from starrynight.cli import main
from starrynight.config import RemotePath, read_parquet, read_parquet_metadata
from starrynight.index_table import IndexBuildError, load_index
from starrynight.modules.index.index import build_index
from starrynight.modules.index.tests.screen import screen_keys, write_files

EXTRAS = [
    "ds/Source1/Batch1/Barcodes.csv",
    ".DS_Store",
    "ds/metadata.xml",
    "ds/Source1/x/notes.tiff",
]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_files(root, screen_keys({"Plate1": ["A1", "B2"]}) + EXTRAS)
    return root


def test_index_before_inventory_builds_the_inventory(images: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    manifest_path = build_index(ws, images)
    assert manifest_path == naming.index_manifest(ws)
    inventory = read_parquet(naming.inventory_table(ws))
    index = read_parquet(naming.index_table(ws))
    unparsed = read_parquet(naming.unparsed_table(ws))
    assert index.height + unparsed.height == inventory.height == 10 + len(EXTRAS)
    assert index.height == 10 and set(index["arm"]) == {"CP", "SBS"}
    manifest = yaml.safe_load(manifest_path.read_text())
    assert manifest["schema_version"] == 1
    assert manifest["images_root_at_build"] == str(images)  # informational only
    assert "images_root" not in manifest
    assert manifest["parser"]["name"] == "default"
    assert manifest["tables"] == {
        "inventory": "inventory/inventory.parquet",
        "index": "index/index.parquet",
        "unparsed": "index/unparsed.parquet",
    }
    counts = manifest["counts"]
    assert (counts["files"], counts["indexed"], counts["unparsed"]) == (14, 10, 4)
    assert counts["by_arm"] == {"CP": 4, "SBS": 6}
    assert counts["unparsed_by_reason"]["not an image"] == 2
    assert sum(counts["unparsed_by_reason"].values()) == 4


def test_index_without_inventory_or_images_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexBuildError, match="no inventory at .*give the images path"):
        build_index(tmp_path / "ws")


def test_existing_inventory_is_used_and_images_root_at_build_kept(
    images: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    build_index(ws, images)
    manifest = yaml.safe_load(build_index(ws).read_text())
    assert manifest["images_root_at_build"] == str(images)


def test_absolute_images_root_is_only_an_informational_field(images: Path, tmp_path: Path) -> None:
    """SPEC 4.2: paths relative to the images root, so workspace and images can both move."""
    ws = tmp_path / "ws"
    build_index(ws, images)
    moved_images, moved_ws = tmp_path / "new" / "images", tmp_path / "new" / "ws"
    shutil.move(images, moved_images)
    shutil.move(ws, moved_ws)
    manifest_path = build_index(moved_ws)  # from the moved inventory, without the images
    lines = [line for line in manifest_path.read_text().splitlines() if str(tmp_path) in line]
    assert lines == [f"images_root_at_build: {images}"]
    for table in (naming.inventory_table(moved_ws), naming.index_table(moved_ws)):
        keys = read_parquet(table)["key"]
        assert not keys.str.starts_with("/").any() and not keys.str.contains(str(tmp_path)).any()
    meta = read_parquet_metadata(naming.inventory_table(moved_ws))
    assert {k: v for k, v in meta.items() if k.startswith("starrynight.")} == {
        "starrynight.images_root_at_build": str(images)
    }


def test_index_with_images_sees_files_added_since_the_inventory(
    images: Path, tmp_path: Path
) -> None:
    build_index(tmp_path / "ws", images)
    write_files(images, screen_keys({"Plate9": ["C1"]}))
    assert "Plate9" in set(load_index(build_index(tmp_path / "ws", images))["plate"])


def test_copied_workspace_still_loads(images: Path, tmp_path: Path) -> None:
    build_index(tmp_path / "ws", images)
    moved = tmp_path / "elsewhere" / "ws2"
    shutil.copytree(tmp_path / "ws", moved)
    shutil.rmtree(tmp_path / "ws")
    frame = load_index(moved / "index.yaml")
    assert frame.height == 10
    assert frame.equals(load_index(naming.index_table(moved)))


def test_csv_index_round_trips_types(images: Path, tmp_path: Path) -> None:
    frame = load_index(build_index(tmp_path / "ws", images))
    csv = tmp_path / "index.csv"
    frame.with_columns(pl.col("channels").list.join(",")).write_csv(csv)
    assert load_index(csv).equals(frame)


def test_object_store_workspace_and_images(images: Path) -> None:
    bucket = f"memory://idx-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for path in images.rglob("*"):
        if path.is_file():
            fs.pipe_file(
                f"{bucket[9:]}/images/{path.relative_to(images).as_posix()}", path.read_bytes()
            )
    manifest_path = build_index(f"{bucket}/ws", f"{bucket}/images")
    assert manifest_path == RemotePath(f"{bucket}/ws/index.yaml")
    assert load_index(manifest_path).height == 10


def test_cli_prints_summary_and_reasons(images: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["index", "gen", "-w", str(tmp_path / "ws"), "-i", str(images)])
    assert result.exit_code == 0, result.output
    assert "indexed 10 of 14 files" in result.output
    assert "not an image" in result.output and "hidden file" in result.output
    bad = runner.invoke(
        main, ["index", "gen", "-w", str(tmp_path / "ws"), "--pattern", "(?P<plate>x"]
    )
    assert bad.exit_code != 0 and "not a valid regular expression" in bad.output
    assert "Traceback" not in bad.output
    presets = runner.invoke(main, ["index", "presets"])
    assert "default:" in presets.output and "per-channel:" in presets.output
