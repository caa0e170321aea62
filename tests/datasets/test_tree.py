"""Tree mode: header-only images with real names, in memory and on disk, and the demo-data CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from click.testing import CliRunner

from starrynight.datasets import generate_tree, tree_paths
from starrynight.datasets.cli import demo_data_command

SIZES = {"plates": 2, "wells": 7, "cp_sites": 12, "sbs_sites": 5, "cycles": 11}


def _expected_images(plates: int, wells: int, cp_sites: int, sbs_sites: int, cycles: int) -> int:
    return plates * wells * (cp_sites + cycles * sbs_sites)


def test_tree_paths_parse_and_count(spec_image_path) -> None:
    paths = tree_paths(**SIZES)
    images = [p for p in paths if p.endswith(".ome.tiff")]
    assert len(images) == _expected_images(**SIZES)
    assert (
        len(paths) - len(images) == 1 + 2 * SIZES["plates"]
    )  # Barcodes.csv, .DS_Store, metadata.xml
    assert len(set(paths)) == len(paths)
    seqs: dict[str, list[int]] = defaultdict(list)
    for p in images:
        m = spec_image_path.match(p)
        assert m, p
        assert m["stamp"] if m["cp_mag"] else m["cycle"]
        seqs[p.rsplit("/", 1)[0]].append(int(m["seq"]))
    assert len(seqs) == SIZES["plates"] * (1 + SIZES["cycles"])
    for folder, numbers in seqs.items():  # one acquisition: Seq counts every site of every well
        per_site = SIZES["sbs_sites"] if "SBS" in folder else SIZES["cp_sites"]
        assert sorted(numbers) == list(range(SIZES["wells"] * per_site))
    assert {spec_image_path.match(p)["cycle"] for p in images} - {None} == {
        str(c) for c in range(1, 12)
    }


def test_site_and_seq_widen_past_four_digits(spec_image_path) -> None:
    paths = tree_paths(plates=1, wells=2, cp_sites=10_001, sbs_sites=0, cycles=0, extras=False)
    assert len(paths) == 20_002
    last = spec_image_path.match(paths[-1])
    assert (last["well"], last["site"], last["seq"]) == ("A2", "10000", "20001")


def test_generate_tree_writes_exactly_the_listed_files_as_usable_images(tmp_path: Path) -> None:
    from starrynight.modules.index.usable import file_check

    n = generate_tree(tmp_path, **SIZES)
    on_disk = sorted(
        p.relative_to(tmp_path / "images").as_posix()
        for p in (tmp_path / "images").rglob("*")
        if p.is_file()
    )
    assert n == len(on_disk) == len(tree_paths(**SIZES))
    assert on_disk == sorted(tree_paths(**SIZES))
    images = [p for p in on_disk if p.endswith(".tiff")]
    for key in images[:20] + images[-20:]:  # CP and SBS names: one page per listed channel
        path = tmp_path / "images" / key
        channels = key.split("_Channel")[1].split("_")[0].count(",") + 1
        assert file_check(path, path.stat().st_size, channels) == (None, (1, 1)), key
    others = [p for p in on_disk if not p.endswith(".tiff")]
    assert others and all((tmp_path / "images" / p).stat().st_size == 0 for p in others)
    assert generate_tree(tmp_path, **SIZES) == n  # re-run is harmless


def test_cli_tree_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        demo_data_command,
        [
            "--preset",
            "tree",
            "--out",
            str(tmp_path / "t"),
            "--plates",
            "1",
            "--wells",
            "2",
            "--cp-sites",
            "3",
            "--sbs-sites",
            "2",
            "--cycles",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    files = [p for p in (tmp_path / "t" / "images").rglob("*") if p.is_file()]
    assert len(files) == _expected_images(1, 2, 3, 2, 4) + 3
    assert str(len(files)) in result.output

    result = runner.invoke(
        demo_data_command, ["--preset", "tiny", "--out", str(tmp_path / "x"), "--cycles", "5"]
    )
    assert result.exit_code == 2 and "--cycles: only apply to --preset tree" in result.output
    assert not (tmp_path / "x").exists()

    result = runner.invoke(
        demo_data_command, ["--preset", "tree", "--out", str(tmp_path / "w"), "--wells", "2000"]
    )
    assert (
        result.exit_code == 1
        and "wells: 2000 is more than the largest plate format" in result.output
    )

    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "keep.txt").write_text("mine")
    result = runner.invoke(demo_data_command, ["--preset", "tiny", "--out", str(tmp_path / "user")])
    assert result.exit_code == 1
    assert "not empty" in result.output and "Traceback" not in result.output
    assert (tmp_path / "user" / "keep.txt").read_text() == "mine"


def test_cli_tiny_prints_the_paths(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        demo_data_command, ["--preset", "tiny", "--out", str(tmp_path / "d"), "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    assert f"images_path:    {tmp_path / 'd' / 'images'}" in result.output
    assert (tmp_path / "d" / "truth" / "cells.parquet").is_file()


def test_cli_module_import_is_light() -> None:
    code = (
        "import sys, starrynight.datasets, starrynight.datasets.cli\n"
        "print(','.join(m for m in ('numpy', 'polars', 'tifffile') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
