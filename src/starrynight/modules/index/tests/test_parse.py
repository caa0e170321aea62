"""Parsing of relative image paths into index fields, for presets and user patterns."""

from __future__ import annotations

import polars as pl
import pytest

from starrynight.modules.index.parse import (
    INDEX_COLUMNS,
    PRESETS,
    ParserError,
    get_parser,
    parse_keys,
)

SPEC_EXAMPLES = {
    "fix_s1_input/Source1/Batch1/images/Plate1/20X_CP_Plate1_20240319_122800_179/"
    "WellA1_PointA1_0000_ChannelPhalloAF750,ZO1-AF488,DAPI_Seq0000.ome.tiff": dict(
        dataset="fix_s1_input", source="Source1", batch="Batch1", plate="Plate1", arm="CP",
        magnification=20, cycle=None, well="A1", site=0,
        channels=["PhalloAF750", "ZO1-AF488", "DAPI"], timestamp="20240319_122800_179",
        extension="ome.tiff",
    ),
    "fix_s1_input/Source1/Batch1/images/Plate1/20X_c1_SBS-1/"
    "WellA1_PointA1_0000_ChannelC,A,T,G,DAPI_Seq0000.ome.tiff": dict(
        dataset="fix_s1_input", source="Source1", batch="Batch1", plate="Plate1", arm="SBS",
        magnification=20, cycle=1, well="A1", site=0, channels=["C", "A", "T", "G", "DAPI"],
        timestamp=None, extension="ome.tiff",
    ),
    "cpg0999-broad-asma/broad/BATCH1/images/plate1/10X_c11_SBS-11/"
    "WellB3_PointB3_0099_Channel405 nm,477 nm,G,T,A,C_Seq2069.tiff": dict(
        dataset="cpg0999-broad-asma", source="broad", batch="BATCH1", plate="plate1", arm="SBS",
        magnification=10, cycle=11, well="B3", site=99,
        channels=["405 nm", "477 nm", "G", "T", "A", "C"], timestamp=None, extension="tiff",
    ),
    # plate names with "_" and "-", three-character wells, .tif, timestamp on a plate with "_"
    "ds/src/b-2/images/my_plate-7/10X_CP_my_plate-7_20240101_000000_001/"
    "WellA01_PointA01_0012_ChannelDNA_dye,Actin-488_Seq0012.tif": dict(
        dataset="ds", source="src", batch="b-2", plate="my_plate-7", arm="CP", magnification=10,
        cycle=None, well="A01", site=12, channels=["DNA_dye", "Actin-488"],
        timestamp="20240101_000000_001", extension="tif",
    ),
    "ds/src/b/images/P_1/10X_c02_SBS-2/WellH12_PointH12_0003_ChannelA,C,G,T_Seq0001.TIFF": dict(
        plate="P_1", arm="SBS", cycle=2, well="H12", site=3, channels=["A", "C", "G", "T"],
        extension="TIFF",
    ),
}  # fmt: skip


def inventory(keys: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": keys, "size": list(range(len(keys))), "mtime": [1.5] * len(keys)},
        schema={"key": pl.String, "size": pl.Int64, "mtime": pl.Float64},
    )


def test_every_spec_example_parses_to_its_fields() -> None:
    index, unparsed = parse_keys(inventory(list(SPEC_EXAMPLES)), get_parser("default"))
    assert unparsed.height == 0, unparsed.to_dicts()
    assert index.columns == INDEX_COLUMNS
    rows = {row["key"]: row for row in index.to_dicts()}
    for key, expected in SPEC_EXAMPLES.items():
        for field, value in expected.items():
            assert rows[key][field] == value, (key, field)
        assert rows[key]["is_image"] is True


def test_index_keeps_size_and_mtime_and_input_order() -> None:
    keys = list(SPEC_EXAMPLES)
    index, _ = parse_keys(inventory(keys), get_parser("default"))
    assert index.get_column("key").to_list() == keys
    assert index.get_column("size").to_list() == list(range(len(keys)))
    assert index.schema["site"] == pl.Int64 and index.schema["cycle"] == pl.Int32


BAD = {
    "Barcodes.csv": "not an image",
    "ds/src/b/images/P1/metadata.xml": "not an image",
    ".DS_Store": "hidden file",
    "ds/src/b/images/P1/10X_c1_SBS-1/._WellA1_PointA1_0000_ChannelA_Seq0000.tiff": "hidden file",
    "workspace/illum/P1_DAPI.npy": "not an image",
    "stray.tiff": "path is not <dataset>/<source>/<batch>/images/<plate>/<acquisition folder>/<file>",
    "ds/src/b/images/P1/10X_XX_P1/WellA1_PointA1_0000_ChannelA_Seq0000.tiff": "acquisition folder",
    "ds/src/b/images/P1/10X_CP_P1/notes.tif": "file name is not Well<W>",
    "ds/src/b/images/P1/10X_CP_P2/WellA1_PointA1_0000_ChannelA_Seq0000.tiff": (
        "plate 'P2' elsewhere in the path differs from plate 'P1'"
    ),
    "ds/src/b/images/P1/10X_c3_SBS-4/WellA1_PointA1_0000_ChannelA_Seq0000.tiff": (
        "cycle '4' elsewhere in the path differs from cycle '3'"
    ),
}


