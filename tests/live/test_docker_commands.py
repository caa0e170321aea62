"""Containers without a daemon: compiling a docker screen needs no Docker, and the compiled
commands bind what units read, run as the invoking user and name no host install. (A whole
screen on a live Docker daemon is not part of the suite yet.)"""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest
import yaml
from click.testing import CliRunner

from tests.live.conftest import INIT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docker")]

ENTRY = re.compile(
    r"^starrynight-container: id=([0-9a-f]{12}) dockerenv=(\w+) uid=(\d+) gid=(\d+)$", re.M
)


def test_docker_compile_only_needs_no_docker(tiny_screen, tmp_path, monkeypatch):
    _, _, info = tiny_screen
    bin_dir = tmp_path / "bin"  # a PATH with a shell and the install, but no docker
    bin_dir.mkdir()
    for tool in ("sh", "bash", "env", "cat", "mkdir", "rm", "touch", "mv", "which"):
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


def test_docker_apptainer_command_is_snakemakes_container_directive(tiny_screen, tmp_path):
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


def test_docker_commands_bind_what_units_read_and_pin_no_host_install(tiny_screen, tmp_path):
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
