"""The index pipeline: inventory then index in one graph, the index reading that inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipecraft as pc
from starrynight import naming
from starrynight.config import DataConfig, read_parquet
from starrynight.modules.index.tests.screen import screen_keys, write_files
from starrynight.pipelines import get_pipeline


def test_inventory_then_index_in_one_snakemake_run(tmp_path: Path) -> None:
    keys = screen_keys({"Plate1": ["A1", "B2"]})
    write_files(tmp_path / "images", [*keys, "Plate1/notes.txt"])
    data_config = DataConfig(workspace_path=tmp_path / "ws", images_path=tmp_path / "images",
                             scratch_path=tmp_path / "scratch")
    modules, pipeline = get_pipeline("index")(data_config)
    inventory, index = modules
    assert index.spec.inputs == {"inventory": inventory.spec.outputs["inventory"]}
    assert "inventory" not in index.spec.outputs
    # The index reuses the inventory just written but still reads the image headers.
    assert "--no-refresh" in index.pipeline.argv and "--images" in index.pipeline.argv

    handle = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=1)).run(
        pipeline, working_dir=tmp_path / "scratch" / "runs" / "index")
    assert handle.status == "succeeded"
    ws = tmp_path / "ws"
    indexed = read_parquet(naming.index_table(ws)).height
    unparsed = read_parquet(naming.unparsed_table(ws)).height
    assert indexed == len(keys) and indexed + unparsed == read_parquet(naming.inventory_table(ws)).height


def test_index_parameters_are_checked(tmp_path: Path) -> None:
    data_config = DataConfig(workspace_path=tmp_path / "ws", images_path=tmp_path / "images",
                             scratch_path=tmp_path / "scratch")
    with pytest.raises(ValueError, match="preset"):
        get_pipeline("index")(data_config, parameters={"preset": "no-such-layout"})


def test_an_upgrade_reruns_the_jobs_and_nothing_else_does(tmp_path: Path, monkeypatch) -> None:
    """Every job's command names the StarryNight version, so a new version re-runs it."""
    from starrynight.modules import base

    write_files(tmp_path / "images", screen_keys({"Plate1": ["A1"]}))
    data_config = DataConfig(workspace_path=tmp_path / "ws", images_path=tmp_path / "images",
                             scratch_path=tmp_path / "scratch")  # fmt: skip
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=1, progress=False))
    folder = naming.run_folder(tmp_path / "scratch", "index")

    def jobs_run() -> list[str]:
        _, pipeline = get_pipeline("index")(data_config)
        summary = backend.run(pipeline, working_dir=folder).summary() or {}
        return sorted(j["rule"] for j in summary["jobs"] if j["status"] == "succeeded"
                      and not j["rule"].endswith("__done"))  # fmt: skip

    first = jobs_run()
    assert len(first) == 2 and jobs_run() == []
    monkeypatch.setattr(base, "__version__", "99.0")
    assert jobs_run() == first
