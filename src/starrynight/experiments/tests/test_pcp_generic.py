"""PCPGenericExperiment.from_index on small trees of real (empty) files, and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from starrynight import naming
from starrynight.cli import main
from starrynight.experiments.inference import InferenceError, _cycles, infer_arm
from starrynight.experiments.pcp_generic import (
    INDEX_COLUMNS,
    ExperimentError,
    PCPGenericExperiment,
)
from starrynight.experiments.registry import get_experiment, load_experiment
from starrynight.index_table import load_index
from starrynight.modules.index.index import build_index
from starrynight.modules.index.tests.screen import screen_keys, write_barcodes, write_files

PLATES = {"Plate10": ["A1", "A10", "A2"], "Plate2": ["B01"]}


def index_for(tmp_path: Path, keys: list[str], preset: str = "default") -> Path:
    images = tmp_path / "images"
    write_files(images, keys)
    return build_index(tmp_path / "ws", images, preset=preset)


def init(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "nuclear_channel": "DAPI",
        "cell_channel": "CellMask",
        "mito_channel": "MitoTracker",
        "barcode_csv_path": str(write_barcodes(tmp_path / "lib" / "Barcodes.csv")),
        "image_overlap_percentage": 10,
    }
    config.update(changes)
    return config


def test_infers_plates_wells_sites_cycles_channels(tmp_path: Path) -> None:
    keys = screen_keys(PLATES, cp_sites=3, sbs_sites=2, cycles=(1, 2, 3, 10, 4, 5, 6, 7, 8, 9))
    manifest = index_for(tmp_path, keys + ["ds/Source1/Batch1/Barcodes.csv"])
    library = [("ACGTACGTACGT", "GENE1"), ("TTGACATTGACA", "GENE2")]  # 10 cycles need 10+ bases
    config = init(tmp_path, barcode_csv_path=str(write_barcodes(tmp_path / "b.csv", library)))
    exp = PCPGenericExperiment.from_index(index_path=manifest, init_config=config)
    assert exp.plates == ["Plate2", "Plate10"]
    assert exp.wells == {"Plate2": ["B01"], "Plate10": ["A1", "A2", "A10"]}
    assert (exp.dataset, exp.source, exp.batch) == ("ds", "Source1", "Batch1")
    assert exp.cp.channels == ["DAPI", "CellMask", "MitoTracker"]
    assert exp.cp.sites_per_well == 3 and exp.sbs.sites_per_well == 2
    assert exp.sbs.cycles == list(range(1, 11))
    assert exp.sbs.channels == ["C", "A", "T", "G", "DAPI"]
    assert exp.sbs.base_channels == {"A": "A", "C": "C", "G": "G", "T": "T"}
    assert exp.sbs.nuclear_channel == "DAPI"
    assert (exp.cp.magnification, exp.sbs.magnification) == (20, 10)
    assert exp.barcode_length == 12 and exp.image_overlap_percentage == 10


def test_channel_maps_and_sbs_overrides(tmp_path: Path) -> None:
    keys = screen_keys(
        {"P1": ["A1"]},
        cp_channels=("405 nm", "CellMask", "Mito-647"),
        sbs_channels=("405 nm", "Cy3", "Cy5", "AF488", "AF594"),
    )
    config = init(
        tmp_path,
        channel_map={"405 nm": "DAPI"},
        cp={"channel_map": {"Mito-647": "MitoTracker"}},
        sbs={
            "nuclear_channel": "DAPI",
            "base_channels": {"A": "Cy3", "C": "Cy5", "G": "AF488", "T": "AF594"},
        },
    )
    exp = PCPGenericExperiment.from_index(index_for(tmp_path, keys), config)
    assert exp.cp.channels == ["DAPI", "CellMask", "MitoTracker"]
    assert exp.cp.channel_map == {
        "405 nm": "DAPI",
        "CellMask": "CellMask",
        "Mito-647": "MitoTracker",
    }
    assert exp.sbs.channels == ["DAPI", "Cy3", "Cy5", "AF488", "AF594"]
    assert exp.sbs.base_channels["G"] == "AF488"


def test_per_channel_layout(tmp_path: Path) -> None:
    keys = [
        f"P1/CP/{w}_s{s}_{c}.tif"
        for w in ("A1", "A2")
        for s in (1, 2)
        for c in ("DAPI", "CellMask", "MitoTracker")
    ]
    keys += [
        f"P1/SBS/cycle{n}/{w}_s{s}_{c}.tif"
        for n in (1, 2)
        for w in ("A1", "A2")
        for s in (1,)
        for c in "ACGT"
    ]
    keys += [f"P1/SBS/cycle{n}/{w}_s1_DAPI.tif" for n in (1, 2) for w in ("A1", "A2")]
    exp = PCPGenericExperiment.from_index(index_for(tmp_path, keys, "per-channel"), init(tmp_path))
    assert exp.cp.channels == ["CellMask", "DAPI", "MitoTracker"]  # files of a site in key order
    assert exp.sbs.channels == ["A", "C", "DAPI", "G", "T"]
    assert (exp.cp.sites_per_well, exp.sbs.sites_per_well, exp.sbs.cycles) == (2, 1, [1, 2])


def test_index_as_parquet_or_csv_gives_the_same_experiment(tmp_path: Path) -> None:
    manifest = index_for(tmp_path, screen_keys(PLATES))
    from_yaml = PCPGenericExperiment.from_index(manifest, init(tmp_path))
    parquet = naming.index_table(manifest.parent)
    csv = tmp_path / "index.csv"
    import polars as pl

    pl.read_parquet(parquet).with_columns(pl.col("channels").list.join(",")).write_csv(csv)
    for other in (parquet, csv):
        exp = PCPGenericExperiment.from_index(other, init(tmp_path))
        # a bare table names no images root, so only index.yaml lets geometry read image metadata
        assert exp.model_dump(exclude={"index_path", "geometry"}) == from_yaml.model_dump(
            exclude={"index_path", "geometry"}
        )
        for arm in ("cp", "sbs"):
            ours, theirs = getattr(exp.geometry, arm), getattr(from_yaml.geometry, arm)
            assert (ours.magnification, ours.sites_per_well) == (
                theirs.magnification,
                theirs.sites_per_well,
            )


def test_json_round_trip_and_moved_workspace(tmp_path: Path) -> None:
    manifest = index_for(tmp_path, screen_keys(PLATES))
    config = init(tmp_path, barcode_csv_path=str(write_barcodes(tmp_path / "ws" / "Barcodes.csv")))
    exp = PCPGenericExperiment.from_index(manifest, config)
    target = exp.to_json(naming.experiment_json(tmp_path / "ws"))
    stored = json.loads(target.read_text())
    assert stored["index_path"] == "../index.yaml"
    assert stored["barcode_csv_path"] == "../Barcodes.csv"
    assert PCPGenericExperiment.from_json(target) == exp

    moved = tmp_path / "moved" / "ws"
    shutil.copytree(tmp_path / "ws", moved)
    shutil.rmtree(tmp_path / "ws")
    again = load_experiment(naming.experiment_json(moved))
    assert again.index_path == moved / "index.yaml"
    assert again.barcode_csv_path == moved / "Barcodes.csv"
    assert again.model_dump(exclude={"index_path", "barcode_csv_path"}) == exp.model_dump(
        exclude={"index_path", "barcode_csv_path"}
    )
    rebuilt = PCPGenericExperiment.from_index(
        again.index_path, {**config, "barcode_csv_path": str(again.barcode_csv_path)}
    )
    assert rebuilt.wells == exp.wells


def test_registry_by_name() -> None:
    assert get_experiment("pcp-generic") is PCPGenericExperiment
    with pytest.raises(ExperimentError, match="unknown experiment 'nope'; available: pcp-generic"):
        get_experiment("nope")


# ------------------------------------------------------------------------ bad init configs
def error_of(tmp_path: Path, keys: list[str], **changes: Any) -> str:
    manifest = index_for(tmp_path, keys)
    with pytest.raises(ExperimentError) as info:
        PCPGenericExperiment.from_index(manifest, init(tmp_path, **changes))
    return str(info.value)


def test_missing_cp_channel_names_the_channel(tmp_path: Path) -> None:
    message = error_of(tmp_path, screen_keys(PLATES), mito_channel="Mito")
    assert "mito_channel: channel 'Mito' is not a CP channel" in message
    assert "DAPI, CellMask, MitoTracker" in message


def test_sbs_nuclear_channel_missing(tmp_path: Path) -> None:
    keys = screen_keys(PLATES, sbs_channels=("C", "A", "T", "G", "Hoechst"))
    assert "channel 'DAPI' is not an SBS channel" in error_of(tmp_path, keys)


def test_missing_base_is_an_error(tmp_path: Path) -> None:
    keys = screen_keys(PLATES, sbs_channels=("C", "A", "T", "DAPI"))
    assert "SBS arm has no channel for base(s) G" in error_of(tmp_path, keys)
    bad_map = {"base_channels": {"A": "A", "C": "C", "G": "G"}}
    message = error_of(tmp_path / "second", screen_keys(PLATES), sbs=bad_map)
    assert "sbs.base_channels lacks base(s) T" in message


def test_a_utf16_barcode_csv_is_named_as_such(tmp_path: Path) -> None:
    csv = tmp_path / "lib.csv"
    csv.write_text("sgRNA,gene_symbol\nACGT,G1\n", encoding="utf-16")
    message = error_of(tmp_path, screen_keys(PLATES), barcode_csv_path=str(csv))
    assert (
        "lib.csv is not UTF-8 text (UTF-16, or a binary file)" in message and "\x00" not in message
    )


def test_missing_barcode_csv(tmp_path: Path) -> None:
    message = error_of(tmp_path, screen_keys(PLATES), barcode_csv_path=str(tmp_path / "none.csv"))
    assert "none.csv does not exist" in message and "barcode_csv_path" in message
    (tmp_path / "library").mkdir()
    message = error_of(tmp_path / "second", screen_keys(PLATES),
                       barcode_csv_path=str(tmp_path / "library"))  # fmt: skip
    assert "library is a folder, not a file" in message and "barcode_csv_path" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("barcode,gene\nACGT,G1\n", "lacks column(s) sgRNA, gene_symbol"),
        ("sgRNA,gene_symbol\nACGT,G1\nACNT,G2\n", "line 3: 'ACNT'"),
        ("sgRNA,gene_symbol\nACGT,G1\nACG,G2\nTTTT,G3\n", "same length (4); line 3: ACG (3)"),
        ("sgRNA,gene_symbol\n", "has no barcodes"),
        ("sgRNA,gene_symbol\nACGT,\n", "empty gene_symbol on line(s) 2"),
        ("sgRNA,gene_symbol\nACGT,G1\nGTCA,  \n", "empty gene_symbol on line(s) 3"),
        ('sgRNA,gene_symbol\nACGT,"TP\n53"\n', "gene_symbol holds a line break or tab"),
        # polars keeps the first sgRNA column, the SBS step's reader the last: never guess
        ("sgRNA,gene_symbol,sgRNA\nACGT,G1,AAAA\n", "column(s) sgRNA appear more than once"),
        ("sgRNA,gene_symbol,gene_symbol\nACGT,G1,G2\n", "column(s) gene_symbol appear more"),
        ("sgRNA,gene_symbol\nACGT,G1\nGTCA,G2,extra\n", "line 3 has 3 field(s), the header 2"),
    ],
)
def test_malformed_barcode_csv(tmp_path: Path, content: str, expected: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    message = error_of(tmp_path, screen_keys(PLATES), barcode_csv_path=str(csv))
    assert expected in message and "bad.csv" in message


@pytest.mark.parametrize("plate", ["Plate 1", "P$(touch x)1", "Pl'ate"])
def test_a_plate_name_that_cannot_name_files_is_named(tmp_path: Path, plate: str) -> None:
    message = error_of(tmp_path, screen_keys({plate: ["A1"]}))
    assert f"plate name {plate!r} (from " in message and "cannot name files" in message
    assert "unit id" not in message  # before: blamed on an internal unit id at compile time


def test_cycle_gap_names_the_cycle(tmp_path: Path) -> None:
    message = error_of(tmp_path, screen_keys(PLATES, cycles=(1, 2, 4)))
    assert "SBS cycle(s) 3 missing" in message


# a user pattern that reads the arm but not the cycle: every SBS row has a null cycle
NO_CYCLE_PATTERN = (
    r"^(?P<dataset>[^/]+)/(?P<source>[^/]+)/(?P<batch>[^/]+)/images/(?P<plate>[^/]+)/"
    r"\d+X_(?:c\d+_)?(?P<arm>CP|SBS)[-_][^/]+/Well(?P<well>[A-Z]+\d+)_Point[^_]+_"
    r"(?P<site>\d+)_Channel(?P<channels>[^_/]+)_Seq\d+\.ome\.tiff$"
)


def test_sbs_without_cycle_is_a_clear_error(tmp_path: Path) -> None:
    write_files(tmp_path / "images", screen_keys(PLATES))
    manifest = build_index(tmp_path / "ws", tmp_path / "images", patterns=[NO_CYCLE_PATTERN])
    with pytest.raises(ExperimentError) as info:
        PCPGenericExperiment.from_index(manifest, init(tmp_path))
    message = str(info.value)
    assert "all SBS image(s) have no cycle number" in message
    assert "well(s) Plate2/B01, Plate10/A1, Plate10/A2, Plate10/A10" in message
    assert "named group 'cycle'" in message


def test_some_sbs_rows_without_cycle_are_named_not_counted(tmp_path: Path) -> None:
    index = load_index(index_for(tmp_path, screen_keys(PLATES)), ["key", *INDEX_COLUMNS])
    broken = pl.col("key").str.contains("c2_SBS-2/WellA10_")
    index = index.with_columns(cycle=pl.when(broken).then(None).otherwise(pl.col("cycle")))
    with pytest.raises(InferenceError) as info:
        infer_arm(index, "SBS")
    message = str(info.value)
    assert message.startswith(
        "1 of 12 SBS image(s) have no cycle number (well(s) Plate10/A10; e.g. "
    )
    assert "10X_c2_SBS-2/WellA10_PointA10_0000" in message
    sites = index.filter(pl.col("arm") == "SBS").select("plate", "well", "site", "cycle")
    with pytest.raises(InferenceError, match="1 of 12 SBS image"):
        _cycles(sites)  # nulls are not a cycle, even when called on its own
    with pytest.raises(InferenceError, match="all SBS image"):
        _cycles(sites.with_columns(cycle=pl.lit(None, pl.Int32)))


def test_well_missing_a_cycle_is_named(tmp_path: Path) -> None:
    keys = [k for k in screen_keys(PLATES) if "c2_SBS-2/WellA10_" not in k]
    assert "Plate10/A10 lacks cycle(s) 2" in error_of(tmp_path, keys)


def test_inconsistent_sites_name_the_wells(tmp_path: Path) -> None:
    keys = [
        k
        for k in screen_keys(PLATES, cp_sites=3)
        if not ("_CP_" in k and "WellA2_PointA2_0002" in k)
    ]
    message = error_of(tmp_path, keys)
    assert "CP sites per well differ" in message
    assert "2 site(s) in 1 well(s) (Plate10/A2)" in message
    assert "3 site(s) in 3 well(s)" in message
    forced = error_of(tmp_path / "x", screen_keys(PLATES, cp_sites=3), cp={"sites_per_well": 4})
    assert "CP sites_per_well is set to 4 but wells differ: 3 in Plate2/B01, Plate10/A1" in forced


def test_an_arm_imaged_at_two_magnifications_is_named(tmp_path: Path) -> None:
    keys = screen_keys(PLATES)
    stray = next(k for k in keys if "_CP_" in k).replace("20X_CP_", "10X_CP_")
    message = error_of(tmp_path, [*keys, stray])
    assert (
        "CP images were taken at 2 magnifications (10X: 1 file(s), e.g. Plate10/A1 site 0; 20X: "
        in message
    )


def test_well_in_one_arm_only(tmp_path: Path) -> None:
    keys = screen_keys(PLATES) + screen_keys({"Plate2": ["C3"]}, cycles=())
    assert "wells imaged in only one arm: Plate2/C3 (CP only)" in error_of(tmp_path, keys)


def test_channels_differing_between_cycles(tmp_path: Path) -> None:
    cycle3 = screen_keys(PLATES, cycles=(3,), sbs_channels=("A", "C", "G", "T"))
    keys = screen_keys(PLATES, cycles=(1, 2)) + [k for k in cycle3 if "_SBS-" in k]
    message = error_of(tmp_path, keys)
    assert "SBS channels differ between sites" in message and "cycle(s) 3" in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"sbs": {"bases": {}}}, "unknown key 'sbs.bases'"),
        ({"image_overlap_percentage": 150}, "'image_overlap_percentage'"),
        ({"channel_map": {"Cy7": "X"}}, "channel_map: channel 'Cy7' is in neither arm"),
        ({"cp": {"channel_map": {"A": "X"}}}, "cp.channel_map: channel 'A' is not in the CP arm"),
        (
            {"channel_map": {"CellMask": "DAPI"}},
            "CP channel_map gives several channels the name(s) DAPI",
        ),
    ],
)
def test_bad_init_config_keys(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    assert expected in error_of(tmp_path, screen_keys(PLATES), **changes)


def test_missing_seed_key_is_named(tmp_path: Path) -> None:
    config = init(tmp_path)
    del config["cell_channel"]
    manifest = index_for(tmp_path, screen_keys(PLATES))
    with pytest.raises(ExperimentError, match="missing key 'cell_channel'"):
        PCPGenericExperiment.from_index(manifest, config)


# ------------------------------------------------------------------------------------- CLI
def test_cli_init_new_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = index_for(tmp_path, screen_keys(PLATES))
    runner = CliRunner()
    created = runner.invoke(main, ["exp", "init", "-o", "init.yaml"])
    assert created.exit_code == 0, created.output
    again = runner.invoke(main, ["exp", "init", "-o", "init.yaml"])
    assert again.exit_code != 0 and "exists" in again.output
    text = (tmp_path / "init.yaml").read_text()
    barcodes = write_barcodes(tmp_path / "Barcodes.csv")
    (tmp_path / "init.yaml").write_text(text.replace("/path/to/Barcodes.csv", str(barcodes)))
    new = runner.invoke(main, ["exp", "new", "-x", str(manifest), "-c", "init.yaml"])
    assert new.exit_code == 0, new.output
    assert naming.experiment_json(manifest.parent).exists()
    shown = runner.invoke(main, ["exp", "show", str(manifest.parent)])
    assert shown.exit_code == 0 and "Plate2: B01" in shown.output and "3 cycles" in shown.output
    good = (tmp_path / "init.yaml").read_text()
    (tmp_path / "bad.yaml").write_text(
        good.replace("mito_channel: MitoTracker", "mito_channel: Mito")
    )
    bad = runner.invoke(main, ["exp", "new", "-x", str(manifest), "-c", "bad.yaml"])
    assert bad.exit_code != 0 and "channel 'Mito' is not a CP channel" in bad.output
    assert "Traceback" not in bad.output


# ------------------------------------------------------------- bad input found late before
def _bad(tmp_path: Path, **changes: Any) -> str:
    keys = screen_keys({"P1": ["A1"]}, cycles=(1, 2, 3))
    with pytest.raises(ExperimentError) as caught:
        PCPGenericExperiment.from_index(index_for(tmp_path, keys), init(tmp_path, **changes))
    return str(caught.value)


def _library(tmp_path: Path, rows: list[tuple[str, str]]) -> str:
    return str(write_barcodes(tmp_path / "lib" / "bad.csv", rows))


def test_a_barcode_listed_under_two_genes_is_refused(tmp_path: Path) -> None:
    rows = [("ACGTAC", "GENE1"), ("TTGACA", "GENE2"), ("ACGTAC", "GENE3")]
    message = _bad(tmp_path, barcode_csv_path=_library(tmp_path, rows))
    assert "same barcode is listed under different genes" in message
    assert "ACGTAC (GENE1, line 2), ACGTAC (GENE3, line 4)" in message


def test_barcodes_equal_in_the_cycles_read_are_refused_unless_allowed(tmp_path: Path) -> None:
    rows = [("GTCA", "KRAS"), ("GTCT", "TP53"), ("AAAC", "MYC"), ("AAAG", "MYC")]
    message = _bad(tmp_path, barcode_csv_path=_library(tmp_path, rows))
    assert "equal in the 3 cycles read" in message
    assert "GTCA (KRAS, line 2), GTCT (TP53, line 3)" in message
    assert "MYC" not in message  # one gene under two barcodes is no collision
    keys = screen_keys({"P1": ["A1"]}, cycles=(1, 2, 3))
    config = init(
        tmp_path, barcode_csv_path=_library(tmp_path, rows), allow_barcode_collisions=True
    )
    assert (
        PCPGenericExperiment.from_index(index_for(tmp_path / "ok", keys), config).barcode_length
        == 4
    )


def test_barcodes_shorter_than_the_cycles_are_refused_at_experiment_time(tmp_path: Path) -> None:
    message = _bad(tmp_path, barcode_csv_path=_library(tmp_path, [("AC", "G1"), ("GT", "G2")]))
    assert "barcodes have 2 bases but the SBS arm reads 3 cycles" in message
    assert "AC (G1, line 2)" in message


def test_two_bases_on_one_channel_are_refused(tmp_path: Path) -> None:
    bases = {"A": "A", "C": "C", "G": "G", "T": "G"}
    message = _bad(tmp_path, sbs={"base_channels": bases})
    assert "maps several bases to one channel: G, T -> G" in message


@pytest.mark.parametrize("value", [True, False])
def test_overlap_given_as_a_boolean_is_refused(tmp_path: Path, value: bool) -> None:
    message = _bad(tmp_path, image_overlap_percentage=value)
    assert "image_overlap_percentage" in message and "not a number" not in message
    assert f"must be a number of percent (e.g. 10), not {value}" in message


@pytest.mark.parametrize("second", ["Cell_Mask", "cell-mask", "Cell Mask"])
def test_channel_names_equal_once_made_safe_are_refused(tmp_path: Path, second: str) -> None:
    keys = screen_keys({"P1": ["A1"]}, cp_channels=("DAPI", "Cell-Mask", "MitoTracker", second))
    with pytest.raises(ExperimentError) as caught:
        PCPGenericExperiment.from_index(
            index_for(tmp_path, keys), init(tmp_path, cell_channel="Cell-Mask")
        )
    assert f"CP channels 'Cell-Mask' and '{second}' both become" in str(caught.value)


def test_a_mistyped_init_key_gets_a_close_match(tmp_path: Path) -> None:
    message = _bad(tmp_path, nuclear_chanel="DAPI")
    assert "unknown key 'nuclear_chanel' (did you mean 'nuclear_channel'?)" in message
    message = _bad(tmp_path, sbs={"base_channel": {}})
    assert "unknown key 'sbs.base_channel' (did you mean 'base_channels'?)" in message


def test_a_base_on_the_nuclear_channel_is_refused(tmp_path: Path) -> None:
    bases = {"A": "A", "C": "C", "G": "G", "T": "DAPI"}
    message = _bad(tmp_path, sbs={"base_channels": bases})
    assert "SBS channel 'DAPI' is both the nuclear stain" in message and "base(s) T" in message


def test_non_ascii_channel_names_are_refused_with_the_fix(tmp_path: Path) -> None:
    keys = screen_keys({"P1": ["A1"]}, cp_channels=("DAPI", "CellMask", "Mitö"))
    with pytest.raises(ExperimentError, match="channel 'Mitö' has non-ASCII letters") as caught:
        PCPGenericExperiment.from_index(
            index_for(tmp_path, keys), init(tmp_path, mito_channel="Mitö")
        )
    assert "channel_map" in str(caught.value)
    config = init(tmp_path, mito_channel="Mito", channel_map={"Mitö": "Mito"})
    assert (
        PCPGenericExperiment.from_index(index_for(tmp_path / "ok", keys), config).cp.channels[2]
        == "Mito"
    )


def test_blank_lines_in_the_library_are_skipped_and_lines_still_named(tmp_path: Path) -> None:
    # the SBS step's reader skips blank lines: so does the check (before: "line 3: None")
    keys = screen_keys({"P1": ["A1"]}, cycles=(1, 2, 3))
    csv = tmp_path / "lib" / "blank.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("sgRNA,gene_symbol\r\nACGT,G1\r\n\r\nTTGA,G2\r\n\r\n")
    experiment = PCPGenericExperiment.from_index(
        index_for(tmp_path, keys), init(tmp_path, barcode_csv_path=str(csv))
    )
    assert experiment.barcode_length == 4
    csv.write_text("sgRNA,gene_symbol\nACGT,G1\n\nACGA,G2\n\nACGC,G1\n")
    message = _bad(tmp_path / "again", barcode_csv_path=str(csv))
    assert "ACGT (G1, line 2), ACGA (G2, line 4), ACGC (G1, line 6)" in message
