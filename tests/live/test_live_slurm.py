"""The tiny screen and pipecraft graphs on a real SLURM cluster, through Snakemake's SLURM
executor plugin: same per-cell table as a local run, resources read back from the scheduler,
a unit killed for its memory and retried with more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pipecraft as pc
from starrynight import naming
from tests.live.slurm_cluster import PARTITION

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("live_slurm")]

#: the plugin's own settings, as a screen config's backend section names them
SLURM_SETTINGS = {
    "no_account": True,
    "init_seconds_before_status_checks": 1,
    "keep_successful_logs": True,
}


def _run(config: Path) -> subprocess.CompletedProcess:
    starrynight = Path(sys.executable).with_name("starrynight")
    return subprocess.run([str(starrynight), "run", "pcp-generic", "--config", str(config)],
                          capture_output=True, text=True, timeout=2400)  # fmt: skip


def _cells(workspace: Path) -> pl.DataFrame:
    table = pl.read_parquet(naming.analysis.cell_table(workspace))
    keys = [c for c in ("plate", "well", "site", "ObjectNumber") if c in table.columns]
    return table.sort(keys)


def test_live_slurm_tiny_screen_equals_the_local_run(slurm_cluster, tiny_screen_config, tmp_path):
    local = tiny_screen_config(workspace_path=str(tmp_path / "local-ws"),
                               scratch_path=str(tmp_path / "local-scratch"))  # fmt: skip
    local = local.rename(tmp_path / "local.yaml")
    done = _run(local)
    assert done.returncode == 0, done.stderr[-3000:]

    on_slurm = tiny_screen_config(
        backend={"executor": "slurm", "cores": 4, "executor_settings": SLURM_SETTINGS,
                 "default_resources": {"slurm_partition": PARTITION}},
        resources={"cp_illum_apply_invoke": {"mem_mb": 1500, "runtime_min": 9}},
    )  # fmt: skip
    done = _run(on_slurm)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_frame_equal(_cells(tmp_path / "workspace"), _cells(tmp_path / "local-ws"))

    summary = json.loads(
        (naming.run_folder(tmp_path / "scratch", "pcp-generic") / "run_summary.json").read_text()
    )
    assert summary["executor"] == "slurm"
    assert summary["versions"]["snakemake-executor-plugin-slurm"] == "2.8.0"
    assert summary["versions"]["cellprofiler"] not in ("unknown", "not found")
    ran = [
        j
        for j in summary["jobs"]
        if j["status"] == "succeeded" and not j["rule"].endswith("__done")
    ]
    assert ran and all(j["executor_job"]["system"] == "slurm" for j in ran)
    assert all(j["executor_job"]["state"] == "COMPLETED" for j in ran), ran
    assert all(Path(j["executor_job"]["log"]).is_file() for j in ran)

    # what the scheduler was asked for: the override on one step, the step's own elsewhere
    asked = {}
    for line in slurm_cluster.run(
        "sacct", "-n", "-X", "-P", "-o", "JobID,ReqMem,Timelimit,Partition"
    ).splitlines():
        job_id, mem, limit, partition = line.split("|")
        asked[job_id] = (mem, limit, partition)
    rules = {j["executor_job"]["id"]: j["rule"] for j in ran}
    apply = {asked[i] for i, rule in rules.items() if rule == "cp_illum_apply_invoke"}
    calc = {asked[i] for i, rule in rules.items() if rule == "cp_illum_calc_invoke"}
    assert apply == {("1500M", "00:09:00", PARTITION)}, apply
    assert calc == {("2000M", "02:00:00", PARTITION)}, calc


def test_live_slurm_a_unit_killed_for_its_memory_is_retried_with_more(slurm_cluster, tmp_path):
    """Python API: the unit needs ~550 MB with its job step; its first attempt asks for 400 MB, SLURM kills
    it, the retry asks for twice that and succeeds."""
    code = "import sys, time; block = b'x' * (350 * 2**20); time.sleep(4); open(sys.argv[1], 'w').write('ok')"
    fan = pc.FanOut(name="hungry", argv=[sys.executable, "-c", code, "{output.o}"],
                    units=[pc.Unit(id="big")], outputs={"o": pc.file(str(tmp_path / "out" / "{unit}"))},
                    resources=pc.Resources(mem_mb=400, runtime_min=5))  # fmt: skip
    config = pc.SnakemakeBackendConfig(executor="slurm", cores=2, retries=1, progress=False,
                                       executor_settings=SLURM_SETTINGS,
                                       default_resources={"slurm_partition": PARTITION})  # fmt: skip
    handle = pc.SnakemakeBackend(config).run(fan, working_dir=tmp_path / "wd")
    assert handle.status == "succeeded"
    assert (tmp_path / "out" / "big").read_text() == "ok"
    (job,) = [j for j in handle.summary()["jobs"] if j["rule"] == "hungry"]
    run_name = slurm_cluster.run(
        "sacct", "-n", "-X", "-P", "-o", "JobName", "-j", job["executor_job"]["id"]
    ).strip()
    attempts = [line.split("|") for line in slurm_cluster.run(
        "sacct", "-n", "-X", "-P", "--name", run_name, "-o", "ReqMem,State").splitlines()]  # fmt: skip
    assert [mem for mem, _ in attempts] == ["400M", "800M"], attempts
    first, second = (state.split()[0] for _, state in attempts)
    assert first in ("OUT_OF_MEMORY", "FAILED", "CANCELLED") and second == "COMPLETED", attempts
