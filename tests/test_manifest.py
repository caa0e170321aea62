"""Manifests: the rows a unit must publish, their sizes, and reading them back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from starrynight import naming
from starrynight.manifest import (
    ManifestError,
    Product,
    Publication,
    expected_files,
    producer_digest,
    read_manifests,
    select,
    with_sizes,
    write_manifest,
)

SETS = pl.DataFrame(
    {"Metadata_Plate": ["P1", "P1"], "Metadata_Well": ["A1", "A1"], "Metadata_Site": ["0", "7"]}
)


def test_per_site_and_per_unit_products_get_their_keys():
    publication = Publication(step="s", products=[
        Product(kind="image", name="DAPI", file="{plate}_{well}_Site{site}_DAPI.tiff"),
        Product(kind="image", name="A", cycle=2, file="{plate}_{well}_Site{site}_C2_A.tiff"),
        Product(kind="table", name="Image", file="Image.csv"),
    ])  # fmt: skip
    rows = expected_files(publication, SETS, producer="x")
    assert rows["path"].to_list() == ["P1_A1_Site0_DAPI.tiff", "P1_A1_Site7_DAPI.tiff", "P1_A1_Site0_C2_A.tiff",
                                      "P1_A1_Site7_C2_A.tiff", "Image.csv"]  # fmt: skip
    assert rows["site"].to_list() == [0, 7, 0, 7, None]
    assert rows["cycle"].to_list() == [None, None, 2, 2, None]
    table = rows.row(4, named=True)
    assert (table["plate"], table["well"]) == ("P1", "A1")  # one plate and well in the unit: known


def test_a_template_with_an_unknown_or_absent_key_is_named():
    with pytest.raises(ManifestError, match=r"unknown field\(s\) \['channel'\]"):
        expected_files(
            Publication(step="s", products=[Product(kind="i", name="n", file="{channel}.tiff")]),
            SETS,
            "x",
        )
    with pytest.raises(ManifestError, match=r"needs LoadData column\(s\) \['Metadata_Cycle'\]"):
        expected_files(
            Publication(step="s", products=[Product(kind="i", name="n", file="{cycle}.tiff")]),
            SETS,
            "x",
        )


def test_missing_or_empty_files_are_listed_and_a_written_manifest_reads_back(tmp_path: Path):
    unit = tmp_path / "outputs" / "P1__A1"
    unit.mkdir(parents=True)
    (unit / "P1_A1_Site0_DAPI.tiff").write_bytes(b"1234")
    (unit / "P1_A1_Site7_DAPI.tiff").write_bytes(b"")
    publication = Publication(
        step="s",
        products=[Product(kind="image", name="DAPI", file="{plate}_{well}_Site{site}_DAPI.tiff")],
    )
    rows, missing = with_sizes(expected_files(publication, SETS, producer="x"), unit)
    assert missing == ["P1_A1_Site7_DAPI.tiff"]
    write_manifest(rows, unit)
    back = read_manifests([naming.unit_manifest(unit)])
    assert back["unit"].to_list() == ["P1__A1", "P1__A1"]
    assert back["path"][0] == f"{unit.absolute()}/P1_A1_Site0_DAPI.tiff" and back["bytes"][0] == 4
    assert select(back, "s", "image", ["DAPI"]).height == 2
    with pytest.raises(ManifestError, match=r"list no image named \['GFP'\]"):
        select(back, "s", "image", ["DAPI", "GFP"])
    with pytest.raises(ManifestError, match="P1__A2.*has not run or did not finish"):
        read_manifests([naming.unit_manifest(unit.parent / "P1__A2")])


def test_the_producer_digest_follows_the_files_and_the_code_version(tmp_path: Path):
    pipeline, loaddata = tmp_path / "a.cppipe", tmp_path / "a.csv"
    pipeline.write_text("pipeline")
    loaddata.write_text("sets")
    first = producer_digest([pipeline, loaddata], "starrynight 1")
    assert producer_digest([pipeline, loaddata], "starrynight 1") == first
    assert producer_digest([pipeline, loaddata], "starrynight 2") != first
    loaddata.write_text("other sets")
    assert producer_digest([pipeline, loaddata], "starrynight 1") != first