def test_unparsed_files_carry_a_specific_reason() -> None:
    index, unparsed = parse_keys(inventory(list(BAD)), get_parser("default"))
    assert index.height == 0
    reasons = dict(zip(unparsed["key"], unparsed["reason"], strict=True))
    assert set(reasons) == set(BAD)
    for key, expected in BAD.items():
        assert expected in reasons[key], (key, reasons[key])


def test_no_file_vanishes() -> None:
    keys = list(SPEC_EXAMPLES) + list(BAD)
    index, unparsed = parse_keys(inventory(keys), get_parser("default"))
    assert index.height + unparsed.height == len(keys)
    assert sorted(index["key"].to_list() + unparsed["key"].to_list()) == sorted(keys)


PER_CHANNEL = {
    "Plate1/CP/A01_s1_DAPI.tif": dict(plate="Plate1", arm="CP", cycle=None, well="A01", site=1),
    "B1/Plate1/SBS/cycle03/B2_s12_G.tiff": dict(
        batch="B1", plate="Plate1", arm="SBS", cycle=3, well="B2", site=12, channels=["G"]
    ),
}


def test_per_channel_preset() -> None:
    keys = [*PER_CHANNEL, "Plate1/CP/A01-s1-DAPI.tif", "Plate1/other/A01_s1_DAPI.tif"]
    index, unparsed = parse_keys(inventory(keys), get_parser("per-channel"))
    rows = {row["key"]: row for row in index.to_dicts()}
    for key, expected in PER_CHANNEL.items():
        for field, value in expected.items():
            assert rows[key][field] == value, (key, field)
    assert rows["Plate1/CP/A01_s1_DAPI.tif"]["channels"] == ["DAPI"]
    reasons = dict(zip(unparsed["key"], unparsed["reason"], strict=True))
    assert "file name is not <well>_s<site>_<channel>" in reasons["Plate1/CP/A01-s1-DAPI.tif"]
    assert "path is not [<batch>/]<plate>/CP" in reasons["Plate1/other/A01_s1_DAPI.tif"]


def test_user_patterns_first_match_wins_and_arm_follows_cycle() -> None:
    patterns = [
        r"^(?P<plate>[^/]+)/cyc(?P<cycle>\d+)/(?P<well>[A-P]\d+)-(?P<site>\d+)-(?P<channels>[^.]+)\.png$",
        r"^(?P<plate>[^/]+)/(?P<well>[A-P]\d+)-(?P<site>\d+)-(?P<channel>[^.]+)\.png$",
    ]
    keys = ["P9/cyc7/C4-2-A,C,G,T.png", "P9/C4-2-Actin.png", "P9/readme.png"]
    index, unparsed = parse_keys(inventory(keys), get_parser(patterns=patterns))
    rows = {row["key"]: row for row in index.to_dicts()}
    sbs = rows["P9/cyc7/C4-2-A,C,G,T.png"]
    assert (sbs["arm"], sbs["cycle"], sbs["channels"]) == ("SBS", 7, ["A", "C", "G", "T"])
    cp = rows["P9/C4-2-Actin.png"]
    assert (cp["arm"], cp["cycle"], cp["site"], cp["channels"]) == ("CP", None, 2, ["Actin"])
    assert unparsed.to_dicts()[0]["reason"] == "image path matches none of the 2 user pattern(s)"


def test_user_pattern_with_explicit_arm_is_validated() -> None:
    pattern = (
        r"^(?P<arm>[a-z]+)/(?P<plate>\w+)_(?P<well>[A-H]\d+)_(?P<site>\d+)_(?P<channel>\w+)\.tif$"
    )
    keys = ["sbs/P1_A1_0_G.tif", "cp/P1_A1_0_DNA.tif", "xyz/P1_A1_0_DNA.tif"]
    index, unparsed = parse_keys(inventory(keys), get_parser(patterns=[pattern]))
    assert index.get_column("arm").to_list() == ["SBS", "CP"]
    assert unparsed.to_dicts()[0]["reason"] == "arm 'XYZ' is neither CP nor SBS"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            r"^(?P<plate>x)(?P<well>y)(?P<site>\d)(?P<channels>z)(?P<colour>q)$",
            "unknown group(s) colour",
        ),
        (r"^(?P<plate>x)(?P<well>y)(?P<channels>z)$", "lacks named group(s): site"),
        (r"^(?P<plate>x)(?P<well>y)(?P<site>\d)$", "channels or channel"),
        (r"^(?P<plate>x(?P<well>y)", "not a valid regular expression"),
    ],
)
def test_bad_user_patterns_are_rejected_with_the_reason(pattern: str, message: str) -> None:
    with pytest.raises(ParserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_parser(patterns=[pattern])


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ParserError, match="available: " + ", ".join(sorted(PRESETS))):
        get_parser("nikon")
