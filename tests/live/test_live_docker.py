"""The tiny screen with every job in the project's Docker image, on a real Docker daemon.

Each job's log starts with the line the image's entrypoint writes from inside its
container (scripts/container_entry.sh); the outputs belong to the invoking user, and the
per-cell table equals the local run's. Compiling needs no Docker at all.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from starrynight.config import DataConfig
from starrynight.datasets import generate_dataset
from tests.live.conftest import INIT, cells, run_tiny_screen

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]

ENTRY = re.compile(
    r"^starrynight-container: id=([0-9a-f]{12}) dockerenv=(\w+) uid=(\d+) gid=(\d+)$", re.M
)


def test_live_docker_runs_every_job_of_the_tiny_screen_in_the_image(docker_daemon, tiny_local_cells,
                                                                     tmp_path, monkeypatch):  # fmt: skip
    monkeypatch.setenv("DOCKER_HOST", docker_daemon.host)
    info = generate_dataset(tmp_path / "screen", "tiny", seed=0)
    data_config = DataConfig(workspace_path=info.workspace_path, images_path=info.images_path,
                             scratch_path=info.scratch_path)  # fmt: skip
    runs = Path(info.scratch_path) / "runs"
    handle = run_tiny_screen(data_config, info.barcode_csv, runs, container_runtime="docker")
    assert handle.status == "succeeded"

    image = docker_daemon.image
    ids = []
    for wd in (runs / "index", runs / "pcp"):
        snakefile = (wd / "Snakefile").read_text()
        assert "container:" not in snakefile  # docker wraps each command, apptainer is Snakemake's
        tables = [json_text for f in sorted((wd / "jobs").glob("*.provenance.jsonl"))
                  for json_text in f.read_text().splitlines()]  # fmt: skip
        assert tables and all(f" {image} " in line for line in tables), (
            "a job runs outside the image"
        )
        # inside the container nothing names the host's install: its commands run from the image's PATH
        host_bin = os.path.dirname(sys.executable)
        assert all(host_bin not in line.split(f" {image} ", 1)[1] for line in tables)
        logs = [f for f in (wd / "logs").rglob("*.log") if f.parent != wd / "logs"]
        assert len(logs) == len(tables)
        for log in logs:
            found = ENTRY.findall(log.read_text())
            assert len(found) == 1, f"{log} does not record its container"
            cid, dockerenv, uid, gid = found[0]
            assert dockerenv == "yes" and (int(uid), int(gid)) == (os.getuid(), os.getgid())
            ids.append(cid)
    assert len(set(ids)) == len(ids)  # one container per job
    assert socket.gethostname() not in ids

    owner = (info.workspace_path.stat().st_uid, info.workspace_path.stat().st_gid)
    for root in (Path(info.workspace_path), runs):
        for f in root.rglob("*"):
            assert (f.lstat().st_uid, f.lstat().st_gid) == owner, (
                f"{f} is not owned by the workspace's owner"
            )
    assert cells(Path(info.workspace_path)).equals(tiny_local_cells)


def test_live_docker_compile_only_needs_no_docker(tiny_screen, tmp_path, monkeypatch):
    _, _, info = tiny_screen
    bin_dir = tmp_path / "bin"  # a PATH with a shell and the install, but no docker
    bin_dir.mkdir()
    for tool in ("sh", "bash", "env", "cat", "mkdir", "rm", "touch", "mv"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), str(bin_dir)]))
    assert shutil.which("docker") is None
    config = tmp_path / "screen.yaml"
    config.write_text(yaml.safe_dump({
        "workspace_path": str(tmp_path / "workspace"), "images_path": str(info.images_path),
        "scratch_path": str(tmp_path / "scratch"), "backend": {"container_runtime": "docker"},
        "experiment": {**INIT, "barcode_csv_path": str(info.barcode_csv)}}))  # fmt: skip
    from starrynight.cli import main

    result = CliRunner().invoke(
        main, ["run", "pcp-generic", "--config", str(config), "--compile-only"]
    )
    assert result.exit_code == 0, result.output
    snakefile = tmp_path / "scratch" / "runs" / "pcp-generic" / "Snakefile"
    assert snakefile.is_file() and (snakefile.parent / "jobs").is_dir()
    run = CliRunner().invoke(main, ["run", "pcp-generic", "--config", str(config)])
    assert run.exit_code != 0 and "Traceback" not in run.output
    assert "backend.container_runtime is 'docker' but `docker` is not on PATH" in run.output


def test_live_docker_apptainer_command_is_snakemakes_container_directive(tiny_screen, tmp_path):
    """Apptainer is not packaged for this Debian: its compiled form is checked as text."""
    import pipecraft as pc
    from starrynight.modules.base import DEFAULT_CONTAINER_IMAGE
    from starrynight.pipelines.pcp_generic import create_pcp_generic_pipeline

    data_config, experiment, _ = tiny_screen
    cfg = pc.SnakemakeBackendConfig(container_runtime="apptainer", cores=2)
    backend = pc.SnakemakeBackend(cfg)
    snakefile = backend.compile(
        create_pcp_generic_pipeline(data_config, experiment)[1], working_dir=tmp_path
    )
    text = snakefile.read_text()
    assert f"    container: {DEFAULT_CONTAINER_IMAGE!r}" in text.replace('"', "'")
    assert "docker run" not in text
    args = backend.snakemake_args(cfg, 10)
    assert args[args.index("--software-deployment-method") + 1] == "apptainer"
    assert "python3 -m pipecraft.provenance" in "".join(
        f.read_text() for f in (tmp_path / "jobs").glob("*.json"))  # fmt: skip


def test_live_docker_commands_bind_what_units_read_and_pin_no_host_install(tiny_screen, tmp_path):
    """String-level: no daemon needed; the live run above proves the same commands work."""
    import json

    import pipecraft as pc
    from starrynight.pipelines.pcp_generic import create_pcp_generic_pipeline

    data_config, experiment, _ = tiny_screen
    backend = pc.SnakemakeBackend(pc.SnakemakeBackendConfig(container_runtime="docker", cores=2))
    snakefile = backend.compile(
        create_pcp_generic_pipeline(data_config, experiment)[1], working_dir=tmp_path
    )
    # the host's bin folder goes first on PATH only where it exists
    assert "if os.path.isdir(_BIN) and" in snakefile.read_text()
    specs = [json.loads(line)["c"] for line in (tmp_path / "jobs" / "cp_illum_calc_invoke.provenance.jsonl")
             .read_text().splitlines()]  # fmt: skip
    images, workspace = str(data_config.images_path), str(data_config.workspace_path)
    for command in specs:
        assert f"-v {images}:{images}:ro" in command and f"-v {workspace}:{workspace}:ro" in command
        assert f"--user {os.getuid()}:{os.getgid()}" in command and "--network host" in command
        inside = command.split(" starrynight/starrynight:", 1)[1]
        assert os.path.dirname(sys.executable) not in inside
