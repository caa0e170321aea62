"""The synthetic image dataset: layout, determinism, and that its pixels agree with its truth."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile
from scipy import ndimage
from skimage.filters import threshold_otsu

from starrynight.datasets import DatasetExistsError, generate_dataset, read_dataset_info


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    return generate_dataset(tmp_path_factory.mktemp("tiny") / "ds", "tiny", seed=0)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _images(info, grammar: re.Pattern[str]) -> list[tuple[re.Match, Path]]:
    out = []
    for path in sorted(info.images_path.rglob("*.ome.tiff")):
        m = grammar.match(path.relative_to(info.images_path).as_posix())
        assert m, f"does not parse: {path}"
        out.append((m, path))
    return out


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path, tiny) -> None:
    again = generate_dataset(tmp_path / "again", "tiny", seed=0)
    first, second = _digest(tiny.root), _digest(again.root)
    assert first == second
    assert str(tiny.root) not in (tiny.truth_path / "dataset.json").read_text()
    other = generate_dataset(tmp_path / "other", "tiny", seed=1)
    tiffs = [k for k in first if k.endswith(".ome.tiff")]
    assert set(tiffs) <= set(_digest(other.root))
    assert all(first[k] != _digest(other.root)[k] for k in tiffs)


def test_layout_names_planes_and_extras(tiny, spec_image_path) -> None:
    images = _images(tiny, spec_image_path)
    sites = tiny.cp_sites_per_well * len(tiny.wells) * len(tiny.plates)
    assert len(images) == sites * (1 + tiny.cycles)
    cycles = sorted({int(m["cycle"]) for m, _ in images if m["cycle"]})
    assert cycles == list(range(1, tiny.cycles + 1))
    for m, path in images:
        channels = m["channels"].split(",")
        assert channels == (tiny.sbs_channels if m["cycle"] else tiny.cp_channels)
        assert (m["dataset"], m["source"], m["batch"]) == (tiny.dataset, tiny.source, tiny.batch)
        with tifffile.TiffFile(path) as tif:
            stack = tif.asarray()
            names = re.findall(r'<Channel [^>]*Name="([^"]+)"', tif.ome_metadata)
        assert stack.dtype == np.uint16
        assert stack.shape == (len(channels), tiny.image_height, tiny.image_width)
        assert names == channels
    batch = tiny.batch_path
    assert (batch / "Barcodes.csv").is_file()
    assert (batch / "images" / "Plate1" / ".DS_Store").is_file()
    assert len(list(batch.rglob("metadata.xml"))) == len(tiny.plates)
    assert list(tiny.scratch_path.iterdir()) == []


def test_library_csv_where_the_seed_notebook_reads_it(tiny) -> None:
    lib = pl.read_csv(tiny.workspace_path / "barcodes.csv")
    assert lib.columns == ["sgRNA", "gene_symbol"]
    assert lib.height == tiny.library_size
    codes = np.array([list(s) for s in lib["sgRNA"]])
    assert codes.shape[1] == tiny.cycles and set(codes.ravel()) <= set("ACGT")
    distance = (codes[:, None] != codes[None]).sum(-1) + np.eye(len(codes), dtype=int) * 99
    assert distance.min() >= 2
    assert "nontargeting" in lib["gene_symbol"].to_list()
    cells = pl.read_parquet(tiny.truth_cells)
    assert set(cells["barcode"].drop_nulls()) <= set(lib["sgRNA"])
    assert 0 < cells["barcode"].null_count() < cells.height / 3  # most cells carry a barcode


def test_truth_tables_agree_with_each_other(tiny) -> None:
    cells, sites = pl.read_parquet(tiny.truth_cells), pl.read_parquet(tiny.truth_sites)
    per_site = cells.group_by("plate", "well", "site").len().sort("plate", "well", "site")
    assert per_site["len"].to_list() == sites.sort("plate", "well", "site")["n_cells"].to_list()
    assert sites["shift_dy"].list.len().to_list() == [tiny.cycles] * sites.height
    shifts = np.abs(np.concatenate([sites["shift_dy"].explode(), sites["shift_dx"].explode()]))
    assert 0 < shifts.max() <= 4.0
    assert cells.filter(pl.col("barcode").is_null())["n_spots"].sum() == 0
    assert json.loads((tiny.truth_path / "dataset.json").read_text())["n_cells"] == cells.height
    assert read_dataset_info(tiny.root) == tiny


def _cp_dapi(tiny, plate: str, well: str, site: int) -> np.ndarray:
    path = next(tiny.images_path.rglob(f"20X_CP_{plate}_*/Well{well}_Point{well}_{site:04d}_*"))
    return tifffile.imread(path)[0].astype(float)


def test_simple_threshold_finds_the_true_nuclei(tiny) -> None:
    cells = pl.read_parquet(tiny.truth_cells)
    illum = np.load(tiny.illumination("CP", "DAPI"))
    found = expected = 0
    for plate, well, site in cells.select("plate", "well", "site").unique().iter_rows():
        image = ndimage.gaussian_filter(_cp_dapi(tiny, plate, well, site) / illum, 1)
        labels, _ = ndimage.label(image > threshold_otsu(image))
        found += int((np.bincount(labels.ravel())[1:] >= 20).sum())
        expected += cells.filter(
            (pl.col("plate") == plate) & (pl.col("well") == well) & (pl.col("site") == site)
            & (pl.col("nucleus_area") >= 20)).height
    print(f"nuclei found {found}, truth {expected}")
    assert abs(found - expected) <= 0.1 * expected


def test_vignette_darkens_the_corners(tiny) -> None:
    paths = sorted(tiny.images_path.rglob("*.ome.tiff"))
    stacks = np.concatenate([tifffile.imread(p) for p in paths]).astype(float)
    c, q = tiny.image_height // 2, tiny.image_height // 8

    def background(block: np.ndarray) -> float:  # the dim pixels between cells, over all planes
        return float(np.percentile(block, 5))

    centre = background(stacks[:, c - q:c + q, c - q:c + q])
    corners = np.mean([background(stacks[:, :q, :q]), background(stacks[:, :q, -q:]),
                       background(stacks[:, -q:, :q]), background(stacks[:, -q:, -q:])])
    assert corners < 0.9 * centre
    for arm, channels in (("CP", tiny.cp_channels), ("SBS", tiny.sbs_channels)):
        for ch in channels:
            field = np.load(tiny.illumination(arm, ch))
            assert field.shape == (tiny.image_height, tiny.image_width)
            assert field.max() == pytest.approx(1.0) and field.min() < 0.8


def test_spot_colour_after_unmixing_spells_the_barcode(tiny) -> None:
    spots = pl.read_parquet(tiny.truth_spots).filter("in_all_sbs_frames")
    sites = pl.read_parquet(tiny.truth_sites)
    unmix = np.linalg.inv(np.array(tiny.crosstalk))
    illum = np.stack([np.load(tiny.illumination("SBS", b)) for b in "CATG"])
    right = total = 0
    for (plate, well, site), group in spots.group_by("plate", "well", "site"):
        row = sites.filter((pl.col("plate") == plate) & (pl.col("well") == well) & (pl.col("site") == site))
        for k in range(tiny.cycles):
            path = next(tiny.images_path.rglob(f"10X_c{k + 1}_SBS-{k + 1}/Well{well}_Point{well}_{site:04d}_*"))
            planes = tifffile.imread(path)[:4].astype(float)
            y = np.rint(group["y"].to_numpy() + row["shift_dy"][0][k]).astype(int)
            x = np.rint(group["x"].to_numpy() + row["shift_dx"][0][k]).astype(int)
            observed = []
            inside = (np.minimum(y, x) >= 6) & (np.maximum(y, x) < tiny.image_height - 6)
            for yy, xx in zip(y[inside], x[inside], strict=True):
                patch = planes[:, yy - 6:yy + 7, xx - 6:xx + 7]
                background = np.median(patch.reshape(4, -1), axis=1)
                peak = patch[:, 5:8, 5:8].sum(axis=(1, 2)) - 9 * background
                observed.append(peak / illum[:, yy, xx])
            called = (unmix @ np.array(observed).T).argmax(axis=0)
            truth = ["CATG".index(b[k]) for b in group["barcode"].filter(inside)]
            right += int((called == np.array(truth)).sum())
            total += len(truth)
    print(f"spot bases right: {right}/{total}")
    assert total > 100
    assert right / total >= 0.98


def test_refuses_a_folder_that_holds_something_else(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(DatasetExistsError, match="not empty"):
        generate_dataset(tmp_path, "tiny")
    assert (tmp_path / "mine.txt").read_text() == "user data"


def test_rerun_on_a_finished_dataset_keeps_it(tiny) -> None:
    before = _digest(tiny.images_path)
    assert generate_dataset(tiny.root, "tiny", seed=0) == tiny
    assert _digest(tiny.images_path) == before
    with pytest.raises(DatasetExistsError, match="seed 5"):
        generate_dataset(tiny.root, "tiny", seed=5)


def test_unknown_preset_is_named() -> None:
    with pytest.raises(ValueError, match="preset: unknown 'huge'"):
        generate_dataset(Path("/nonexistent"), "huge")


@pytest.mark.slow
def test_cellprofiler_segmentation_finds_the_true_cells(tiny, tmp_path: Path) -> None:
    """CellProfiler's own IdentifyPrimaryObjects/IdentifySecondaryObjects on the raw CP planes
    (illumination divided out) find the truth's nuclei one to one and a cell for each."""
    from starrynight.cellprofiler.errors import CellProfilerNotFound
    from starrynight.cellprofiler.locate import cellprofiler_python

    try:
        python = cellprofiler_python()
    except CellProfilerNotFound as exc:
        pytest.skip(str(exc))
    cells = pl.read_parquet(tiny.truth_cells).filter(
        (pl.col("nucleus_area") >= 30) & ~pl.col("touches_border"))
    images, truth = [], []
    for (well, site), group in cells.group_by("well", "site", maintain_order=True):
        path = next(tiny.images_path.rglob(f"20X_CP_*/Well{well}_Point{well}_{site:04d}_*"))
        points = np.rint(group.select("nucleus_y", "nucleus_x").to_numpy()).astype(int).tolist()
        images.append({"path": str(path), "points": points})
        truth.append(group.height)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"images": images, "illum_dna": str(tiny.illumination("CP", "DAPI")),
                               "illum_cell": str(tiny.illumination("CP", "CellMask"))}))
    script = Path(__file__).with_name("cp_segment.py")
    run = subprocess.run([str(python), str(script), str(job)], capture_output=True, text=True, check=True)
    results = json.loads(run.stdout.strip().splitlines()[-1])
    for result, n_truth in zip(results, truth, strict=True):
        matched = {h for h in result["hit"] if h > 0}  # distinct objects holding a true centroid
        assert len(matched) >= 0.9 * n_truth, (result, n_truth)
        assert result["cells"] == result["nuclei"]


def test_a_moved_dataset_reads_at_its_new_place(tiny, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(tiny.root, moved)
    info = read_dataset_info(moved)
    assert info.root == moved and info.images_path == moved / "images"
    assert info.truth_cells.is_file() and info.barcode_csv.is_file()
    assert info.model_dump(exclude={"root"} | set(type(info).model_computed_fields)) == \
        tiny.model_dump(exclude={"root"} | set(type(tiny).model_computed_fields))
    assert generate_dataset(moved, "tiny", seed=0) == info  # recognised as complete where it is now
