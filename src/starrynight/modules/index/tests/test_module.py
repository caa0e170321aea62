"""GenIndexModule: spec (outputs, parameters) and the command it runs, user patterns included."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from starrynight import naming
from starrynight.cli import main
from starrynight.config import DataConfig, read_parquet
from starrynight.modules.index import GenIndexModule
from starrynight.modules.index.tests.screen import screen_keys, write_files

# the per-channel-like layout <plate>/<arm>/<well>-<site>-<channel>.tif, which no preset reads
USER_PATTERN = (
    r"^(?P<plate>[^/]+)/(?P<arm>CP|SBS)(?:-c(?P<cycle>\d+))?/"
    r"(?P<well>[A-Z]\d+)-(?P<site>\d+)-(?P<channel>[^/.]+)\.tif$"
)
USER_KEYS = [
    "P1/CP/A1-1-DAPI.tif",
    "P1/CP/A1-1-Mito.tif",
    "P1/SBS-c1/A1-1-A.tif",
    "P1/SBS-c2/A1-1-A.tif",
]


def config(tmp_path: Path) -> DataConfig:
    return DataConfig(
        workspace_path=tmp_path / "ws", images_path=tmp_path / "images", scratch_path=tmp_path
    )


def run(module: GenIndexModule) -> None:
    argv = module.pipeline.argv
    assert argv[0] == "starrynight"
    result = CliRunner().invoke(main, argv[1:])
    assert result.exit_code == 0, result.output


def test_outputs_declare_the_inventory_it_writes(tmp_path: Path) -> None:
    write_files(tmp_path / "images", screen_keys({"Plate1": ["A1"]}))
    module = GenIndexModule.from_config(config(tmp_path))
    ws = tmp_path / "ws"
    assert module.spec.outputs == {
        "manifest": naming.index_manifest(ws),
        "inventory": naming.inventory_table(ws),
        "index": naming.index_table(ws),
        "unparsed": naming.unparsed_table(ws),
    }
    assert "--pattern" not in module.pipeline.argv
    run(module)
    assert all(Path(p).exists() for p in module.spec.outputs.values())


def test_user_patterns_reach_the_index_command(tmp_path: Path) -> None:
    write_files(tmp_path / "images", USER_KEYS)
    module = GenIndexModule.from_config(config(tmp_path), patterns=[USER_PATTERN])
    argv = module.pipeline.argv
    assert argv[argv.index("--pattern") + 1] == USER_PATTERN
    run(module)
    manifest = yaml.safe_load(naming.index_manifest(tmp_path / "ws").read_text())
    assert manifest["parser"]["name"] == "user"
    assert manifest["counts"] == {
        "files": 4,
        "indexed": 4,
        "unparsed": 0,
        "by_arm": {"CP": 2, "SBS": 2},
        "unparsed_by_reason": {},
    }
    index = read_parquet(naming.index_table(tmp_path / "ws"))
    assert index.filter(pl.col("arm") == "SBS")["cycle"].to_list() == [1, 2]
    # one string is accepted as one pattern
    single = GenIndexModule.from_config(config(tmp_path), patterns=USER_PATTERN)
    assert single.parameters.patterns == [USER_PATTERN]


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"patterns": [r"^(?P<plate>[^/]+)/(?P<well>\w+)\.tif$"]}, "lacks named group(s): site"),
        ({"patterns": ["(?P<plate>"]}, "is not a valid regular expression"),
        (
            {"patterns": [r"(?P<plate>.)(?P<wel>.)(?P<site>.)(?P<channel>.)"]},
            "unknown group(s) wel",
        ),
        ({"preset": "nope"}, "unknown index preset 'nope'"),
    ],
)
def test_bad_patterns_fail_at_construction_naming_the_parameter(
    tmp_path: Path, parameters: dict[str, object], expected: str
) -> None:
    with pytest.raises(ValidationError) as info:
        GenIndexModule.from_config(config(tmp_path), **parameters)
    message = str(info.value)
    assert f"GenIndexModule parameter '{next(iter(parameters))}'" in message
    assert expected in message


def test_changing_patterns_later_is_validated_too(tmp_path: Path) -> None:
    module = GenIndexModule.from_config(config(tmp_path))
    with pytest.raises(ValidationError, match="parameter 'patterns'.*lacks named group"):
        module.parameters.patterns = [r"(?P<plate>.)"]
    module.parameters.patterns = [USER_PATTERN]
    assert module.pipeline.argv[-2:] == ["--pattern", USER_PATTERN]


def test_pattern_with_braces_runs_through_snakemake(tmp_path: Path) -> None:
    """A regex quantifier like {1,2} must not be read as a Snakemake wildcard."""
    import pipecraft as pc

    write_files(tmp_path / "images", USER_KEYS)
    pattern = USER_PATTERN.replace(r"(?P<cycle>\d+)", r"(?P<cycle>\d{1,2})")
    module = GenIndexModule.from_config(config(tmp_path), patterns=[pattern])
    backend_config = pc.SnakemakeBackendConfig()
    pc.SnakemakeBackend(backend_config).run(
        module.pipeline, config=backend_config, working_dir=tmp_path / "run"
    )
    assert read_parquet(naming.index_table(tmp_path / "ws")).height == 4
