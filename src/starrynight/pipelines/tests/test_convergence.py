"""Runs converge in one go, whatever run folder made the outputs (real Snakemake, real
CellProfiler, the tiny screen).

The graph is the index pipeline (inventory -> index) run on its own, as `starrynight run`
does, then CP illumination calc -> apply beside SBS illumination calc. After each change
(a parameter edited from another run folder, an image rewritten with the same or other
bytes, a well's images added, a unit's output deleted) one run re-executes exactly the
jobs it must, and a second run has nothing to do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def screen(tmp_path: Path):
    """A private tiny screen (images writable) with well A2's images held back."""
    from starrynight.config import DataConfig
    from starrynight.datasets import generate_dataset

    info = generate_dataset(tmp_path / "screen", "tiny", seed=0)
    held = tmp_path / "held"
    for path in sorted(info.images_path.rglob("WellA2_*")):
        target = held / path.relative_to(info.images_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    data_config = DataConfig(
        workspace_path=info.workspace_path,
        images_path=info.images_path,
        scratch_path=info.scratch_path,
    )
    return data_config, info, held


class Runner:
    """Index, infer the experiment, build the graph and run it in a given run folder."""

    def __init__(self, data_config, info) -> None:
        import pipecraft as pc

        self.data_config, self.info = data_config, info
        self.backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(cores=2, progress=False))

    def graph(self, apply_params: dict | None = None):
        import pipecraft as pc
        from starrynight.experiments.pcp_generic import PCPGenericExperiment
        from starrynight.modules.cellprofiler_step import step_modules
        from starrynight.pipelines.pcp_generic import _step_graph, _trio

        ws = Path(self.data_config.workspace_path)
        init = {
            "nuclear_channel": "DAPI",
            "cell_channel": "CellMask",
            "mito_channel": "MitoTracker",
            "barcode_csv_path": str(ws / "barcodes.csv"),
            "image_overlap_percentage": 10,
        }
        experiment = PCPGenericExperiment.from_index(ws / "index.yaml", init)

        def step(name: str, params: dict | None = None):
            trio = _trio(name)
            return _step_graph(
                step_modules(
                    trio, self.data_config, experiment, trio[0].Parameters(**(params or {}))
                )
            )

        cp = pc.Seq([step("cp_illum_calc"), step("cp_illum_apply", apply_params)])
        return pc.Parallel([cp, step("sbs_illum_calc")])

    def run(self, folder: str = "a", apply_params: dict | None = None) -> dict[str, set[str]]:
        """Index then run; the units whose command really ran, per rule."""
        from starrynight.pipelines.index import create_index_pipeline

        runs = Path(self.data_config.scratch_path) / "runs"
        _, index = create_index_pipeline(self.data_config)
        ran = self._ran(self.backend.run(index, working_dir=runs / f"index-{folder}"))
        pipeline = self.graph(apply_params)
        ran.update(self._ran(self.backend.run(pipeline, working_dir=runs / folder)))
        self.last = (pipeline, runs / folder)
        return ran

    def nothing_left(self) -> bool:
        """Snakemake plans 0 jobs for the last run's graph in its folder."""
        pipeline, folder = self.last
        return self.backend.dry_run(pipeline, working_dir=folder).total == 0

    @staticmethod
    def _ran(handle) -> dict[str, set[str]]:
        ran: dict[str, set[str]] = {}
        for job in json.loads(handle.summary_path.read_text())["jobs"]:
            if job["status"] == "succeeded" and not job["rule"].endswith("__done"):
                ran.setdefault(job["rule"], set()).add(job["unit"] or job["rule"])
        return ran


def _sbs_image(images: Path, cycle: int, well: str = "A1") -> Path:
    (path,) = images.rglob(f"10X_c{cycle}_SBS-{cycle}/Well{well}_*_0000_*")
    return path


def test_runs_converge_in_one_go_whatever_changed(screen):
    data_config, info, held = screen
    ws = Path(data_config.workspace_path)
    runner = Runner(data_config, info)

    first = runner.run("a")
    assert {
        "gen_inventory",
        "gen_index",
        "cp_illum_calc_invoke",
        "cp_illum_apply_invoke",
        "sbs_illum_calc_invoke",
    } <= set(first)
    assert first["cp_illum_apply_invoke"] == {"Plate1__A1"}
    assert runner.nothing_left() and runner.run("a") == {}

    # a parameter edited in another run folder: exactly its step's jobs re-run
    edited = runner.run("b", {"nuclei_diameter_max": 28})
    assert set(edited) == {
        "cp_illum_apply_loaddata",
        "cp_illum_apply_cppipe",
        "cp_illum_apply_invoke",
    }, edited
    assert runner.nothing_left()
    assert runner.run("a", {"nuclei_diameter_max": 28}) == {}  # the first folder agrees
    cppipe = (ws / "cp_illum_apply" / "pipeline" / "cp_illum_apply.cppipe").read_text()
    assert "28" in cppipe

    # an image rewritten with identical bytes: nothing at all
    image = _sbs_image(data_config.images_path, 2)
    data = image.read_bytes()
    image.write_bytes(data)
    assert runner.run("a", {"nuclei_diameter_max": 28}) == {}

    # the same image with other bytes (same size): of the CellProfiler jobs, only the SBS
    # cycle-2 unit re-runs. (Each step's LoadData writer reads the whole index, so those
    # cheap jobs re-run; they rewrite the other units' CSVs with the same bytes.)
    changed = bytearray(data)
    changed[-1] ^= 0xFF
    image.write_bytes(bytes(changed))
    ran = runner.run("a", {"nuclei_diameter_max": 28})
    assert {rule: units for rule, units in ran.items() if rule.endswith("_invoke")} == {
        "sbs_illum_calc_invoke": {"Plate1__c02"}
    }, ran
    assert runner.nothing_left()

    # a well's images added: indexed and processed in the same run
    for path in sorted(held.rglob("*")):
        if path.is_file():
            target = Path(data_config.images_path) / path.relative_to(held)
            shutil.move(path, target)
    ran = runner.run("a", {"nuclei_diameter_max": 28})
    assert "Plate1__A2" in ran["cp_illum_apply_invoke"]
    assert (ws / "cp_illum_apply" / "outputs" / "Plate1__A2").is_dir()
    assert runner.nothing_left() and runner.run("a", {"nuclei_diameter_max": 28}) == {}

    # a unit's output deleted: rebuilt alone
    shutil.rmtree(ws / "cp_illum_apply" / "outputs" / "Plate1__A1")
    ran = runner.run("a", {"nuclei_diameter_max": 28})
    assert ran == {"cp_illum_apply_invoke": {"Plate1__A1"}}, ran
    assert runner.nothing_left()

    # workspace and images moved together: LoadData is regenerated, naming the new root
    from starrynight.config import DataConfig

    old_root = info.root
    moved = old_root.parent / "moved"
    shutil.move(old_root, moved)
    relocated = DataConfig(
        workspace_path=moved / "workspace",
        images_path=moved / "images",
        scratch_path=moved / "scratch",
    )
    runner = Runner(relocated, info)
    ran = runner.run("a", {"nuclei_diameter_max": 28})
    assert "cp_illum_apply_loaddata" in ran, ran
    csv = (relocated.workspace_path / "cp_illum_apply" / "loaddata" / "Plate1__A1.csv").read_text()
    assert str(relocated.images_path) in csv and str(old_root) + "/" not in csv
    assert runner.nothing_left()
